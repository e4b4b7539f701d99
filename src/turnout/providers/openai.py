"""Any OpenAI-compatible endpoint with a bearer key: `POST {base_url}/chat/completions`, or
`POST {base_url}/responses` for a path whose config says `wire: responses`; embeddings at
`POST {base_url}/embeddings` either way."""

from __future__ import annotations

from turnout.config.model import ProviderConfig
from turnout.errors import UpstreamHTTPError
from turnout.providers.base import UpstreamCall, UpstreamResponse
from turnout.providers.seam import Auth, HttpProvider, StaticHeaders
from turnout.providers.transport import HttpTransport

#: The endpoint of each wire an OpenAI-compatible server may speak.
ENDPOINTS = {"openai": "/chat/completions", "responses": "/responses"}


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
        return self._url

    async def open(self, call: UpstreamCall) -> UpstreamResponse:
        if call.operation not in self.operations:
            raise not_offered(call, "OpenAI-compatible providers")
        return await super().open(call)
