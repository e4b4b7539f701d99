"""The provider protocol: open one call, get a response whose body can be read or streamed.

A provider raises `UpstreamHTTPError` for an error status (with the body read) and
`UpstreamTransportError` when the server cannot be reached or goes silent. Everything else
about routing (retries, failover, health) is the router's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from turnout.config.model import ProviderConfig, Settings


@dataclass(frozen=True, slots=True)
class ClientCredential:
    """The credential a client sent (`header` is `authorization` or `x-api-key`, `value` as
    sent), for a provider that forwards it. `digest` names it in gates, headroom and the
    ledger; the value itself is never shown by repr, stored or logged."""

    header: str
    value: str = field(repr=False)
    digest: str

    def __str__(self) -> str:
        return f"client credential {self.digest}"


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """One request to send: already in the provider's dialect, model name already set."""

    operation: str  # "chat" | "count_tokens" | "embeddings"
    dialect: str  # wire format of `body`
    body: bytes
    model: str
    stream: bool
    settings: Settings
    client_headers: Mapping[str, str] = field(default_factory=dict)  # forwardable, lower-case
    credential: ClientCredential | None = None  # the client's own, for `api_key: client`
    #: A continuation's prefill style (routing/prefill.py): a provider may serve one elsewhere.
    prefill: str | None = None


def _unchanged(data: bytes) -> bytes:
    return data


@dataclass(slots=True)
class UpstreamResponse:
    """A response with its headers read. `chunks` are the body's bytes (decoded, within the
    transport's caps); `redact` masks the configured secrets in a whole body or one event,
    which is where a secret cannot be split across pieces."""

    status: int
    headers: dict[str, str]  # lower-case names
    chunks: AsyncIterator[bytes]
    close: Callable[[], Awaitable[None]]
    redact: Callable[[bytes], bytes] = _unchanged

    async def read(self) -> bytes:
        """The whole body, with the configured secrets masked."""
        try:
            return self.redact(b"".join([chunk async for chunk in self.chunks]))
        finally:
            await self.close()


class Provider(Protocol):
    config: ProviderConfig
    #: The wire format this provider speaks; "any" answers in the caller's (the mock).
    dialect: str
    #: What it can be asked besides chat ("count_tokens", "embeddings").
    operations: frozenset[str]

    def dialect_for(self, model: str) -> str:
        """The wire it speaks for this model: `dialect`, unless one kind serves several
        vendors' models, each in its own wire (Vertex AI, Bedrock)."""
        ...

    async def open(self, call: UpstreamCall) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...
