"""Admission of one request under its gateway key (route allowed, rate limits, budget), and
settling its budgets with what it cost once it is recorded.

A refused request never reaches a provider; it gets an error in its dialect with the code a
diagnosis would give (`gateway_budget_exhausted` for a spent budget).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from turnout.access.limits import Budgets, KeyRing, OverBudget, OverRate, Spend
from turnout.catalog.prices import PriceOf
from turnout.config.model import RouteConfig
from turnout.errors import ClientRequestError
from turnout.ledger.keys import GatewayKey
from turnout.ledger.record import RequestRecord
from turnout.routing.resolve import target_model
from turnout.telemetry.accounting import Tally, cost_of
from turnout.wire.base import ParsedRequest

#: Output tokens assumed when a request does not cap them.
DEFAULT_OUTPUT_TOKENS = 4096


def estimate_cost(
    price_of: PriceOf, route: RouteConfig, body: bytes, data: Mapping[str, object]
) -> float | str:
    """The most this request may cost on any path of its route (about 4 bytes a token in),
    or the first path whose model has no price: its cost could not be counted."""
    cap = (
        data.get("max_tokens")
        or data.get("max_completion_tokens")
        or data.get("max_output_tokens")  # Responses
        or DEFAULT_OUTPUT_TOKENS
    )
    tokens_out = cap if isinstance(cap, int) and cap > 0 else DEFAULT_OUTPUT_TOKENS
    tokens_in = len(body) // 4
    model = str(data.get("model", ""))
    costs = []
    for target in route.targets:
        name = target_model(target, model)
        price = price_of(target.provider, name)
        if price is None:
            return f"{target.provider}/{name}"
        costs.append(price.cost(tokens_in, tokens_out))
    return max(costs, default=0.0)


def _priced(key: GatewayKey, route: RouteConfig, estimate: float | str) -> float:
    """Budgets fail closed: a key with a budget may not reach a path it cannot be charged for."""
    if isinstance(estimate, float):
        return estimate
    raise ClientRequestError(
        403,
        f"turnout: gateway key {key.name!r} has a budget, and route {route.name!r} may send "
        f"this request to {estimate}, whose model has no price, so its cost could not be "
        "counted. Ask the gateway admin to add the model under prices: in the config "
        "(0 for a free local model).",
        kind="permission",
        code="unpriced_model",
        headers=(("x-should-retry", "false"),),
    )


async def admit(
    budgets: Budgets,
    price_of: PriceOf,
    key: GatewayKey | None,
    route: RouteConfig,
    request: ParsedRequest,
    tally: Tally,
    *,
    free: bool = False,
) -> None:
    """Raise ClientRequestError when the request's key may not make this call now. A `free`
    call (a token count) passes the same checks but holds nothing on the budget."""
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
    now = time.time()
    estimate = 0.0
    if key.id in budgets.keys and not free:
        estimate = _priced(key, route, estimate_cost(price_of, route, request.body, request.head))
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


async def settle(
    budgets: Budgets,
    keyring: KeyRing,
    price_of: PriceOf,
    tally: Tally,
    record: RequestRecord,
) -> None:
    """Replace the reservation with what the request cost, on every budget it touches:
    the key's for the whole request, each path's for its own legs."""
    key = keyring.find(tally.key_id) if tally.key_id else None
    now = time.time()
    spend = Spend(
        key_id=tally.key_id,
        token=tally.hold,
        held=tally.reserved,
        cost=record.cost_usd,
        tokens=record.tokens_in + record.tokens_cached + record.tokens_out,
        provider=None if tally.legs else record.provider,
        tpm_limited=key is not None and key.tpm is not None,
    )
    await budgets.settle(spend, now)
    per_provider: dict[str, float] = {}
    for leg in tally.legs:
        cost = cost_of(leg.target, leg.usage, price_of)
        per_provider[leg.target.provider] = per_provider.get(leg.target.provider, 0.0) + cost
    for provider, cost in per_provider.items():
        path_spend = Spend(None, "", 0.0, round(cost, 8), 0, provider, False)
        await budgets.settle(path_spend, now)
