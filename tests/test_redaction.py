"""Masking credentials: the configured secrets by value, known credential shapes as a second net."""

from __future__ import annotations

import io
import json
import logging

import pytest

from turnout.redaction import SecretMask, mask_shapes
from turnout.runtime.configs import load_config_text
from turnout.telemetry.logs import JsonFormatter, setup_logging

SHAPES = [
    ("sk-proj-3fJ9kL2mN8pQ4rS7tV1wX5yZ0aB6", "sk-proj"),
    ("sk-ant-api03-Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1", "sk-ant"),
    ("AIzaSyD3f9Qk2Lm8Np4Rs7Tv1Wx5Yz0Ab6Cd9Ef", "AIza"),
    ("AKIAIOSFODNN7EXAMPLE", "AKIAIO"),
    ("ghp_16C7e42F292c6912E7710c838347Ae178B4a", "ghp_"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_pat_"),
    ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp", "xoxb-"),
    ("hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345", "hf_"),
    ("gsk_AbCdEfGhIjKlMnOpQrStUvWxYz012345", "gsk_"),
    (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "eyJ",
    ),
]


@pytest.mark.parametrize(("secret", "kept"), SHAPES)
def test_a_known_credential_shape_is_masked_with_its_prefix_kept(secret: str, kept: str) -> None:
    masked = mask_shapes(f'{{"error": "invalid key {secret} provided"}}')
    assert secret not in masked
    assert f"{kept}" in masked
    assert "****" in masked


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer abc.def-123456789",
        'x-api-key: "abcdef1234567890"',
        "GET /v1beta/models/gemini:generateContent?key=abcdef1234567890&alt=sse",
        "redis://default:hunter2-very-secret@cache.internal:6379/0",
    ],
)
def test_credentials_in_headers_and_urls_are_masked(text: str) -> None:
    masked = mask_shapes(text)
    assert "****" in masked
    assert not any(part in masked for part in ("abc.def-123456789", "abcdef1234567890", "hunter2"))


@pytest.mark.parametrize(
    "text",
    [
        "the task-force met; the risk-free rate rose",
        "max_tokens must be less than 4096",
        "see https://docs.example.com/errors for details",
        "Asia/Shanghai is the time zone",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_shapes(text) == text


def test_a_configured_secret_of_any_shape_is_masked_by_value_in_text_and_bytes() -> None:
    mask = SecretMask(["relay-7Hq2Zp9WcX4mVb8NtY3kLs6D", 'quote"and/slash-secret'])
    text = mask.text("key relay-7Hq2Zp9WcX4mVb8NtY3kLs6D was refused")
    assert text == "key rela**** was refused"
    body = b'{"echo": "quote\\"and/slash-secret", "k": "relay-7Hq2Zp9WcX4mVb8NtY3kLs6D"}'
    masked = mask.bytes(body)
    assert json.loads(masked) == {"echo": "quot****", "k": "rela****"}
    clean = b'{"choices": []}'
    assert mask.bytes(clean) is clean  # nothing leaked: nothing copied


def test_short_values_are_not_masked_by_value() -> None:
    # A three-letter "key" would mask ordinary words everywhere.
    assert SecretMask(["abc"]).text("abc def") == "abc def"


def test_a_config_lists_every_credential_it_holds() -> None:
    config = load_config_text(
        """
providers:
  relay:
    kind: openai
    base_url: https://relay.example/v1
    api_key: ${RELAY}
    headers: {api-key: "${AZURE}", x-title: turnout}
routes: {m: [relay/x]}
server: {keys: ["${GW}"], admin_key: "${ADMIN}"}
state: redis://default:${REDIS_PW}@cache:6379/0
""",
        "<test>",
        {
            "RELAY": "relay-key-1234567890",
            "AZURE": "azure-key-1234567890",
            "GW": "tk-gateway-1234567890",
            "ADMIN": "tk-admin-1234567890",
            "REDIS_PW": "redis-password-123",
        },
    )
    assert set(config.secrets()) == {
        "relay-key-1234567890",
        "azure-key-1234567890",
        "tk-gateway-1234567890",
        "tk-admin-1234567890",
        "redis-password-123",
    }


def test_logs_mask_the_configured_secrets_by_value() -> None:
    stream = io.StringIO()
    handler = setup_logging("info", stream, mask=SecretMask(["relay-7Hq2Zp9WcX4mVb8NtY3kLs6D"]))
    try:
        assert isinstance(handler.formatter, JsonFormatter)
        try:
            raise ValueError("upstream echoed relay-7Hq2Zp9WcX4mVb8NtY3kLs6D")
        except ValueError:
            logging.getLogger("turnout.test").exception(
                "call failed: %s", "relay-7Hq2Zp9W" + "cX4mVb8NtY3kLs6D"
            )
    finally:
        logging.getLogger().removeHandler(handler)
    line = stream.getvalue()
    assert "relay-7Hq2Zp9WcX4mVb8NtY3kLs6D" not in line
    assert "rela****" in json.loads(line)["message"]
