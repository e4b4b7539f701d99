"""Bearer tokens that expire, renewed before they do: the auth strategy of every kind whose
credential is exchanged for a short-lived token (Google OAuth for Vertex AI, Entra ID for
Azure OpenAI).

A `TokenSource` fetches a fresh token (blocking: it runs off the event loop); the
`BearerRefresher` keeps the current one and renews it `REFRESH_MARGIN_S` before it expires,
once for all the calls waiting on it: a burst of requests at expiry makes one token request,
not one each.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from turnout.providers.seam import Outgoing
from turnout.redaction import SecretMask

REFRESH_MARGIN_S = 300.0
TOKEN_TIMEOUT_S = 30.0


class TokenSource(Protocol):
    def fetch(self) -> tuple[str, float]:
        """A fresh token and how many seconds it stays valid (blocking: run off the loop)."""
        ...


class HttpAnswer:
    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self.status = status
        self.headers = dict(headers)
        self.data = data


def http_request(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    **_: Any,
) -> HttpAnswer:
    """A token endpoint's answer, on the standard library (no extra HTTP client to install);
    an HTTP error status is an answer too."""
    request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout or TOKEN_TIMEOUT_S) as answer:
            return HttpAnswer(answer.status, dict(answer.headers.items()), answer.read(1 << 20))
    except urllib.error.HTTPError as exc:
        with exc:
            return HttpAnswer(exc.code, dict(exc.headers.items()), exc.read(1 << 20))


class BearerRefresher:
    """An auth strategy: `Authorization: Bearer <token>`, the token renewed before it expires."""

    def __init__(
        self,
        source: TokenSource,
        mask: SecretMask,
        clock: Callable[[], float] = time.monotonic,
        margin_s: float = REFRESH_MARGIN_S,
    ) -> None:
        self._source = source
        self._mask = mask
        self._clock = clock
        self._margin_s = margin_s
        self._token = ""
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        self.refreshes = 0

    async def token(self) -> str:
        if self._token and self._clock() < self._renew_at:
            return self._token
        async with self._lock:
            if not self._token or self._clock() >= self._renew_at:  # not renewed meanwhile
                token, valid_s = await asyncio.to_thread(self._source.fetch)
                self._mask.learn([token])
                self._token = token
                # A token valid for less than twice the margin is renewed at half its life.
                self._renew_at = self._clock() + max(valid_s - self._margin_s, valid_s / 2)
                self.refreshes += 1
        return self._token

    async def sign(self, request: Outgoing) -> None:
        request.headers["authorization"] = f"Bearer {await self.token()}"
