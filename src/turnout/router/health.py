"""What the gateway remembers about each path: gated (until a reset), cooling down, or fine.

A gated or cooling path is skipped without a call until its time is up; then exactly one
request probes it (half-open) while the others keep skipping it, and the probe's outcome
clears or renews the entry. In memory: one process's view (shared state is a later backend).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from turnout.diagnosis import Diagnosis

#: A probe that never reports back (its client went away) frees the lease after this long.
PROBE_LEASE_S = 60.0


class Admission(StrEnum):
    GO = "go"
    PROBE = "probe"
    SKIP = "skip"


@dataclass(slots=True)
class PathMark:
    """Why a path is out of service, and until when."""

    gated: bool  # True: a non-transient reason (quota, auth, ...); False: a cooldown
    until: float
    diagnosis: Diagnosis
    probe_until: float = 0.0  # while > now, a probe is in flight


class PathHealth:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._marks: dict[str, PathMark] = {}
        self._clock = clock

    def admit(self, path: str) -> tuple[Admission, PathMark | None]:
        mark = self._marks.get(path)
        if mark is None:
            return Admission.GO, None
        now = self._clock()
        if now < mark.until or now < mark.probe_until:
            return Admission.SKIP, mark
        mark.probe_until = now + PROBE_LEASE_S
        return Admission.PROBE, mark

    def is_out(self, path: str) -> bool:
        """Gated or cooling down right now (without taking a probe lease)."""
        mark = self._marks.get(path)
        return mark is not None and self._clock() < max(mark.until, mark.probe_until)

    def succeeded(self, path: str) -> None:
        self._marks.pop(path, None)

    def failed(self, path: str, diagnosis: Diagnosis, seconds: float, *, gated: bool) -> PathMark:
        mark = PathMark(gated=gated, until=self._clock() + seconds, diagnosis=diagnosis)
        self._marks[path] = mark
        return mark

    def release_probe(self, path: str) -> None:
        """A probe ended without a verdict (the client left): let the next request probe."""
        mark = self._marks.get(path)
        if mark is not None:
            mark.probe_until = 0.0

    def snapshot(self) -> dict[str, PathMark]:
        return dict(self._marks)

    def seconds_left(self, mark: PathMark) -> float:
        return max(0.0, mark.until - self._clock())
