"""Azure OpenAI: the OpenAI Chat wire behind deployments, with Azure's URL and key rules.

Classic API: `POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=V`,
the deployment in the path (the body's model is ignored). The v1 API (`api_version: v1`):
`POST {endpoint}/openai/v1/chat/completions` with the deployment name as the body's model.
Embeddings go to `.../embeddings` beside `chat/completions`, in the same OpenAI shape.
The key goes in an `api-key` header; an Entra ID token given as is (`auth: bearer`) as a
bearer token; with `auth: entra` the app registration's client secret (`tenant_id`,
`client_id`, `client_secret`) is exchanged for tokens, renewed before they expire (entra.py).
A model is sent to the deployment the `deployments:` map names, else to one of its own name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson

from turnout.config.load import At, ConfigError, expand_env, label
from turnout.config.model import ProviderConfig, Secret
from turnout.providers.base import UpstreamCall
from turnout.providers.entra import AUTHORITY, EntraClientCredentials
from turnout.providers.kind import Kind
from turnout.providers.openai import OpenAIProvider
from turnout.providers.seam import Auth, StaticHeaders
from turnout.providers.tokens import BearerRefresher
from turnout.providers.transport import HttpTransport

#: The latest generally available version of the classic data-plane API.
DEFAULT_API_VERSION = "2024-10-21"
_VERSION = re.compile(r"^(v1|\d{4}-\d{2}-\d{2}(-preview)?)$")
_AUTH_STYLES = ("api-key", "bearer", "entra")
_ENTRA_KEYS = ("tenant_id", "client_id", "client_secret")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,254}$")
_RESOURCE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def azure_options(table: Mapping[str, Any], env: Mapping[str, str], at: At) -> dict[str, Any]:
    version = str(table.get("api_version", DEFAULT_API_VERSION))
    if not _VERSION.match(version):
        raise ConfigError(
            f"{label((*at, 'api_version'))} is {version!r}",
            f"a dated version such as {DEFAULT_API_VERSION} (or 2025-04-01-preview), "
            "or v1 for the v1 API",
            at=(*at, "api_version"),
        )
    deployments = table.get("deployments") or {}
    if not isinstance(deployments, dict) or not all(
        isinstance(v, str) and v for v in deployments.values()
    ):
        raise ConfigError(
            f"{label((*at, 'deployments'))} must map model names to deployment names",
            "for example deployments: {gpt-4o: my-gpt-4o}",
            at=(*at, "deployments"),
        )
    auth = table.get("auth", "api-key")
    if auth not in _AUTH_STYLES:
        raise ConfigError(
            f"{label((*at, 'auth'))} is {auth!r}",
            "api-key (the resource's key), bearer (an Entra ID token in api_key) or entra "
            "(an app registration's tenant_id, client_id and client_secret)",
            at=(*at, "auth"),
        )
    entra = _entra_options(table, env, at) if auth == "entra" else {}
    resource = table.get("resource")
    if resource is not None:
        resource = expand_env(str(resource), env, (*at, "resource"))
        if not _RESOURCE.match(resource):
            raise ConfigError(
                f"{label((*at, 'resource'))} {resource!r} is not an Azure resource name",
                "the name before .openai.azure.com, or give base_url instead",
                at=(*at, "resource"),
            )
    elif not table.get("base_url"):
        raise ConfigError(
            f"{label(at)} needs base_url (https://NAME.openai.azure.com) or resource: NAME",
            at=at,
        )
    raw_url = str(table.get("base_url") or "")
    if "/openai" in raw_url:
        raise ConfigError(
            f"{label((*at, 'base_url'))} includes the API path",
            f"give the resource endpoint only: {raw_url[: raw_url.index('/openai')]}",
            at=(*at, "base_url"),
        )
    return {
        "api_version": version,
        "deployments": {str(k): str(v) for k, v in deployments.items()},
        "auth": auth,
        "resource": resource,
        **entra,
    }


def _entra_options(table: Mapping[str, Any], env: Mapping[str, str], at: At) -> dict[str, Any]:
    """The client-credentials grant's keys: the tenant, the app and its secret, and where
    tokens come from (Entra ID's public cloud unless `authority:` says otherwise)."""
    if table.get("api_key") is not None:
        raise ConfigError(
            f"{label((*at, 'api_key'))} is given with auth: entra",
            "auth: entra takes tenant_id, client_id and client_secret; leave api_key out",
            at=(*at, "api_key"),
        )
    values: dict[str, str] = {}
    for key in _ENTRA_KEYS:
        if not table.get(key):
            raise ConfigError(
                f"{label(at)} has auth: entra but no {key}",
                "write tenant_id: ${AZURE_TENANT_ID}, client_id: ${AZURE_CLIENT_ID} and "
                "client_secret: ${AZURE_CLIENT_SECRET} (an app registration's)",
                at=(*at, key),
            )
        values[key] = expand_env(str(table[key]), env, (*at, key))
    if not _TENANT.match(values["tenant_id"]):
        raise ConfigError(
            f"{label((*at, 'tenant_id'))} {values['tenant_id']!r} is not a tenant",
            "the directory (tenant) ID, a GUID, or its domain such as contoso.onmicrosoft.com",
            at=(*at, "tenant_id"),
        )
    authority = expand_env(str(table.get("authority") or AUTHORITY), env, (*at, "authority"))
    if not re.match(r"^https?://[^/\s]+/?$", authority):
        raise ConfigError(
            f"{label((*at, 'authority'))} is {authority!r}",
            f"the token service's origin only, such as {AUTHORITY}",
            at=(*at, "authority"),
        )
    return {
        "tenant_id": values["tenant_id"],
        "client_id": values["client_id"],
        "client_secret": Secret(values["client_secret"]),
        "authority": authority.rstrip("/"),
    }


def _resource_url(options: Mapping[str, Any]) -> str:
    return f"https://{options['resource']}.openai.azure.com" if options["resource"] else ""


class AzureProvider(OpenAIProvider):
    """OpenAI Chat and embeddings with the deployment chosen per call."""

    def __init__(self, config: ProviderConfig, transport: HttpTransport) -> None:
        key = config.api_key.value if config.api_key else ""
        options = config.options
        auth: Auth
        if options.get("auth") == "entra":
            secret: Secret = options["client_secret"]
            transport.mask.learn([secret.value])
            source = EntraClientCredentials(
                options["authority"], options["tenant_id"], options["client_id"], secret.value
            )
            auth = BearerRefresher(source, transport.mask)
        elif not key:
            auth = StaticHeaders({})
        elif options.get("auth") == "bearer":
            auth = StaticHeaders({"authorization": f"Bearer {key}"})
        else:
            auth = StaticHeaders({"api-key": key})
        super().__init__(config, transport, auth)
        self._version = str(options.get("api_version", DEFAULT_API_VERSION))
        self._deployments: dict[str, str] = dict(options.get("deployments") or {})

    def deployment(self, model: str) -> str:
        return self._deployments.get(model, model)

    def url_for(self, call: UpstreamCall) -> str:
        endpoint = "embeddings" if call.operation == "embeddings" else "chat/completions"
        base = f"{self.config.base_url}/openai"
        if self._version == "v1":
            return f"{base}/v1/{endpoint}"
        deployment = quote(self.deployment(call.model), safe="")
        return f"{base}/deployments/{deployment}/{endpoint}?api-version={self._version}"

    def body_for(self, call: UpstreamCall) -> bytes:
        """The v1 API reads the deployment from the body's model."""
        deployment = self.deployment(call.model)
        if self._version != "v1" or deployment == call.model:
            return call.body
        data = orjson.loads(call.body)
        data["model"] = deployment
        return orjson.dumps(data)


_AUTH_NAMES = {"bearer": "entra token", "entra": "entra client credentials"}

AZURE = Kind(
    AzureProvider,
    keys=frozenset({"api_version", "deployments", "auth", "resource", "authority", *_ENTRA_KEYS}),
    options=azure_options,
    default_base_url=_resource_url,
    family="azure",
    prefill="none",
    embeddings="openai",
    auth_name=lambda config: _AUTH_NAMES.get(config.options.get("auth", "")),
)
