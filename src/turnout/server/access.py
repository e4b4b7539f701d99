"""Who may call, and how much: gateway keys, their budgets and rate limits, and path budgets.

Budgets are enforced before the call: a request reserves its estimated cost, and the
reservation is replaced by the actual cost when it ends. Concurrent requests therefore cannot
overspend by more than the estimates in flight. Spend is counted in memory from the ledger's
totals at start-up, so it holds across restarts.
"""

from __future__ import annotations

import hmac
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from turnout.ledger.keys import GatewayKey, hash_key


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


@dataclass(slots=True)
class Budget:
    """Dollars per period: what is spent (settled) and what is reserved (in flight)."""

    limit_usd: float
    period: str
    spent: float = 0.0
    reserved: float = 0.0
    start: float = 0.0

    def roll(self, now: float) -> None:
        start = period_start(self.period, now)
        if start != self.start:
            self.start, self.spent = start, 0.0

    def reserve(self, estimate: float, now: float) -> None:
        self.roll(now)
        if self.spent + self.reserved + estimate > self.limit_usd or self.spent >= self.limit_usd:
            resets = period_end(self.period, self.start)
            raise OverBudget(self.spent + self.reserved, self.limit_usd, self.period, resets)
        self.reserved += estimate

    def settle(self, estimate: float, actual: float, now: float) -> None:
        self.reserved = max(0.0, self.reserved - estimate)
        self.roll(now)
        self.spent += actual

    def exhausted(self, now: float) -> bool:
        self.roll(now)
        return self.spent >= self.limit_usd


@dataclass(slots=True)
class RateWindow:
    """Requests and tokens in the last minute, for rpm and tpm limits."""

    requests: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)

    def _trim(self, now: float) -> None:
        while self.requests and self.requests[0] <= now - 60:
            self.requests.popleft()
        while self.tokens and self.tokens[0][0] <= now - 60:
            self.tokens.popleft()

    def admit(self, key: GatewayKey, now: float) -> float | None:
        """None when the request may go; else seconds until it may."""
        self._trim(now)
        if key.rpm is not None and len(self.requests) >= key.rpm:
            return max(0.0, self.requests[0] + 60 - now)
        if key.tpm is not None and sum(n for _, n in self.tokens) >= key.tpm:
            return max(0.0, self.tokens[0][0] + 60 - now)
        self.requests.append(now)
        return None

    def used(self, tokens: int, now: float) -> None:
        self.tokens.append((now, tokens))


class KeyRing:
    """The gateway keys in force, reloaded from the ledger as they are created or revoked."""

    def __init__(self, keys: list[GatewayKey] | None = None) -> None:
        self._keys: list[GatewayKey] = []
        self._required = False
        self.replace(keys or [])

    def replace(self, keys: list[GatewayKey]) -> None:
        """All keys ever made: revoked ones stop working but keep the gateway closed."""
        self._keys = [k for k in keys if k.revoked is None]
        self._required = self._required or bool(keys)

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
    """Every budget the gateway enforces: per gateway key and per provider path."""

    def __init__(self) -> None:
        self.keys: dict[str, Budget] = {}
        self.providers: dict[str, Budget] = {}
        self.windows: dict[str, RateWindow] = {}

    def configure_key(self, key: GatewayKey, spent: float) -> None:
        if key.budget_usd is None or key.budget_period is None:
            self.keys.pop(key.id, None)
            return
        budget = self.keys.get(key.id)
        if budget is None or (budget.limit_usd, budget.period) != (
            key.budget_usd,
            key.budget_period,
        ):
            budget = Budget(key.budget_usd, key.budget_period, spent=spent)
            budget.start = period_start(key.budget_period, time.time())
            self.keys[key.id] = budget

    def configure_provider(self, name: str, limit: float, period: str, spent: float) -> None:
        if name not in self.providers:
            budget = Budget(limit, period, spent=spent)
            budget.start = period_start(period, time.time())
            self.providers[name] = budget

    def window(self, key_id: str) -> RateWindow:
        return self.windows.setdefault(key_id, RateWindow())
