"""Who may call, and how much: gateway keys, their budgets and rate limits, and path budgets.

Budgets are enforced before the call: a request holds its estimated cost, and the hold is
replaced by the actual cost when it ends. Concurrent requests therefore cannot overspend by
more than the estimates in flight. Spend is counted in the state store (this process's memory,
or Redis shared by replicas) from the ledger's totals at start-up, so it holds across restarts.
"""

from __future__ import annotations

import hmac
import math
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from turnout.ledger.keys import GatewayKey, hash_key
from turnout.state import (
    BudgetHold,
    BudgetRefused,
    MemoryState,
    RateRefused,
    RateTerms,
    Settlement,
    StateStore,
)


def period_start(period: str, now: float) -> float:
    """The start (UTC) of the day, ISO week or month that `now` falls in."""
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        day -= timedelta(days=day.weekday())
    elif period == "month":
        day = day.replace(day=1)
    return day.timestamp()


def period_end(period: str, start: float) -> float:
    moment = datetime.fromtimestamp(start, UTC)
    if period == "day":
        return (moment + timedelta(days=1)).timestamp()
    if period == "week":
        return (moment + timedelta(days=7)).timestamp()
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month).timestamp()


class OverBudget(Exception):
    """A budget has no room for this request; `resets_at` is when it starts over."""

    def __init__(self, spent: float, budget: float, period: str, resets_at: float) -> None:
        super().__init__(f"spent ${spent:.4f} of ${budget:.2f} per {period}")
        self.spent = spent
        self.budget = budget
        self.period = period
        self.resets_at = resets_at


class OverRate(Exception):
    """A key is over its per-minute limit; `wait_s` until a request may go."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"over the per-minute limit for {wait_s:.1f}s")
        self.wait_s = wait_s


@dataclass(slots=True)
class Budget:
    """Dollars per period. `seed` is what the ledger said was spent this period when the
    budget was configured: a store that has no counter yet starts from it."""

    limit_usd: float
    period: str
    seed: float = 0.0
    seed_start: float = 0.0
    spent: float = 0.0  # the last figure the store gave (for a path budget's quick check)
    spent_start: float = 0.0  # the period that figure is of

    def note(self, spent: float, now: float) -> None:
        self.spent, self.spent_start = spent, period_start(self.period, now)

    def counter(self, scope: str, name: str, now: float) -> tuple[str, float, float]:
        """The store's name for this period's counter, the seed for it, and when it ends."""
        start = period_start(self.period, now)
        seed = self.seed if start == self.seed_start else 0.0
        return f"{scope}:{name}:{self.period}:{int(start)}", seed, period_end(self.period, start)

    def roll(self, now: float) -> None:
        """Forget a figure of a period that is over (a reader of `spent` calls this first)."""
        if period_start(self.period, now) != self.spent_start:
            self.note(0.0, now)

    def exhausted(self, now: float) -> bool:
        return self.spent >= self.limit_usd and self.spent_start == period_start(self.period, now)


class KeyRing:
    """The gateway keys in force, reloaded from the ledger as they are created or revoked."""

    def __init__(self, keys: list[GatewayKey] | None = None) -> None:
        self._keys: list[GatewayKey] = []
        self._by_id: dict[str, GatewayKey] = {}
        self._required = False
        self.replace(keys or [])

    def replace(self, keys: list[GatewayKey]) -> None:
        """All keys ever made: revoked ones stop working but keep the gateway closed."""
        self._keys = [k for k in keys if k.revoked is None]
        self._by_id = {k.id: k for k in self._keys}
        self._required = self._required or bool(keys)

    def find(self, key_id: str) -> GatewayKey | None:
        """The key in force with this id (None once revoked)."""
        return self._by_id.get(key_id)

    def __bool__(self) -> bool:
        """Whether requests need a key."""
        return self._required

    def match(self, presented: str) -> GatewayKey | None:
        """The key whose hash equals the presented key's, compared in constant time."""
        digest = hash_key(presented)
        found = None
        for key in self._keys:
            if hmac.compare_digest(digest, key.key_hash):
                found = key
        return found


