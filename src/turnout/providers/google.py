"""Google OAuth access tokens for Vertex AI, through google-auth (the `turnout[gcp]` extra).

Credentials come from a service-account file (`credentials_file:`) or Application Default
Credentials (GOOGLE_APPLICATION_CREDENTIALS, then gcloud's ADC file). A token is refreshed
`REFRESH_MARGIN_S` before it expires, once for all the calls waiting on it: a burst of
requests at expiry makes one token request, not one each.
"""

from __future__ import annotations

import asyncio
import datetime
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson

from turnout.errors import UpstreamHTTPError
from turnout.providers.seam import Outgoing
from turnout.redaction import SecretMask

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
REFRESH_MARGIN_S = 300.0
_TOKEN_TIMEOUT_S = 30.0


class TokenSource(Protocol):
    def fetch(self) -> tuple[str, float]:
        """A fresh token and how many seconds it stays valid (blocking: run off the loop)."""
        ...


class _Response:
    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self.status = status
        self.headers = dict(headers)
        self.data = data


def _http(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    **_: Any,
) -> _Response:
    """google-auth's transport, on the standard library (no extra HTTP client to install)."""
    request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout or _TOKEN_TIMEOUT_S) as answer:
            return _Response(answer.status, dict(answer.headers.items()), answer.read(1 << 20))
    except urllib.error.HTTPError as exc:
        return _Response(exc.code, dict(exc.headers.items()), exc.read(1 << 20))


class GoogleCredentials:
    """A service-account file, or Application Default Credentials when none is given."""

    def __init__(self, credentials_file: str | None) -> None:
        self.credentials_file = credentials_file
        self._credentials: Any = None

    def _load(self) -> Any:
        if self.credentials_file:
            from google.oauth2 import service_account

            return service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                self.credentials_file, scopes=[SCOPE]
            )
        import google.auth

        credentials, _project = google.auth.default(scopes=[SCOPE])
        return credentials

    def fetch(self) -> tuple[str, float]:
        from google.auth.transport import Request

        class _Transport(Request):
            def __call__(
                self,
                url: Any,
                method: Any = "GET",
                body: Any = None,
                headers: Any = None,
                timeout: Any = None,
                **kwargs: Any,
            ) -> Any:
                return _http(url, method, body, headers, timeout)

        from google.auth.exceptions import GoogleAuthError

        try:
            if self._credentials is None:
                self._credentials = self._load()
            self._credentials.refresh(_Transport())
        except (GoogleAuthError, OSError, ValueError) as exc:
            message = f"Google credentials could not give an access token: {exc}"
            raise UpstreamHTTPError(
                message,
                status=401,
                body=orjson.dumps({"error": {"code": 401, "message": message}}).decode(),
                log=message,
            ) from exc
        expiry = self._credentials.expiry
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        valid_s = (expiry - now).total_seconds() if expiry is not None else 3600.0
        return str(self._credentials.token), valid_s


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
