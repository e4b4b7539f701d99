"""Any OpenAI-compatible endpoint: `POST {base_url}/chat/completions` with a bearer key."""

from __future__ import annotations

from turnout.config.model import ProviderConfig
from turnout.errors import UpstreamHTTPError
from turnout.providers.base import UpstreamCall, UpstreamResponse
from turnout.providers.transport import HttpTransport


class OpenAIProvider:
    dialect = "openai"

    def __init__(self, config: ProviderConfig, transport: HttpTransport) -> None:
        self.config = config
        self._transport = transport
        self._url = f"{config.base_url}/chat/completions"
        headers = {"content-type": "application/json", **config.headers}
        if config.api_key:
            headers["authorization"] = f"Bearer {config.api_key.value}"
        self._headers = headers

    async def open(self, call: UpstreamCall) -> UpstreamResponse:
        if call.operation != "chat":
            raise UpstreamHTTPError(
                f"{call.operation} is not offered by OpenAI-compatible providers",
                status=404,
                body='{"error":{"message":"Invalid URL: endpoint not offered"}}',
            )
        headers = self._headers
        if call.stream:
            headers = {**headers, "accept": "text/event-stream"}
        return await self._transport.post(
            self._url, call.body, headers, call.settings, stream=call.stream
        )

    async def aclose(self) -> None:
        """The shared transport is closed by its owner."""
