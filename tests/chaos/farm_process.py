"""The chaos upstreams in a process of their own, away from the clients that load the gateway.

    with FarmProcess({"chaos1": Mix.hostile(), "healthy": Mix.none()}, seed=7) as farm:
        farm.url("chaos1")
        ...
        farm.stop()
        farm.arrivals()  # everything the upstreams saw, as `ChaosFarm.arrivals()`

In the clients' process the upstreams would share one interpreter lock with a dozen SDK
threads: on a busy machine their event loop then wakes hundreds of milliseconds late, a
healthy upstream misses the gateway's read deadline, and the run blames the gateway for the
machine. Here they have an interpreter to themselves. `time.monotonic()` is the same clock in
every process, so arrival times compare with the clients' own.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Self

from tests.chaos.upstream import Arrival, ChaosFarm, Mix

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 60.0


@dataclass
class FarmResult:
    arrivals: list[Arrival] = field(default_factory=list)
    whole: set[tuple[str, int]] = field(default_factory=set)
    worst_lag_s: float = 0.0
    lag_over: dict[float, int] = field(default_factory=dict)


def _serve(mixes: Mapping[str, Mix], seed: int, conn: Connection) -> None:
    with ChaosFarm(mixes, seed=seed) as farm:
        conn.send({name: farm.url(name) for name in mixes})
        conn.recv()  # the word to stop
    conn.send(FarmResult(farm.arrivals(), farm.whole(), farm.lag.worst_s, dict(farm.lag.over)))
    conn.close()


class FarmProcess:
    """A `ChaosFarm` in a child process; `stop()` ends it and keeps what it saw."""

    def __init__(self, mixes: Mapping[str, Mix], seed: int = 0) -> None:
        context = multiprocessing.get_context("spawn")  # no threads inherited mid-lock
        self._conn, child = context.Pipe()
        self._proc = context.Process(
            target=_serve, args=(dict(mixes), seed, child), name="chaos upstreams", daemon=True
        )
        self._proc.start()
        child.close()
        if not self._conn.poll(START_TIMEOUT_S):
            self._proc.kill()
            raise RuntimeError("the chaos upstreams did not start in time")
        self._urls: dict[str, str] = self._conn.recv()
        self._result: FarmResult | None = None

    def url(self, name: str) -> str:
        return self._urls[name]

    def stop(self) -> FarmResult:
        if self._result is None:
            self._conn.send("stop")
            if not self._conn.poll(STOP_TIMEOUT_S):
                self._proc.kill()
                raise RuntimeError("the chaos upstreams did not stop in time")
            self._result = self._conn.recv()
            self._proc.join(STOP_TIMEOUT_S)
        return self._result

    def arrivals(self) -> list[Arrival]:
        return self.stop().arrivals

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            if self._proc.is_alive():
                self._proc.kill()
            self._conn.close()
