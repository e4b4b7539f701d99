"""The provider seam: every HTTP kind is a URL per call, a body per call, an auth strategy
and a framing, so a new kind says only what differs.

Auth runs last, on the final URL, headers and body: a signature (AWS SigV4) covers the exact
bytes sent, and a strategy whose credential expires refreshes itself before it signs.
Framing turns what the upstream streams into the SSE events the relay reads (a provider
whose wire is SSE already passes it through).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from turnout.config.model import ProviderConfig
from turnout.providers.base import UpstreamCall, UpstreamResponse
from turnout.providers.transport import HttpTransport


@dataclass(slots=True)
class Outgoing:
    """One request as it will be sent; auth may add headers (never change the body)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


class Auth(Protocol):
    async def sign(self, request: Outgoing) -> None:
        """Add this credential to `request` (refreshing it first if it is about to expire)."""
        ...


class StaticHeaders:
    """A credential that never changes: a bearer token, `x-api-key`, Azure's `api-key`."""

    __slots__ = ("_headers",)

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    async def sign(self, request: Outgoing) -> None:
        request.headers.update(self._headers)


NO_AUTH = StaticHeaders({})


class HttpProvider:
    """The shared `open`: build, sign, send, frame. Subclasses give `url_for` (and, when
    their wire differs from the caller's body, `body_for` and `headers_for`)."""

    dialect: str = "anthropic"
    #: What it can be asked besides chat ("count_tokens", "embeddings").
    operations: frozenset[str] = frozenset({"chat"})
    #: The URL is sent exactly as built (its escapes are part of a signature).
    encoded_url: bool = False

    def __init__(self, config: ProviderConfig, transport: HttpTransport, auth: Auth) -> None:
        self.config = config
        self._transport = transport
        self.auth = auth

    def dialect_for(self, model: str) -> str:
        return self.dialect

    def url_for(self, call: UpstreamCall) -> str:
        raise NotImplementedError

    def body_for(self, call: UpstreamCall) -> bytes:
        return call.body

    def frame(self, response: UpstreamResponse, call: UpstreamCall) -> UpstreamResponse:
        """A stream as SSE bytes; the upstream's stream is SSE already unless overridden."""
        return response

    def headers_for(self, call: UpstreamCall) -> dict[str, str]:
        headers = {"content-type": "application/json", **self.config.headers}
        if call.credential is not None:
            # `api_key: client`: the client's own credential, in the header it came in, as sent.
            headers[call.credential.header] = call.credential.value
        if call.stream:
            headers["accept"] = "text/event-stream"
        return headers

    async def open(self, call: UpstreamCall) -> UpstreamResponse:
        request = Outgoing("POST", self.url_for(call), self.headers_for(call), self.body_for(call))
        await self.auth.sign(request)
        response = await self._transport.post(
            request.url,
            request.body,
            request.headers,
            call.settings,
            stream=call.stream,
            encoded=self.encoded_url,
        )
        return self.frame(response, call) if call.stream else response

    async def aclose(self) -> None:
        """The shared transport is closed by its owner."""
