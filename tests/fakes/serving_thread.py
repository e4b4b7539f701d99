"""Servers on their own thread and event loop, for sync tests and sync clients.

A test blocking on a sync client cannot starve them, and a forgotten `close()` cannot keep
the process alive (the thread is a daemon).
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Self

START_TIMEOUT_S = 10.0


class ServingThread:
    """Starts serving on construction; `close()` (or leaving a `with` block) stops it.
    Subclasses set up their servers, then call `super().__init__()`."""

    thread_name = "servers"

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError(f"{self.thread_name} did not start in time")
        if self._failure is not None:
            raise RuntimeError(f"{self.thread_name} failed to start") from self._failure

    async def start_servers(self) -> None:
        raise NotImplementedError

    async def stop_servers(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop the servers (cancelling stalled handlers) and join the thread; idempotent."""
        loop, closing = self._loop, self._closing
        if loop is not None and closing is not None and not loop.is_closed():
            loop.call_soon_threadsafe(closing.set)
        self._thread.join(START_TIMEOUT_S)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the constructor, which raises it
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closing = asyncio.Event()
        await self.start_servers()
        self._ready.set()
        try:
            await self._closing.wait()
        finally:
            await self.stop_servers()
