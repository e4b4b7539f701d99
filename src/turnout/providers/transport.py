"""HTTP to upstreams over one shared aiohttp session, with its errors translated in one place.

aiohttp was chosen by measurement over httpx (see docs/performance.md). Its exceptions never
leave this module: each becomes an `UpstreamTransportError` whose text carries the words the
diagnosis rules know (refused, DNS, TLS, reset, timeout) and the target host.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import aiohttp
from yarl import URL

from turnout.config.model import Settings
from turnout.errors import (
    DeadlineMissed,
    ResponseRefused,
    UpstreamHTTPError,
    UpstreamTransportError,
)
from turnout.hops import outgoing_via
from turnout.providers.base import UpstreamResponse
from turnout.providers.bounded import ACCEPT_ENCODING, BoundedBody
from turnout.redaction import SecretMask, mask_shapes

#: Most specific first: (exception class, words for the diagnosis).
_TRANSPORT_ERRORS: tuple[tuple[type[BaseException], str], ...] = (
    (aiohttp.ClientConnectorCertificateError, "TLS certificate verify failed"),
    (aiohttp.ClientSSLError, "SSL error"),
    (aiohttp.ClientConnectorDNSError, "DNS failure: could not resolve host"),
    (aiohttp.ClientConnectorError, "connection refused"),
    (aiohttp.ServerTimeoutError, "read timeout"),
    (asyncio.TimeoutError, "read timeout"),
    (aiohttp.ServerDisconnectedError, "server disconnected"),
    (aiohttp.ClientPayloadError, "stream interrupted: incomplete chunked read"),
    (aiohttp.ClientOSError, "connection reset"),
    (aiohttp.ClientError, "connection error"),
)

#: How much of an error body is read: plenty for any diagnosis, little enough to mask cheaply.
ERROR_BODY_LIMIT = 64 * 1024
#: How much of a redirect's body is read (it is not used; the connection is only freed).
_REDIRECT_BODY_LIMIT = 4 * 1024


def transport_error(
    exc: BaseException, url: str, mask: SecretMask | None = None
) -> UpstreamTransportError:
    """The one translation of a client-library exception into turnout's tree."""
    words = next((w for kind, w in _TRANSPORT_ERRORS if isinstance(exc, kind)), None)
    detail = f"{type(exc).__name__}: {exc} calling {url}"
    if words is not None:
        detail = f"{words} ({type(exc).__name__}: {exc}) calling {url}"
    detail = mask.text(detail) if mask is not None else mask_shapes(detail)
    return UpstreamTransportError(detail, log=detail)


