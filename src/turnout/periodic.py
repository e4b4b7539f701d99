"""A background task that runs a step every few seconds until stopped.

The gateway keeps several: the ledger writer, key sync, config reload, Redis recovery. Each
owes the same discipline: one task, cancelled and awaited on stop, and no failure of a step
ending the loop. Expected failures are a warning; anything else is logged with its traceback,
and the loop goes on at its next interval. Every loop that runs is listed in `running()`, with
its failures, so `/healthz` shows a loop that keeps failing instead of hiding it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("turnout")

_RUNNING: weakref.WeakSet[Every] = weakref.WeakSet()


@dataclass(frozen=True, slots=True)
class LoopStatus:
    what: str
    failures: int  # steps that raised since the loop started
    failing: bool  # the last step raised
    last_error: str | None  # the exception's type name

    def to_dict(self) -> dict[str, object]:
        return {
            "failures": self.failures,
            "failing": self.failing,
            "last_error": self.last_error,
        }


def running() -> list[LoopStatus]:
    """Every background loop of this process that is running now."""
    return sorted((loop.status() for loop in _RUNNING), key=lambda status: status.what)


class Every:
    def __init__(
        self,
        interval_s: float,
        step: Callable[[], Awaitable[None]],
        *,
        expected: tuple[type[Exception], ...] = (),
        what: str = "background step",
    ) -> None:
        self.interval_s = interval_s
        self._step = step
        self._expected = expected  # failures worth a warning, after which the loop goes on
        self._what = what
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._failing = False
        self._last_error: str | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        _RUNNING.add(self)

    def status(self) -> LoopStatus:
        return LoopStatus(self._what, self._failures, self._failing, self._last_error)

    async def stop(self) -> None:
        _RUNNING.discard(self)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self._step()
            except self._expected as exc:
                self._failed(exc)
                log.warning("%s failed, will try again: %s", self._what, exc)
            except Exception as exc:
                self._failed(exc)
                log.exception("%s failed unexpectedly, will try again", self._what)
            else:
                self._failing = False

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        self._failing = True
        self._last_error = type(exc).__name__  # the message is in the log: it may hold secrets
