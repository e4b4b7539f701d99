"""Stopping with streams open: each ends with an error event in its client's dialect.

On SIGTERM the server stops accepting, lets requests in flight finish, and after the drain
time (`server.drain_s`) the streams still open are told: each gets a protocol-correct error
event saying the gateway is shutting down, then its proper end. A quiet cut instead would
leave a client unable to tell a shutdown from a finished answer that lost its last bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

#: The message a task is cancelled with when the gateway stops: a stream that sees it says so.
SHUTDOWN = "turnout is shutting down"


class StreamDrain:
    """The streams being relayed, so a stopping gateway can end each one properly."""

    def __init__(self) -> None:
        self._streams: set[asyncio.Task[object]] = set()
        self.stopping = False
        self._ending: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def relaying(self) -> Iterator[None]:
        """Around one stream's relay, in the task that relays it."""
        task = asyncio.current_task()
        assert task is not None
        self._streams.add(task)
        try:
            yield
        finally:
            self._streams.discard(task)

    def stop(self, drain_s: float) -> None:
        """Called once the server was asked to stop: after `drain_s`, end the open streams."""
        if self._ending is None:
            self._ending = asyncio.get_running_loop().create_task(self._end_after(drain_s))

    async def _end_after(self, drain_s: float) -> None:
        await asyncio.sleep(drain_s)
        self.stopping = True
        for task in list(self._streams):
            task.cancel(SHUTDOWN)

    def ended_by_shutdown(self) -> bool:
        """In a stream's task that was just cancelled: was it the shutdown? (If so the
        cancellation is taken back, so the stream can send its closing event.)"""
        task = asyncio.current_task()
        if not self.stopping or task is None:
            return False
        task.uncancel()
        return True