class HttpTransport:
    """A lazily created shared session: connection reuse is most of the gateway's speed.

    What comes back is bounded and masked here, once for every provider: redirects are never
    followed (a credential must not travel to wherever an upstream points), bodies are
    decompressed under a cap (`max_response_bytes`, `max_stream_bytes`), a whole response
    has a total deadline (`response_timeout_s`), and the configured secrets (`mask`) never
    leave in an error body, a header or an exception's text.
    """

    def __init__(self, mask: SecretMask | None = None) -> None:
        self._session: aiohttp.ClientSession | None = None
        self.mask = mask if mask is not None else SecretMask()

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60)
            # Decompression happens in `BoundedBody`, under the cap.
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        return self._session

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        settings: Settings,
        *,
        stream: bool = False,
        encoded: bool = False,
    ) -> UpstreamResponse:
        """Send one request. A stream's bytes are capped by `max_stream_bytes`; a whole
        response by `max_response_bytes` and `response_timeout_s` (from now to its last byte).
        `encoded`: the URL is sent byte for byte (a signed path's escapes must stay)."""
        loop = asyncio.get_running_loop()
        deadline = None if stream else loop.time() + settings.response_timeout_s
        response = await self._send(url, body, headers, settings, deadline, encoded)
        try:
            response_headers = {k.lower(): self.mask.values(v) for k, v in response.headers.items()}
            if 300 <= response.status < 400:
                raise await self._redirect(response, url, response_headers, deadline)
            if response.status >= 400:
                raise await self._error(response, url, response_headers, deadline)
            limit, setting = (
                (settings.max_stream_bytes, "max_stream_bytes")
                if stream
                else (settings.max_response_bytes, "max_response_bytes")
            )
            bounded = BoundedBody(response.headers.get("content-encoding", ""), limit, setting)
            bounded.check_announced(response.content_length)
        except BaseException:
            response.release()
            raise
        return UpstreamResponse(
            status=response.status,
            headers=response_headers,
            chunks=self._chunks(response, bounded, url, deadline, settings),
            close=_releaser(response),
            redact=self.mask.bytes,
        )

    async def _send(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        settings: Settings,
        deadline: float | None,
        encoded: bool = False,
    ) -> aiohttp.ClientResponse:
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout_s, sock_read=settings.read_timeout_s
        )
        wait = settings.headers_timeout_s
        if deadline is not None:
            wait = min(wait, settings.response_timeout_s)
        headers = {**headers, "accept-encoding": ACCEPT_ENCODING, "via": outgoing_via()}
        try:
            async with asyncio.timeout(wait):
                return await self.session().post(
                    URL(url, encoded=True) if encoded else url,
                    data=body,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=False,
                )
        except TimeoutError as exc:
            if not isinstance(exc, aiohttp.ServerTimeoutError):
                detail = self.mask.text(
                    f"read timeout: no response headers in {wait:g}s from {url}"
                )
                raise DeadlineMissed(detail, log=detail) from exc
            raise transport_error(exc, url, self.mask) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise transport_error(exc, url, self.mask) from exc

    async def _error(
        self,
        response: aiohttp.ClientResponse,
        url: str,
        headers: dict[str, str],
        deadline: float | None,
    ) -> UpstreamHTTPError:
        """The error as the provider said it, its first `ERROR_BODY_LIMIT` bytes, masked."""
        raw = await _read_some(response, ERROR_BODY_LIMIT, deadline)
        return UpstreamHTTPError(
            self.mask.text(f"HTTP {response.status} from {url}"),
            status=response.status,
            body=self.mask.text(raw.decode("utf-8", errors="replace")),
            headers={k: self.mask.text(v) for k, v in headers.items()},
        )

    async def _redirect(
        self,
        response: aiohttp.ClientResponse,
        url: str,
        headers: dict[str, str],
        deadline: float | None,
    ) -> ResponseRefused:
        """A redirect is an endpoint problem: following it would send the key elsewhere."""
        await _read_some(response, _REDIRECT_BODY_LIMIT, deadline)
        location = self.mask.text(headers.get("location", "nowhere"))
        body = self.mask.text(
            f"{url} answered {response.status} {response.reason or ''}, a redirect to "
            f"{location}; turnout does not follow redirects, so the credential stays with the "
            "configured endpoint: fix base_url"
        )
        return ResponseRefused(body, status=response.status, body=body, headers=headers)

    async def _chunks(
        self,
        response: aiohttp.ClientResponse,
        bounded: BoundedBody,
        url: str,
        deadline: float | None,
        settings: Settings,
    ) -> AsyncIterator[bytes]:
        try:
            while True:
                async with asyncio.timeout_at(deadline):
                    raw = await response.content.readany()
                if not raw:
                    return
                for piece in bounded.feed(raw):
                    yield piece
        except TimeoutError as exc:
            if deadline is not None and not isinstance(exc, aiohttp.ServerTimeoutError):
                detail = self.mask.text(
                    f"read timeout: the whole response did not arrive within "
                    f"{settings.response_timeout_s:g}s (response_timeout_s) from {url}"
                )
                raise DeadlineMissed(detail, log=detail) from exc
            raise transport_error(exc, url, self.mask) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise transport_error(exc, url, self.mask) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _releaser(response: aiohttp.ClientResponse) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        response.release()

    return close


async def _read_some(response: aiohttp.ClientResponse, limit: int, deadline: float | None) -> bytes:
    """Up to `limit` decoded bytes of a body that is not relayed, then the connection freed;
    what cannot be read (cut, silent, corrupt) is simply not there."""
    parts: list[bytes] = []
    size = 0
    try:
        bounded = BoundedBody(response.headers.get("content-encoding", ""), 1 << 62, "-")
        async with asyncio.timeout_at(deadline):
            while size < limit:
                raw = await response.content.read(limit)
                if not raw:
                    break
                for piece in bounded.feed(raw):
                    parts.append(piece[: limit - size])
                    size += len(parts[-1])
                    if size >= limit:
                        break
    except (TimeoutError, aiohttp.ClientError, OSError, ResponseRefused):
        pass
    finally:
        response.release()
    return b"".join(parts)
