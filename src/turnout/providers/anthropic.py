"""Anthropic's Messages API, with an API key or a subscription (OAuth) token."""

from __future__ import annotations

from turnout.config.model import ProviderConfig
from turnout.providers.base import UpstreamCall, UpstreamResponse
from turnout.providers.transport import HttpTransport

API_VERSION = "2023-06-01"
OAUTH_BETA = "oauth-2025-04-20"
#: Client headers worth passing on: they change what the API accepts.
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")


def is_oauth_token(key: str) -> bool:
    """Subscription logins hand out `sk-ant-oat...` tokens, sent as bearer tokens."""
    return key.startswith("sk-ant-oat")


class AnthropicProvider:
    dialect = "anthropic"

    def __init__(self, config: ProviderConfig, transport: HttpTransport) -> None:
        self.config = config
        self._transport = transport
        base = config.base_url
        self._url = f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"
        self._headers = {"content-type": "application/json", **config.headers}
        key = config.api_key.value if config.api_key else ""
        self._oauth = is_oauth_token(key)
        if self._oauth:
            self._headers["authorization"] = f"Bearer {key}"
        elif key:
            self._headers["x-api-key"] = key

    def _headers_for(self, call: UpstreamCall) -> dict[str, str]:
        headers = dict(self._headers)
        for name in FORWARDED_HEADERS:
            if name in call.client_headers:
                headers[name] = call.client_headers[name]
        headers.setdefault("anthropic-version", API_VERSION)
        if self._oauth:
            betas = [b for b in headers.get("anthropic-beta", "").split(",") if b.strip()]
            if OAUTH_BETA not in betas:
                headers["anthropic-beta"] = ",".join([*betas, OAUTH_BETA])
        if call.stream:
            headers["accept"] = "text/event-stream"
        return headers

    async def open(self, call: UpstreamCall) -> UpstreamResponse:
        url = self._url + ("/count_tokens" if call.operation == "count_tokens" else "")
        return await self._transport.post(
            url, call.body, self._headers_for(call), call.settings, stream=call.stream
        )

    async def aclose(self) -> None:
        """The shared transport is closed by its owner."""
