"""Which credential a request carries for the gateway, and which for a provider.

Two credentials can arrive with one request and must never be taken for each other:

- the gateway key (who may use this gateway): in `x-turnout-key`, or, when that header is
  absent, in `x-api-key` / `Authorization: Bearer` as before;
- the client's own provider credential (an Anthropic API key, a Claude subscription login's
  token), forwarded to providers configured with `api_key: client`.

With no gateway keys configured, whatever the client sends in `x-api-key` or `Authorization`
is its own credential. With gateway keys, the client's own credential travels only when the
gateway key comes in `x-turnout-key` (Claude Code: `ANTHROPIC_CUSTOM_HEADERS="x-turnout-key:
tk-..."`); a gateway key is never forwarded, whichever header it came in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from turnout.providers.base import ClientCredential

GATEWAY_KEY_HEADER = "x-turnout-key"
#: Where clients put their provider credential, in the order it is looked for.
CREDENTIAL_HEADERS = ("x-api-key", "authorization")


def credential_digest(value: str) -> str:
    """A short stable name for a credential (not reversible), for gate keys and the ledger."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def presented_gateway_key(headers: Mapping[str, str]) -> str:
    """The gateway key the request presents: `x-turnout-key`, else `x-api-key`, else a bearer."""
    dedicated = headers.get(GATEWAY_KEY_HEADER, "").strip()
    if dedicated:
        return dedicated
    presented = headers.get("x-api-key") or ""
    bearer = headers.get("authorization", "")
    if not presented and bearer.lower().startswith("bearer "):
        presented = bearer[7:].strip()
    return presented


def client_credential(
    headers: Mapping[str, str], *, keys_required: bool, gateway_key: str = ""
) -> ClientCredential | None:
    """The client's own provider credential, or None when it sent none of its own (with
    gateway keys required and no `x-turnout-key`, `x-api-key`/`Authorization` carry the key)."""
    if keys_required and not headers.get(GATEWAY_KEY_HEADER, "").strip():
        return None
    for header in CREDENTIAL_HEADERS:
        value = headers.get(header, "").strip()
        if not value or value.lower() in ("bearer", "bearer "):
            continue
        bare = value[7:].strip() if value.lower().startswith("bearer ") else value
        if gateway_key and bare == gateway_key:
            return None  # a gateway key is never forwarded
        return ClientCredential(header, value, credential_digest(bare))
    return None
