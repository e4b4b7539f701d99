"""What every state backend offers: path gates with half-open probes, rate windows and budgets.

The gateway keeps three kinds of state that must agree across replicas: which paths are out of
service (and which replica probes one whose time is up), how many requests and tokens each key
used in the last minute, and what each budget has spent or holds in flight this period. A
backend answers each question in one step that is atomic on its own, so concurrent requests,
in one process or in many, cannot both take the last probe lease or the last dollar.

Values here are plain (strings and floats): the router and the access layer turn them into
their own types, so a backend never imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

#: A probe that never reports back (its client went away) frees the lease after this long.
PROBE_LEASE_S = 60.0
#: How long a mark outlives its gate: long enough that the next request after the gate finds
#: it and probes (one replica only), short enough that a path nobody asks for is forgotten.
MARK_LINGER_S = 600.0
#: An in-flight budget hold that is never settled (its replica died) is dropped after this long.
HOLD_S = 3600.0
#: Notes kept at most per topic (what paths showed: prefill verdicts, pace). A path's model part
#: is the client's to invent on a pattern route, so past this the oldest note goes.
MAX_NOTES = 4096
#: A topic nobody has written to for this long is forgotten (Redis expires it).
NOTE_LINGER_S = 7 * 86400.0


class Admission(StrEnum):
    GO = "go"
    PROBE = "probe"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Gate:
    """Why a path is out of service (`reason`, opaque to the store) and for how much longer."""

    gated: bool  # True: a non-transient reason (quota, auth, ...); False: a cooldown
    reason: str
    seconds_left: float
    probing: bool = False  # a probe lease is held right now


@dataclass(frozen=True, slots=True)
class BudgetHold:
    """Room asked of one budget: `budget` names it (scope, name, period start), `token` the
    request holding it, `limit` and `seed` (spend known before this store) its terms."""

    budget: str
    token: str
    amount: float
    limit: float
    seed: float
    expires_at: float  # the end of its period (epoch seconds): the counter expires after it


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a finished request cost one budget, replacing its hold (if it had one)."""

    budget: str
    token: str
    held: float  # what the hold asked (0.0 without a hold)
    actual: float
    seed: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class RateTerms:
    """A key's per-minute limits (None: no limit of that kind)."""

    key_id: str
    rpm: int | None
    tpm: int | None

    @property
    def limited(self) -> bool:
        return self.rpm is not None or self.tpm is not None


class Refused(Exception):
    """Base of the store's refusals; each carries its facts as attributes."""


class RateRefused(Refused):
    """The key is over a per-minute limit; `wait_s` until a request may go."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"over the per-minute limit for {wait_s:.1f}s")
        self.wait_s = wait_s


class BudgetRefused(Refused):
    """The budget has no room: `committed` is spent plus held."""

    def __init__(self, committed: float) -> None:
        super().__init__(f"${committed:.4f} spent or held")
        self.committed = committed


@dataclass(frozen=True, slots=True)
class StateStatus:
    """What /healthz shows: the backend, whether it is reachable, and since when (epoch s)."""

    backend: str
    connected: bool
    since: float

    def to_dict(self) -> dict[str, object]:
        return {"backend": self.backend, "connected": self.connected, "since": self.since}


class StateStore(Protocol):
    """The state the gateway shares. Every method is safe to call concurrently; none raises
    because a remote store is unreachable (a backend that can be falls back on memory)."""

    async def start(self) -> None: ...
    async def aclose(self) -> None: ...
    def status(self) -> StateStatus: ...

    async def admit(self, *paths: str) -> tuple[Admission, Gate | None]:
        """GO without a mark; SKIP while gated, cooling or probed; else PROBE (one caller).
        With several paths (a credential, then one of its models) the first that is not
        clear decides, in one round trip."""
        ...

    async def mark(self, path: str, gated: bool, reason: str, seconds: float) -> None: ...
    async def clear(self, path: str) -> None: ...
    async def release_probe(self, path: str) -> None: ...
    async def peek(self, path: str) -> Gate | None: ...
    async def gates(self) -> dict[str, Gate]: ...

    async def admit_key(self, terms: RateTerms, hold: BudgetHold | None, now: float) -> float:
        """Count the request against the key's minute and hold room on its budget, or raise
        RateRefused / BudgetRefused (nothing is held then). Returns the budget's spend."""
        ...

    async def settle(
        self, key_id: str | None, tokens: int, settlements: list[Settlement], now: float
    ) -> list[float]:
        """Record tokens used and costs; returns each budget's spend after it."""
        ...

    async def spent(self, budgets: list[str]) -> list[float]: ...

    async def remember(self, topic: str, key: str, value: str) -> None:
        """Note what a path showed (`topic` says of what), so every process sees it; at most
        MAX_NOTES per topic, the oldest written going first."""
        ...

    async def recall(self, topic: str, keys: list[str]) -> list[str | None]:
        """The notes of `keys` under `topic` (None where there is none), in one round trip."""
        ...