class Budgets:
    """Every budget the gateway enforces, per gateway key and per provider path, with the
    keys' rate limits; the counts live in a `StateStore` (shared by replicas on Redis)."""

    def __init__(self, store: StateStore | None = None) -> None:
        self.store: StateStore = store or MemoryState()
        self.keys: dict[str, Budget] = {}
        self.providers: dict[str, Budget] = {}

    def configure_key(self, key: GatewayKey, spent: float) -> None:
        if key.budget_usd is None or key.budget_period is None:
            self.keys.pop(key.id, None)
            return
        # A limit that is not a number of dollars (a row written before limits were checked)
        # allows nothing rather than everything.
        limit = key.budget_usd if math.isfinite(key.budget_usd) and key.budget_usd >= 0 else 0.0
        budget = self.keys.get(key.id)
        if budget is None or (budget.limit_usd, budget.period) != (limit, key.budget_period):
            start = period_start(key.budget_period, time.time())
            self.keys[key.id] = Budget(limit, key.budget_period, spent, start, spent, start)

    def configure_provider(self, name: str, limit: float, period: str, spent: float) -> None:
        if name not in self.providers:
            start = period_start(period, time.time())
            self.providers[name] = Budget(limit, period, spent, start, spent, start)

    async def admit(self, key: GatewayKey, estimate: float, now: float) -> str | None:
        """Count a request against the key's minute and hold `estimate` on its budget.

        Returns the hold's token (None without a budget) for `settle`; raises OverRate or
        OverBudget, and then nothing is held."""
        budget = self.keys.get(key.id)
        terms = RateTerms(key.id, key.rpm, key.tpm)
        if budget is None and not terms.limited:
            return None
        hold = None
        if budget is not None:
            name, seed, ends = budget.counter("key", key.id, now)
            hold = BudgetHold(name, uuid.uuid4().hex, estimate, budget.limit_usd, seed, ends)
        try:
            budget_spent = await self.store.admit_key(terms, hold, now)
        except RateRefused as refused:
            raise OverRate(refused.wait_s) from refused
        except BudgetRefused as refused:
            assert budget is not None
            ends = period_end(budget.period, period_start(budget.period, now))
            raise OverBudget(refused.committed, budget.limit_usd, budget.period, ends) from refused
        if budget is not None:
            budget.note(budget_spent, now)
        return hold.token if hold else None

    async def settle(self, spend: Spend, now: float) -> None:
        """Replace a request's hold with what it cost, on every budget it touches (a request
        that held nothing and cost nothing touches none, and makes no round trip)."""
        plan: list[tuple[Budget, Settlement]] = []
        key = self.keys.get(spend.key_id) if spend.key_id else None
        if key is not None and spend.key_id is not None and (spend.token or spend.cost):
            name, seed, ends = key.counter("key", spend.key_id, now)
            plan.append((key, Settlement(name, spend.token, spend.held, spend.cost, seed, ends)))
        path = self.providers.get(spend.provider) if spend.provider else None
        if path is not None and spend.provider is not None and spend.cost:
            name, seed, ends = path.counter("provider", spend.provider, now)
            plan.append((path, Settlement(name, "-", 0.0, spend.cost, seed, ends)))
        counted = spend.key_id if spend.tpm_limited else None
        if not plan and counted is None:
            return
        spent = await self.store.settle(counted, spend.tokens, [s for _, s in plan], now)
        for (budget, _), total in zip(plan, spent, strict=True):
            budget.note(total, now)

    def closed(self, provider: str, now: float) -> Budget | None:
        """The path's budget if it is spent (as last read: this check makes no round trip)."""
        budget = self.providers.get(provider)
        return budget if budget is not None and budget.exhausted(now) else None

    async def refresh(self, now: float) -> None:
        """Read the path budgets' spend again, to see what other replicas spent."""
        if not self.providers:
            return
        counters = [(b, *b.counter("provider", name, now)) for name, b in self.providers.items()]
        totals = await self.store.spent([name for _, name, _, _ in counters])
        for (budget, _, seed, _), total in zip(counters, totals, strict=True):
            budget.note(max(total, seed), now)  # a counter not made yet starts from the seed


@dataclass(frozen=True, slots=True)
class Spend:
    """What one finished request cost, and against what: the input of `Budgets.settle`."""

    key_id: str | None
    token: str  # the hold's ("" for none)
    held: float
    cost: float
    tokens: int
    provider: str | None
    tpm_limited: bool
