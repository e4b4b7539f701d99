"""HTTP to upstreams over one shared aiohttp session, with its errors translated in one place.

aiohttp was chosen by measurement over httpx (see docs/performance.md). Its exceptions never
leave this module: each becomes an `UpstreamTransportError` whose text carries the words the
diagnosis rules know (refused, DNS, TLS, reset, timeout) and the target host.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import aiohttp

from turnout.config.model import Settings
from turnout.errors import DeadlineMissed, UpstreamHTTPError, UpstreamTransportError
from turnout.providers.base import UpstreamResponse

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

_ERROR_BODY_LIMIT = 1 << 20


def transport_error(exc: BaseException, url: str) -> UpstreamTransportError:
    """The one translation of a client-library exception into turnout's tree."""
    for kind, words in _TRANSPORT_ERRORS:
        if isinstance(exc, kind):
            detail = f"{words} ({type(exc).__name__}: {exc}) calling {url}"
            return UpstreamTransportError(detail, log=detail)
    detail = f"{type(exc).__name__}: {exc} calling {url}"
    return UpstreamTransportError(detail, log=detail)


class HttpTransport:
    """A lazily created shared session: connection reuse is most of the gateway's speed."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
        return self._session

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], settings: Settings
    ) -> UpstreamResponse:
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout_s, sock_read=settings.read_timeout_s
        )
        try:
            async with asyncio.timeout(settings.headers_timeout_s):
                response = await self.session().post(
                    url, data=body, headers=dict(headers), timeout=timeout
                )
        except TimeoutError as exc:
            if not isinstance(exc, aiohttp.ServerTimeoutError):
                detail = f"read timeout: no response headers in {settings.headers_timeout_s:g}s"
                raise DeadlineMissed(f"{detail} from {url}", log=f"{detail} from {url}") from exc
            raise transport_error(exc, url) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise transport_error(exc, url) from exc
        if response.status >= 400:
            try:
                raw = await response.content.read(_ERROR_BODY_LIMIT)
            except (TimeoutError, aiohttp.ClientError, OSError):
                raw = b""
            finally:
                response.release()
            raise UpstreamHTTPError(
                f"HTTP {response.status} from {url}",
                status=response.status,
                body=raw.decode("utf-8", errors="replace"),
                headers={k.lower(): v for k, v in response.headers.items()},
            )

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.content.iter_any():
                    yield chunk
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise transport_error(exc, url) from exc

        async def close() -> None:
            response.release()

        return UpstreamResponse(
            status=response.status,
            headers={k.lower(): v for k, v in response.headers.items()},
            chunks=chunks(),
            close=close,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
