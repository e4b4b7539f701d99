"""Admission of one request under its gateway key: route allowed, rate limits, budget.

A refused request never reaches a provider; it gets an error in its dialect with the code a
diagnosis would give (`gateway_budget_exhausted` for a spent budget).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from turnout.access.limits import OverBudget, OverRate
from turnout.catalog.prices import price_of
from turnout.config.model import RouteConfig
from turnout.dialects.base import ParsedRequest
from turnout.errors import ClientRequestError
from turnout.ledger.keys import GatewayKey
from turnout.routing.resolve import target_model
from turnout.runtime.gateway import Gateway
from turnout.telemetry.accounting import Tally

#: Output tokens assumed when a request does not cap them.
DEFAULT_OUTPUT_TOKENS = 4096


def estimate_cost(
    gateway: Gateway, route: RouteConfig, body: bytes, data: dict[str, object]
) -> float:
    """The most this request may cost on any path of its route (about 4 bytes a token in)."""
    cap = data.get("max_tokens") or data.get("max_completion_tokens") or DEFAULT_OUTPUT_TOKENS
    tokens_out = cap if isinstance(cap, int) else DEFAULT_OUTPUT_TOKENS
    tokens_in = len(body) // 4
    model = str(data.get("model", ""))
    prices = [price_of(target_model(t, model), gateway.config.prices) for t in route.targets]
    return max((p.cost(tokens_in, tokens_out) for p in prices if p is not None), default=0.0)


async def admit(
    gateway: Gateway,
    key: GatewayKey | None,
    route: RouteConfig,
    request: ParsedRequest,
    tally: Tally,
) -> None:
    """Raise ClientRequestError when the request's key may not make this call now."""
    if key is None:
        return
    if not key.allows(route.name):
        raise ClientRequestError(
            403,
            f"turnout: gateway key {key.name!r} may not use model route {route.name!r}",
            kind="permission",
            code="permission_denied",
            headers=(("x-should-retry", "false"),),
        )
    budgets, now = gateway.shared.budgets, time.time()
    estimate = 0.0
    if key.id in budgets.keys:
        estimate = estimate_cost(gateway, route, request.body, request.data)
    try:
        tally.hold = await budgets.admit(key, estimate, now) or ""
    except OverRate as over:
        raise ClientRequestError(
            429,
            f"turnout: gateway key {key.name!r} is over its per-minute limit",
            kind="rate_limit",
            code="rate_limited",
            headers=(("retry-after", str(max(1, math.ceil(over.wait_s)))),),
        ) from over
    except OverBudget as over:
        resets = datetime.fromtimestamp(over.resets_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        raise ClientRequestError(
            429,
            f"turnout: gateway key {key.name!r} has no budget left for this request: "
            f"${over.spent:.4f} of ${over.budget:.2f} per {over.period} is spent or reserved; "
            f"it resets {resets}. Ask the gateway admin for more, or wait for the reset.",
            kind="quota",
            code="gateway_budget_exhausted",
            headers=(("x-should-retry", "false"),),
        ) from over
    tally.reserved = estimate if tally.hold else 0.0
