"""What a client may see of the gateway: decided once here, applied by the edge.

- No gateway keys (the keyless loopback default) or a static `server.keys` key: the operator,
  or the one user of a personal gateway, sees everything (upstream rate-limit headers, base
  URLs in explanations).
- A gateway key made with `turnout keys` is a tenant sharing the gateway's credentials. It
  never sees a base URL, nor the shared organisation's rate-limit headers (`x-ratelimit-*`,
  `anthropic-ratelimit-*`: they tell how much the other tenants use); a failure is explained
  with its own request's model, never with another tenant's words or model.
- A key restricted to some routes is told only of those: `/v1/models`, the list of models in
  a 404, `GET /turnout/paths`. Naming a route it may not use gets a 403 that names only that
  route, so a misconfigured client learns why.
"""

from __future__ import annotations

import dataclasses

from turnout.config.model import GatewayConfig
from turnout.diagnosis import Diagnosis
from turnout.ledger.keys import GatewayKey
from turnout.routing.health import retold
from turnout.routing.resolve import public_model_names, resolve_route

__all__ = ["may_know", "paths_for", "sees_operator_detail", "told_of", "without_endpoint"]


def sees_operator_detail(key: GatewayKey | None) -> bool:
    """Upstream headers and base URLs: for the operator, not for a tenant's key."""
    return key is None


def told_of(config: GatewayConfig, key: GatewayKey | None) -> list[str]:
    """The model names this client may be told of."""
    names = public_model_names(config)
    if key is None or not key.routes:
        return names
    return [name for name in names if _allowed(config, key, name)]


def _allowed(config: GatewayConfig, key: GatewayKey, name: str) -> bool:
    route = resolve_route(config, name)
    return route is not None and key.allows(route.name)


def may_know(config: GatewayConfig, key: GatewayKey | None, name: str) -> bool:
    """Whether this client may learn about the model `name` (its entry, its paths)."""
    return key is None or not key.routes or _allowed(config, key, name)


def paths_for(config: GatewayConfig, key: GatewayKey | None) -> set[str] | None:
    """The paths and credentials (providers) a key's routes use; None: all of them."""
    if key is None or not key.routes:
        return None
    targets = [
        t for name in key.routes if name in config.routes for t in config.routes[name].targets
    ]
    return {t.path for t in targets} | {t.provider for t in targets}


def without_endpoint(diagnosis: Diagnosis) -> Diagnosis:
    """The same diagnosis explained without a base URL (the provider's words about this
    request stay)."""
    return dataclasses.replace(retold(diagnosis, diagnosis.model), message=diagnosis.message)
