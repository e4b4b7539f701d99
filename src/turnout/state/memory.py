"""State in one process's memory: the default, and what a Redis-backed replica falls back on.

Every operation is a few dictionary steps with no await inside, so on one event loop each is
atomic without a lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from turnout.state.base import (
    HOLD_S,
    MAX_NOTES,
    PROBE_LEASE_S,
    Admission,
    BudgetHold,
    BudgetRefused,
    Gate,
    RateRefused,
    RateTerms,
    Settlement,
    StateStatus,
)

WINDOW_S = 60.0
#: Path marks kept at most. On a pattern route a client picks the model part of a path, so
#: each name it invents could leave a mark; past this, marks whose time is up go first, then
#: the oldest marks on one model. A credential's mark (no "/") goes last.
MAX_MARKS = 4096


@dataclass(slots=True)
class _Mark:
    gated: bool
    reason: str
    until: float  # on the store's monotonic clock
    probe_until: float = 0.0  # while > now, a probe is in flight


@dataclass(slots=True)
class _Window:
    """Requests and tokens in the last minute, for rpm and tpm limits."""

    requests: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)

    def trim(self, now: float) -> None:
        while self.requests and self.requests[0] <= now - WINDOW_S:
            self.requests.popleft()
        while self.tokens and self.tokens[0][0] <= now - WINDOW_S:
            self.tokens.popleft()

    def wait(self, terms: RateTerms, now: float) -> float | None:
        self.trim(now)
        # A limit of 0 (from a ledger older than the check at creation) allows nothing.
        if terms.rpm is not None and len(self.requests) >= terms.rpm:
            return max(0.0, self.requests[0] + WINDOW_S - now) if self.requests else WINDOW_S
        if terms.tpm is not None and sum(n for _, n in self.tokens) >= terms.tpm:
            return max(0.0, self.tokens[0][0] + WINDOW_S - now) if self.tokens else WINDOW_S
        return None


@dataclass(slots=True)
class _Counter:
    """One budget in one period: settled spend and holds in flight (token -> amount, until)."""

    spent: float
    expires_at: float
    holds: dict[str, tuple[float, float]] = field(default_factory=dict)

    def held(self, now: float) -> float:
        for token in [t for t, (_, until) in self.holds.items() if until <= now]:
            del self.holds[token]
        return sum(amount for amount, _ in self.holds.values())


class MemoryState:
    """The StateStore of one process (see `turnout.state.base`)."""

    backend = "memory"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._marks: dict[str, _Mark] = {}
        self._windows: dict[str, _Window] = {}
        self._counters: dict[str, _Counter] = {}
        self._notes: dict[str, OrderedDict[str, str]] = {}
        self._since = time.time()

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def status(self) -> StateStatus:
        return StateStatus(self.backend, True, self._since)

    # Paths

    async def admit(self, *paths: str) -> tuple[Admission, Gate | None]:
        for path in paths:
            admission, gate = self._admit_one(path)
            if admission is not Admission.GO:
                return admission, gate
        return Admission.GO, None

    def _admit_one(self, path: str) -> tuple[Admission, Gate | None]:
        mark = self._marks.get(path)
        if mark is None:
            return Admission.GO, None
        now = self._clock()
        if now < mark.until or now < mark.probe_until:
            return Admission.SKIP, self._gate(mark, now)
        mark.probe_until = now + PROBE_LEASE_S
        return Admission.PROBE, self._gate(mark, now)

    async def mark(self, path: str, gated: bool, reason: str, seconds: float) -> None:
        if path not in self._marks and len(self._marks) >= MAX_MARKS:
            self._make_room()
        self._marks[path] = _Mark(gated, reason, self._clock() + seconds)

    def _make_room(self) -> None:
        now = self._clock()
        for path in [p for p, m in self._marks.items() if max(m.until, m.probe_until) <= now]:
            del self._marks[path]
        while len(self._marks) >= MAX_MARKS:
            oldest = next((p for p in self._marks if "/" in p), None)
            del self._marks[oldest if oldest is not None else next(iter(self._marks))]

    async def clear(self, path: str) -> None:
        self._marks.pop(path, None)

    async def release_probe(self, path: str) -> None:
        mark = self._marks.get(path)
        if mark is not None:
            mark.probe_until = 0.0

    async def peek(self, path: str) -> Gate | None:
        mark = self._marks.get(path)
        return None if mark is None else self._gate(mark, self._clock())

    async def gates(self) -> dict[str, Gate]:
        now = self._clock()
        return {path: self._gate(mark, now) for path, mark in self._marks.items()}

    def gates_in_force(self) -> dict[str, Gate]:
        """Marks whose gate or cooldown has time left (what a resync pushes to Redis)."""
        now = self._clock()
        return {p: self._gate(m, now) for p, m in self._marks.items() if m.until > now}

    def forget_gates(self) -> None:
        self._marks.clear()

    @staticmethod
    def _gate(mark: _Mark, now: float) -> Gate:
        return Gate(mark.gated, mark.reason, max(0.0, mark.until - now), now < mark.probe_until)

    # Rate windows and budgets

    async def admit_key(self, terms: RateTerms, hold: BudgetHold | None, now: float) -> float:
        if terms.limited:
            window = self._windows.setdefault(terms.key_id, _Window())
            wait = window.wait(terms, now)
            if wait is not None:
                raise RateRefused(wait)
            window.requests.append(now)
        if hold is None:
            return 0.0
        counter = self._counter(hold.budget, hold.seed, hold.expires_at, now)
        committed = counter.spent + counter.held(now)
        if committed + hold.amount > hold.limit or counter.spent >= hold.limit:
            raise BudgetRefused(committed)
        counter.holds[hold.token] = (hold.amount, now + HOLD_S)
        return counter.spent

    async def settle(
        self, key_id: str | None, tokens: int, settlements: list[Settlement], now: float
    ) -> list[float]:
        if key_id is not None:
            self._windows.setdefault(key_id, _Window()).tokens.append((now, tokens))
        spent = []
        for item in settlements:
            counter = self._counter(item.budget, item.seed, item.expires_at, now)
            counter.holds.pop(item.token, None)
            counter.spent += item.actual
            spent.append(counter.spent)
        return spent

    async def spent(self, budgets: list[str]) -> list[float]:
        return [c.spent if (c := self._counters.get(b)) else 0.0 for b in budgets]

    def spends(self) -> dict[str, tuple[float, float]]:
        """Every budget counter: spend and expiry (what a resync merges into Redis)."""
        return {b: (c.spent, c.expires_at) for b, c in self._counters.items()}

    def follow(self, budget: str, spent: float, expires_at: float) -> None:
        """Take a shared store's figure as this budget's spend, so an outage starts from it."""
        counter = self._counters.get(budget)
        if counter is None:
            self._counters[budget] = _Counter(spent, expires_at)
        else:
            counter.spent = max(counter.spent, spent)

    def _counter(self, budget: str, seed: float, expires_at: float, now: float) -> _Counter:
        counter = self._counters.get(budget)
        if counter is None:
            # A new counter is also the moment to drop those of periods that are over.
            for old in [b for b, c in self._counters.items() if c.expires_at <= now]:
                del self._counters[old]
            counter = self._counters[budget] = _Counter(seed, expires_at)
        return counter

    # Notes

    async def remember(self, topic: str, key: str, value: str) -> None:
        notes = self._notes.setdefault(topic, OrderedDict())
        notes[key] = value
        notes.move_to_end(key)
        while len(notes) > MAX_NOTES:
            notes.popitem(last=False)

    async def recall(self, topic: str, keys: list[str]) -> list[str | None]:
        notes = self._notes.get(topic)
        return [None if notes is None else notes.get(key) for key in keys]
