"""A clock a test moves by hand, for the gateway's time-dependent logic (gates, cooldowns,
backoff, Retry-After): `PathHealth` and `RouteChain` take its `now` and `sleep`."""

from __future__ import annotations

import threading


class FakeClock:
    """Monotonic seconds that pass only when the test says so (`advance`) or when the code
    under test sleeps (`sleep` returns at once and moves the clock); `slept` lists the waits.

    Safe to read from the gateway's thread while the test thread advances it."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    async def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self._now += max(0.0, seconds)
