"""What the gateway remembers about each path: gated (until a reset), cooling down, or fine.

A gated or cooling path is skipped without a call until its time is up; then exactly one
request probes it (half-open) while the others keep skipping it, and the probe's outcome
clears or renews the entry. The entries live in a `StateStore`: this process's memory, or
Redis so that every replica skips a path one of them found gated, and only one probes it.
Every method is async because a shared store is a round trip away; a healthy path costs one.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import orjson

from turnout.diagnosis import Category, Diagnosis, explain_code
from turnout.state import Admission, Gate, MemoryState, StateStore
from turnout.state.memory import MAX_MARKS

__all__ = ["Admission", "PathHealth", "PathMark", "ProviderReset"]


@dataclass(frozen=True, slots=True)
class ProviderReset:
    """When the provider said a gate lifts (epoch seconds), where it said so, and which of its
    windows it is (`five_hour`, `seven_day`, ...; "" when it did not say)."""

    at: float
    source: str
    window: str = ""


@dataclass(slots=True)
class PathMark:
    """Why a path is out of service, and until when (on this process's monotonic clock).
    The diagnosis is decoded when first asked for: a listing of thousands of marks that
    only needs their states decodes none.

    `until` is when the gateway next lets a probe through; `reset` is the provider's own word
    on when the gate lifts, kept apart so that nobody reads the probe timer as the provider's.
    """

    gated: bool  # True: a non-transient reason (quota, auth, ...); False: a cooldown
    until: float
    reason: str  # the diagnosis (and the provider's reset) as the store keeps it
    probing: bool = False  # a probe is in flight

    @property
    def diagnosis(self) -> Diagnosis:
        return _read_reason(self.reason)[0]

    @property
    def reset(self) -> ProviderReset | None:
        return _read_reason(self.reason)[1]


class PathHealth:
    def __init__(
        self, store: StateStore | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store: StateStore = store or MemoryState(clock)
        self._clock = clock
        # Paths this process has seen marked: only their success needs a write, so a healthy
        # path's request costs the one read of `admit`. Bounded like the store's marks: a path
        # forgotten here is cleared by its mark's expiry instead.
        self._seen: dict[str, None] = {}

    async def admit(self, *paths: str) -> tuple[Admission, PathMark | None]:
        """The first of `paths` that is not clear decides (one round trip for all)."""
        admission, gate = await self.store.admit(*paths)
        if gate is None:
            return admission, None
        self._note(*paths)
        return admission, self._mark(gate)

    async def is_out(self, path: str) -> bool:
        """Gated or cooling down right now (without taking a probe lease)."""
        gate = await self.store.peek(path)
        return gate is not None and (gate.seconds_left > 0 or gate.probing)

    async def succeeded(self, path: str) -> None:
        if path in self._seen:
            del self._seen[path]
            await self.store.clear(path)

    async def failed(
        self,
        path: str,
        diagnosis: Diagnosis,
        seconds: float,
        *,
        gated: bool,
        reset: ProviderReset | None = None,
    ) -> PathMark:
        self._note(path)
        reason = _reason(diagnosis, reset)
        await self.store.mark(path, gated, reason, seconds)
        return PathMark(gated=gated, until=self._clock() + seconds, reason=reason)

    def _note(self, *paths: str) -> None:
        for path in paths:
            self._seen[path] = None
        while len(self._seen) > MAX_MARKS:
            del self._seen[next(iter(self._seen))]

    async def release_probe(self, path: str) -> None:
        """A probe ended without a verdict (the client left): let the next request probe."""
        if path in self._seen:
            await self.store.release_probe(path)

    async def snapshot(self) -> dict[str, PathMark]:
        return self.marks_of(await self.store.gates())

    def marks_of(self, gates: Mapping[str, Gate]) -> dict[str, PathMark]:
        """The store's gates as marks (decoding each reason: a thread may do it)."""
        return {path: self._mark(gate) for path, gate in gates.items()}

    def seconds_left(self, mark: PathMark) -> float:
        return max(0.0, mark.until - self._clock())

    def _mark(self, gate: Gate) -> PathMark:
        until = self._clock() + gate.seconds_left
        return PathMark(gate.gated, until, gate.reason, gate.probing)


def retold(diagnosis: Diagnosis, model: str | None) -> Diagnosis:
    """A remembered diagnosis as a later request is told it: its code and advice, naming
    that request's `model`, without the base URL or the words of the request that caused it
    (they may be another tenant's)."""
    told = explain_code(
        diagnosis.code,
        lang=diagnosis.lang,
        retry_after_s=diagnosis.retry_after_s,
        provider=diagnosis.provider,
        model=model,
    )
    return dataclasses.replace(told, status=diagnosis.status, rule=diagnosis.rule)


def _reason(diagnosis: Diagnosis, reset: ProviderReset | None) -> str:
    """The mark's reason as the stores keep it: the diagnosis, and the provider's reset in
    epoch seconds (meaningful to every process and after a restart)."""
    data = diagnosis.to_dict()
    if reset is not None:
        data["provider_reset"] = {"at": reset.at, "source": reset.source, "window": reset.window}
    return orjson.dumps(data).decode()


@lru_cache(maxsize=256)
def _read_reason(reason: str) -> tuple[Diagnosis, ProviderReset | None]:
    """The diagnosis a mark was made with (cached: a gated path is read on every request)."""
    data = orjson.loads(reason)
    found = data.pop("provider_reset", None)
    data["category"] = Category(data["category"])
    data["actions"] = tuple(data["actions"])
    data["wont_help"] = tuple(data["wont_help"])
    reset = None
    if isinstance(found, dict):
        reset = ProviderReset(float(found["at"]), str(found["source"]), str(found["window"]))
    return Diagnosis(**data), reset
