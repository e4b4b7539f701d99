"""What a provider kind is, as one table row (the rows are in registry.py).

A row says everything the rest of the gateway needs to know about a kind: how to build it,
which keys of its own it takes and how they are checked (so `config check` refuses a wrong
region or a missing extra), the base URL when none is given, the provider family the
diagnosis reads its errors as, and how it continues a broken answer.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from turnout.config.load import At, ConfigError, label
from turnout.config.model import ProviderConfig
from turnout.providers.base import Provider
from turnout.providers.transport import HttpTransport

#: A kind's own keys, checked: (provider table, environment, key path) -> options.
OptionsParser = Callable[[Mapping[str, Any], Mapping[str, str], At], dict[str, Any]]


def no_auth_name(config: ProviderConfig) -> str | None:
    return None


def no_options(table: Mapping[str, Any], env: Mapping[str, str], at: At) -> dict[str, Any]:
    return {}


@dataclass(frozen=True, slots=True)
class Kind:
    build: Callable[[ProviderConfig, HttpTransport], Provider]
    keys: frozenset[str] = frozenset()  # provider keys only this kind takes
    options: OptionsParser = no_options
    #: The base URL from the options when the config gives none; None: base_url is required.
    default_base_url: Callable[[Mapping[str, Any]], str] | None = None
    family: str | None = None  # how the diagnosis reads this kind's errors
    #: How it continues a broken answer under `prefill: auto`; None: read by the host.
    prefill: str | None = None
    #: The wire its embeddings answer in ("openai": OpenAI's `/embeddings` shape); None: the
    #: kind has no embeddings API. Paths of one wire and one model give the same vectors.
    embeddings: str | None = None
    #: How a path of this kind authenticates, named without the credential (`turnout doctor`
    #: shows it); None: read from its api_key and headers.
    auth_name: Callable[[ProviderConfig], str | None] = no_auth_name


def require_extra(module: str, extra: str, kind: str, at: At) -> None:
    """Refuse a kind whose optional library is not installed, naming the install command."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"{label((*at, 'kind'))} is {kind}, which needs the {module} library "
            "and it is not installed",
            f"pip install 'turnout[{extra}]'",
            at=(*at, "kind"),
        ) from exc
