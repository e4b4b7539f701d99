"""A background task that runs a step every few seconds until stopped.

The gateway keeps several: the ledger writer, key sync, config reload, Redis recovery. Each
owes the same discipline: one task, cancelled and awaited on stop, and a step's expected
failures logged rather than ending the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("turnout")


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

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
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
                log.warning("%s failed, will try again: %s", self._what, exc)
