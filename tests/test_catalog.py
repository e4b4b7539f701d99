"""The packaged catalog reads a cloud's spelling of a vendor's model as the vendor's own id:
Bedrock ids and inference profiles, Vertex AI's `@version`, OpenRouter's vendor prefix."""

from __future__ import annotations

import pytest

from turnout.catalog import Price, context_window, price_of
from turnout.catalog.names import catalog_name

SONNET = Price(3.0, 15.0, 0.3)
HAIKU = Price(1.0, 5.0, 0.1)
OPUS_4_5 = Price(5.0, 25.0, 0.5)
OPUS_4_1 = Price(15.0, 75.0, 1.5)


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("claude-sonnet-4-5-20250929", SONNET),
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", SONNET),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", SONNET),
        ("eu.anthropic.claude-sonnet-4-20250514-v1:0", SONNET),
        ("apac.anthropic.claude-sonnet-4-20250514-v1:0", SONNET),
        ("global.anthropic.claude-haiku-4-5-20251001-v1:0", HAIKU),
        ("jp.anthropic.claude-haiku-4-5-20251001-v1:0", HAIKU),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            HAIKU,
        ),
        ("claude-sonnet-4-5@20250929", SONNET),
        ("claude-haiku-4-5@20251001", HAIKU),
        ("claude-opus-4-5@20251101", OPUS_4_5),
        ("global.anthropic.claude-opus-4-5-20251101-v1:0", OPUS_4_5),
        ("claude-opus-4-6", OPUS_4_5),
        ("claude-opus-4-1@20250805", OPUS_4_1),
        ("us.anthropic.claude-opus-4-20250514-v1:0", OPUS_4_1),
        ("anthropic/claude-sonnet-4.5", SONNET),
        ("gemini-2.5-pro", Price(1.25, 10.0, 0.125)),
        ("gemini-2.5-flash", Price(0.3, 2.5, 0.03)),
        ("gemini-2.5-flash-lite", Price(0.1, 0.4, 0.01)),
        ("models/gemini-2.5-flash-lite", Price(0.1, 0.4, 0.01)),
        ("publishers/google/models/gemini-2.5-pro", Price(1.25, 10.0, 0.125)),
        ("gemini-3-pro-preview", Price(2.0, 12.0, 0.2)),
    ],
)
def test_each_spelling_of_a_model_has_the_vendors_price(model: str, price: Price) -> None:
    assert price_of(model) == price


@pytest.mark.parametrize(
    ("model", "window"),
    [
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 200000),
        ("claude-sonnet-4-5@20250929", 200000),
        ("gemini-2.5-pro", 1048576),
        ("gemini-2.5-flash-lite", 1048576),
        ("gemini-3-pro-preview", 1048576),
        ("publishers/google/models/gemini-2.5-flash", 1048576),
        ("gpt-4.1-mini", 1047576),
    ],
)
def test_each_spelling_of_a_model_has_the_vendors_window(model: str, window: int) -> None:
    assert context_window(model) == window


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("us.meta.llama3-3-70b-instruct-v1:0", "llama3-3-70b-instruct"),
        ("mistral.mistral-large-2402-v1:0", "mistral-large-2402"),
        # Dotted versions in a plain name are part of the name, not a Bedrock vendor prefix.
        ("gpt-4.1-mini", "gpt-4.1-mini"),
        ("qwen2.5-coder:7b", "qwen2.5-coder:7b"),
        ("llama3.2:1", "llama3.2:1"),
        ("claude-3.5-sonnet", "claude-3.5-sonnet"),
        ("kimi-k2.5", "kimi-k2.5"),
        ("Gemini-2.5-Pro", "gemini-2.5-pro"),
    ],
)
def test_catalog_name(model: str, name: str) -> None:
    assert catalog_name(model) == name


def test_an_unknown_model_stays_unpriced_and_a_configured_price_wins() -> None:
    assert price_of("us.meta.llama3-3-70b-instruct-v1:0") is None
    assert price_of("llama3.2") is None
    mine = Price(2.0, 2.0, 2.0)
    # A configured pattern may name the cloud's id or the vendor's.
    assert (
        price_of("us.anthropic.claude-sonnet-4-5-20250929-v1:0", {"us.anthropic.*": mine}) == mine
    )
    assert price_of("claude-sonnet-4-5@20250929", {"claude-sonnet-4-5-2025*": mine}) == mine
