"""Google Vertex AI: Claude through rawPredict, Gemini through generateContent.

Claude: `POST {endpoint}/v1/projects/{project}/locations/{region}/publishers/anthropic/models/
{model}:rawPredict` (`:streamRawPredict` for a stream, which is Anthropic's SSE as is). The
body is Anthropic's without `model` and with `anthropic_version: vertex-2023-10-16`.

Gemini: `.../publishers/google/models/{model}:generateContent` (`:streamGenerateContent?alt=sse`
for a stream), the body the Gemini API's own. Which of the two a model takes is read from its
name (`gemini-*` is Google's), so one path serves both vendors' models.

The token is a Google OAuth access token (see google.py). Region `global` has no region prefix
in its host.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson

from turnout.config.load import At, ConfigError, expand_env, label
from turnout.config.model import ProviderConfig
from turnout.providers.base import UpstreamCall, UpstreamResponse
from turnout.providers.google import GoogleCredentials
from turnout.providers.kind import Kind, require_extra
from turnout.providers.openai import not_offered
from turnout.providers.seam import HttpProvider
from turnout.providers.tokens import BearerRefresher
from turnout.providers.transport import HttpTransport

ANTHROPIC_VERSION = "vertex-2023-10-16"
_REGION = re.compile(r"^(global|[a-z]+-[a-z]+\d+)$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
#: Model names Google publishes on Vertex AI (the rest are Anthropic's, through rawPredict).
_GOOGLE_MODEL = re.compile(r"^(publishers/google/models/)?gemini-")


def _text(table: Mapping[str, Any], key: str, env: Mapping[str, str], at: At) -> str | None:
    value = table.get(key)
    return expand_env(str(value), env, (*at, key)) if value else None


def vertex_options(table: Mapping[str, Any], env: Mapping[str, str], at: At) -> dict[str, Any]:
    require_extra("google.auth", "gcp", "vertex", at)
    project = (
        _text(table, "project", env, at)
        or env.get("ANTHROPIC_VERTEX_PROJECT_ID")
        or env.get("GOOGLE_CLOUD_PROJECT")
    )
    if not project or not _PROJECT.match(project):
        raise ConfigError(
            f"{label((*at, 'project'))} is {project!r}"
            if project
            else f"{label(at)} has no project",
            "write project: my-project-id (or set GOOGLE_CLOUD_PROJECT)",
            at=(*at, "project"),
        )
    region = _text(table, "region", env, at) or env.get("CLOUD_ML_REGION") or "global"
    if not _REGION.match(region):
        raise ConfigError(
            f"{label((*at, 'region'))} {region!r} is not a Vertex AI region",
            "for example global, us-east5, europe-west1",
            at=(*at, "region"),
        )
    credentials_file = _text(table, "credentials_file", env, at)
    if credentials_file and not os.path.isfile(credentials_file):
        raise ConfigError(
            f"{label((*at, 'credentials_file'))}: no file at {credentials_file}",
            "a service-account key file, or leave it out to use Application Default Credentials",
            at=(*at, "credentials_file"),
        )
    return {"project": project, "region": region, "credentials_file": credentials_file}


def _endpoint(options: Mapping[str, Any]) -> str:
    region = options["region"]
    host = (
        "aiplatform.googleapis.com" if region == "global" else f"{region}-aiplatform.googleapis.com"
    )
    return f"https://{host}"


def is_google_model(model: str) -> bool:
    return _GOOGLE_MODEL.match(model) is not None


class VertexProvider(HttpProvider):
    dialect = "anthropic"  # for a model of Google's own, "gemini" (see `dialect_for`)

    def __init__(
        self,
        config: ProviderConfig,
        transport: HttpTransport,
        auth: BearerRefresher | None = None,
    ) -> None:
        if auth is None:
            source = GoogleCredentials(config.options.get("credentials_file"))
            auth = BearerRefresher(source, transport.mask)
        super().__init__(config, transport, auth)
        options = config.options
        self._prefix = (
            f"{config.base_url}/v1/projects/{options['project']}/locations/{options['region']}"
            "/publishers/"
        )

    def dialect_for(self, model: str) -> str:
        return "gemini" if is_google_model(model) else "anthropic"

    def url_for(self, call: UpstreamCall) -> str:
        if is_google_model(call.model):
            method = "streamGenerateContent?alt=sse" if call.stream else "generateContent"
            model = call.model.removeprefix("publishers/google/models/")
            return f"{self._prefix}google/models/{quote(model, safe='@')}:{method}"
        method = "streamRawPredict" if call.stream else "rawPredict"
        return f"{self._prefix}anthropic/models/{quote(call.model, safe='@')}:{method}"

    def body_for(self, call: UpstreamCall) -> bytes:
        if is_google_model(call.model):
            return call.body  # Gemini's body names no model: it is in the URL
        data = orjson.loads(call.body)
        data.pop("model", None)
        data["anthropic_version"] = ANTHROPIC_VERSION
        return orjson.dumps(data)

    def headers_for(self, call: UpstreamCall) -> dict[str, str]:
        headers = super().headers_for(call)
        if "anthropic-beta" in call.client_headers and not is_google_model(call.model):
            headers["anthropic-beta"] = call.client_headers["anthropic-beta"]
        return headers

    async def open(self, call: UpstreamCall) -> UpstreamResponse:
        if call.operation != "chat":
            raise not_offered(call, "Vertex AI's rawPredict and generateContent")
        return await super().open(call)


VERTEX = Kind(
    VertexProvider,
    keys=frozenset({"project", "region", "credentials_file"}),
    options=vertex_options,
    default_base_url=_endpoint,
    family="vertex",
    prefill="anthropic",
    auth_name=lambda _config: "google oauth",
)
