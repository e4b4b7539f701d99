"""Any OpenAI-compatible endpoint with a bearer key: `POST {base_url}/chat/completions`, or
`POST {base_url}/responses` for a path whose config says `wire: responses`; embeddings at
`POST {base_url}/embeddings` either way. A continuation in DeepSeek's style goes to the
`/beta` base DeepSeek serves prefix completion on (see `prefix_completion_base`)."""

from __future__ import annotations

import re

from turnout.config.model import ProviderConfig
from turnout.errors import UpstreamHTTPError
from turnout.providers.base import UpstreamCall, UpstreamResponse
from turnout.providers.seam import Auth, HttpProvider, StaticHeaders
from turnout.providers.transport import HttpTransport

#: The endpoint of each wire an OpenAI-compatible server may speak.
ENDPOINTS = {"openai": "/chat/completions", "responses": "/responses"}
#: A base URL's trailing API version (`/v1`), which DeepSeek's beta base takes the place of.
_VERSION = re.compile(r"/v\d+$")


def prefix_completion_base(base_url: str) -> str:
    """Where DeepSeek continues a final assistant message (`"prefix": true`): its chat
    prefix completion is a beta feature, served only under `https://api.deepseek.com/beta`.
    The path's own base with its version segment made `/beta` (kept if already there), so
    one configured path serves both its answers and its continuations."""
    base = base_url.rstrip("/")
    if base.endswith("/beta"):
        return base
    return f"{_VERSION.sub('', base)}/beta"


def not_offered(call: UpstreamCall, what: str) -> UpstreamHTTPError:
    """An operation the wire has no endpoint for, as such an endpoint would answer."""
    return UpstreamHTTPError(
        f"{call.operation} is not offered by {what}",
        status=404,
        body='{"error":{"message":"Invalid URL: endpoint not offered"}}',
    )


class OpenAIProvider(HttpProvider):
    dialect = "openai"
    operations = frozenset({"chat", "embeddings"})

    def __init__(
        self, config: ProviderConfig, transport: HttpTransport, auth: Auth | None = None
    ) -> None:
        if auth is None:
            key = config.api_key.value if config.api_key else ""
            auth = StaticHeaders({"authorization": f"Bearer {key}"} if key else {})
        super().__init__(config, transport, auth)
        self.dialect = config.wire if config.wire in ENDPOINTS else "openai"
        self._url = f"{config.base_url}{ENDPOINTS[self.dialect]}"

    def url_for(self, call: UpstreamCall) -> str:
        if call.operation == "embeddings":
            return f"{self.config.base_url}/embeddings"
        if call.prefill == "deepseek" and call.dialect == "openai":
            return f"{prefix_completion_base(self.config.base_url)}/chat/completions"
        return self._url

    async def open(self, call: UpstreamCall) -> UpstreamResponse:
        if call.operation not in self.operations:
            raise not_offered(call, "OpenAI-compatible providers")
        return await super().open(call)
