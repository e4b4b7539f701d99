"""`GET /v1/models` and `GET /v1/models/{id}`: the names clients may ask for."""

from __future__ import annotations

from typing import Any

import orjson

from turnout.access.visibility import may_know, told_of
from turnout.catalog import context_window
from turnout.ledger.keys import GatewayKey
from turnout.routing.resolve import resolve_route, target_model
from turnout.runtime.gateway import Gateway


def models_body(gateway: Gateway, anthropic: bool, key: GatewayKey | None = None) -> bytes:
    """The models this client may be told of (see `access.visibility`)."""
    names = told_of(gateway.config, key)
    if anthropic:
        data: list[dict[str, Any]] = [
            {"type": "model", "id": n, "display_name": n, "created_at": "1970-01-01T00:00:00Z"}
            for n in names
        ]
        first, last = (names[0], names[-1]) if names else (None, None)
        return orjson.dumps({"data": data, "has_more": False, "first_id": first, "last_id": last})
    data = [model_entry(gateway, n, key) for n in names]
    return orjson.dumps({"object": "list", "data": data})


def model_entry(gateway: Gateway, name: str, key: GatewayKey | None = None) -> dict[str, Any]:
    """The model's paths and context window: the smallest along its route, so a failover
    never meets a prompt too large for it. A route the key may not use is not told of."""
    entry: dict[str, Any] = {"id": name, "object": "model", "created": 0, "owned_by": "turnout"}
    route = resolve_route(gateway.config, name)
    if route is not None and may_know(gateway.config, key, name):
        windows = [
            context_window(
                target_model(t, name), gateway.config.providers[t.provider].context_windows
            )
            for t in route.targets
        ]
        known = [w for w in windows if w]
        if known:
            entry["context_window"] = min(known)
        entry["paths"] = [t.path for t in route.targets]
    return entry
