"""Google's Gemini API (AI Studio keys): generateContent and streamGenerateContent.

`POST {base_url}/v1beta/models/{model}:generateContent`, or `:streamGenerateContent?alt=sse`
for a stream (server-sent events, one `GenerateContentResponse` each). The body is Gemini's own
(the model is in the path, never in the body). The key goes in the `x-goog-api-key` header,
never in the URL's `?key=`, so no URL the gateway or a proxy logs can carry it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from turnout.config.load import At, ConfigError, label
from turnout.config.model import ProviderConfig
from turnout.providers.base import UpstreamCall, UpstreamResponse
from turnout.providers.kind import Kind
from turnout.providers.openai import not_offered
from turnout.providers.seam import HttpProvider, StaticHeaders
from turnout.providers.transport import HttpTransport

BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_API_VERSION = "v1beta"
_VERSION = re.compile(r"^v1(alpha|beta)?$")
KEY_HEADER = "x-goog-api-key"


def gemini_options(table: Mapping[str, Any], env: Mapping[str, str], at: At) -> dict[str, Any]:
    version = str(table.get("api_version", DEFAULT_API_VERSION))
    if not _VERSION.match(version):
        raise ConfigError(
            f"{label((*at, 'api_version'))} is {version!r}",
            "v1beta (the default, where thinking and thought signatures are), v1 or v1alpha",
            at=(*at, "api_version"),
        )
    raw_url = str(table.get("base_url") or "")
    path = urlsplit(raw_url).path.rstrip("/")
    if "/openai" in path:
        raise ConfigError(
            f"{label((*at, 'base_url'))} is Gemini's OpenAI-compatible endpoint",
            "for that endpoint write kind: openai; for the native API give the host only: "
            f"{BASE_URL}",
            at=(*at, "base_url"),
        )
    if re.search(r"/v1(alpha|beta)?(/|$)|:generateContent|/models/", path):
        raise ConfigError(
            f"{label((*at, 'base_url'))} includes the API path",
            f"give the host only (for example {BASE_URL}); the version is api_version",
            at=(*at, "base_url"),
        )
    if "key=" in urlsplit(raw_url).query:
        raise ConfigError(
            f"{label((*at, 'base_url'))} carries a key in its query",
            "put the key in api_key: ${GEMINI_API_KEY}; it is sent as x-goog-api-key",
            at=(*at, "base_url"),
        )
    if table.get("api_key") is None:
        raise ConfigError(
            f"{label(at)} has no api_key",
            "write api_key: ${GEMINI_API_KEY} (a key from Google AI Studio)",
            at=(*at, "api_key"),
        )
    return {"api_version": version}


def model_path(model: str) -> str:
    """`gemini-2.5-flash` or `models/gemini-2.5-flash`, as one escaped path segment."""
    return quote(model.removeprefix("models/"), safe="")


class GeminiProvider(HttpProvider):
    dialect = "gemini"

    def __init__(self, config: ProviderConfig, transport: HttpTransport) -> None:
        key = config.api_key.value if config.api_key else ""
        super().__init__(config, transport, StaticHeaders({KEY_HEADER: key} if key else {}))
        version = config.options.get("api_version", DEFAULT_API_VERSION)
        self._prefix = f"{config.base_url}/{version}/models/"

    def url_for(self, call: UpstreamCall) -> str:
        method = "streamGenerateContent?alt=sse" if call.stream else "generateContent"
        return f"{self._prefix}{model_path(call.model)}:{method}"

    async def open(self, call: UpstreamCall) -> UpstreamResponse:
        if call.operation != "chat":
            raise not_offered(call, "the Gemini API path")
        return await super().open(call)


GEMINI_KIND = Kind(
    GeminiProvider,
    keys=frozenset({"api_version"}),
    options=gemini_options,
    default_base_url=lambda _options: BASE_URL,
    family="gemini",
    prefill="none",
)
