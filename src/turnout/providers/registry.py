"""Provider kinds, as a table: the config's `kind:` names one row (see kind.py)."""

from __future__ import annotations

from turnout.config.model import ProviderConfig
from turnout.providers.anthropic import AnthropicProvider
from turnout.providers.azure import AZURE
from turnout.providers.base import Provider
from turnout.providers.bedrock import BEDROCK
from turnout.providers.gemini import GEMINI_KIND
from turnout.providers.kind import Kind
from turnout.providers.mock import MockProvider
from turnout.providers.openai import OpenAIProvider
from turnout.providers.transport import HttpTransport
from turnout.providers.vertex import VERTEX

KINDS: dict[str, Kind] = {
    "anthropic": Kind(AnthropicProvider, family="anthropic", prefill="anthropic"),
    "openai": Kind(OpenAIProvider, embeddings="openai"),
    "mock": Kind(
        lambda config, _transport: MockProvider(config), prefill="none", embeddings="mock"
    ),
    "azure": AZURE,
    "bedrock": BEDROCK,
    "vertex": VERTEX,
    "gemini": GEMINI_KIND,
}


def build_provider(config: ProviderConfig, transport: HttpTransport) -> Provider:
    return KINDS[config.kind].build(config, transport)
