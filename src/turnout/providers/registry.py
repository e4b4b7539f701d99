"""Provider kinds, as a table: the config's `kind:` names one of these."""

from __future__ import annotations

from collections.abc import Callable

from turnout.config.model import ProviderConfig
from turnout.providers.anthropic import AnthropicProvider
from turnout.providers.base import Provider
from turnout.providers.mock import MockProvider
from turnout.providers.openai import OpenAIProvider
from turnout.providers.transport import HttpTransport

KINDS: dict[str, Callable[[ProviderConfig, HttpTransport], Provider]] = {
    "anthropic": AnthropicProvider,
    "openai": OpenAIProvider,
    "mock": lambda config, _transport: MockProvider(config),
}


def build_provider(config: ProviderConfig, transport: HttpTransport) -> Provider:
    return KINDS[config.kind](config, transport)
