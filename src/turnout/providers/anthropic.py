"""Anthropic's Messages API, with an API key or a subscription (OAuth) token."""

from __future__ import annotations

from turnout.config.model import ProviderConfig
from turnout.providers.base import UpstreamCall
from turnout.providers.seam import HttpProvider, StaticHeaders
from turnout.providers.transport import HttpTransport

API_VERSION = "2023-06-01"
OAUTH_BETA = "oauth-2025-04-20"
#: Client headers worth passing on: they change what the API accepts.
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")


def is_oauth_token(key: str) -> bool:
    """Subscription logins hand out `sk-ant-oat...` tokens, sent as bearer tokens."""
    return key.startswith("sk-ant-oat")


class AnthropicProvider(HttpProvider):
    dialect = "anthropic"
    operations = frozenset({"chat", "count_tokens"})

    def __init__(self, config: ProviderConfig, transport: HttpTransport) -> None:
        key = config.api_key.value if config.api_key else ""
        self._oauth = is_oauth_token(key)
        if self._oauth:
            auth = StaticHeaders({"authorization": f"Bearer {key}"})
        else:
            auth = StaticHeaders({"x-api-key": key} if key else {})
        super().__init__(config, transport, auth)
        base = config.base_url
        self._url = f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"

    def url_for(self, call: UpstreamCall) -> str:
        return self._url + ("/count_tokens" if call.operation == "count_tokens" else "")

    def headers_for(self, call: UpstreamCall) -> dict[str, str]:
        headers = super().headers_for(call)
        for name in FORWARDED_HEADERS:
            if name in call.client_headers:
                headers[name] = call.client_headers[name]
        headers.setdefault("anthropic-version", API_VERSION)
        oauth = self._oauth
        if call.credential is not None:  # the client's own (set by the seam): a login's?
            oauth = call.credential.header == "authorization" and is_oauth_token(
                call.credential.value.removeprefix("Bearer ").strip()
            )
        if oauth:
            betas = [b for b in headers.get("anthropic-beta", "").split(",") if b.strip()]
            if OAUTH_BETA not in betas:
                headers["anthropic-beta"] = ",".join([*betas, OAUTH_BETA])
        return headers
