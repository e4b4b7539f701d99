"""Microsoft Entra ID access tokens for Azure OpenAI, by the client-credentials grant.

`POST {authority}/{tenant}/oauth2/v2.0/token` with the app's `client_id` and `client_secret`
and the scope `https://cognitiveservices.azure.com/.default` answers an access token and its
lifetime in seconds (`expires_in`). No library is needed: the grant is one form post.
`BearerRefresher` (tokens.py) renews the token before it expires.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

import orjson

from turnout.errors import UpstreamHTTPError, UpstreamTransportError
from turnout.providers.tokens import http_request

AUTHORITY = "https://login.microsoftonline.com"
SCOPE = "https://cognitiveservices.azure.com/.default"


class EntraClientCredentials:
    """A token source: the app registration's client secret, exchanged for access tokens."""

    def __init__(self, authority: str, tenant: str, client_id: str, client_secret: str) -> None:
        self.url = f"{authority.rstrip('/')}/{quote(tenant, safe='')}/oauth2/v2.0/token"
        self._form = urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
                "scope": SCOPE,
            }
        ).encode()
        self._secret = client_secret

    def fetch(self) -> tuple[str, float]:
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "accept": "application/json",
        }
        try:
            answer = http_request(self.url, "POST", self._form, headers)
        except OSError as exc:  # no answer at all: the endpoint is unreachable, try again later
            message = self._hidden(f"Entra ID token endpoint {self.url} did not answer: {exc}")
            raise UpstreamTransportError(message, log=message) from exc
        try:
            data = orjson.loads(answer.data)
        except orjson.JSONDecodeError:
            data = None
        if answer.status == 200 and isinstance(data, dict) and data.get("access_token"):
            return str(data["access_token"]), float(data.get("expires_in", 3600))
        detail = None
        if isinstance(data, dict):
            detail = data.get("error_description") or data.get("error")
        text = str(detail or answer.data[:500].decode(errors="replace")).split("\r\n")[0]
        message = self._hidden(f"Entra ID gave no access token (HTTP {answer.status}): {text}")
        # A refused grant (bad secret, client or tenant) is the path's credential failing; an
        # outage of the token endpoint keeps its own status, transient as it is.
        status = answer.status if answer.status >= 500 else 401
        body = orjson.dumps({"error": {"code": str(status), "message": message}}).decode()
        raise UpstreamHTTPError(message, status=status, body=body, log=message)

    def _hidden(self, text: str) -> str:
        """`text` with the client secret taken out, should any answer ever echo it."""
        return text.replace(self._secret, "***")
