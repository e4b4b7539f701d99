"""Google OAuth access tokens for Vertex AI, through google-auth (the `turnout[gcp]` extra).

Credentials come from a service-account file (`credentials_file:`) or Application Default
Credentials (GOOGLE_APPLICATION_CREDENTIALS, then gcloud's ADC file). `BearerRefresher`
(tokens.py) renews the token before it expires.
"""

from __future__ import annotations

import datetime
from typing import Any

import orjson

from turnout.errors import UpstreamHTTPError
from turnout.providers.tokens import http_request

SCOPE = "https://www.googleapis.com/auth/cloud-platform"


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
                return http_request(url, method, body, headers, timeout)

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
