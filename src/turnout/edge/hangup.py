"""Noticing a client that hangs up, so its request stops costing anything.

The ASGI server only says so through `receive()`: once the body is read, the next message is
`http.disconnect`, when the connection drops or when the response is complete. A sent message
to a closed connection is dropped without an error, so a request that only sends never learns
of it: a stream would be read from the upstream (and paid for) to its end, and recorded as
served. `HangUp` cancels the request's work the moment the client is gone: the upstream call
is closed where it stands, probe leases are given back, and the ledger records `client_gone`
with what was used so far.

It learns of the loss from the server's protocol (`edge/protocol.py`), which hands each request
a `ConnectionWatch` in its scope and closes it when the connection is lost: no task per
request. Under a server that does not, a task watches `receive()` beside the work instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from turnout.edge.asgi import ClientGone, Receive

#: The scope extension under which `edge/protocol.py` hands a request its `ConnectionWatch`.
CONNECTION_WATCH = "turnout.connection_watch"


class ConnectionWatch:
    """Told by the server when a request's connection is lost before its response completed;
    tells its one listener at once (or on `listen`, when it was lost before)."""

    __slots__ = ("_listener", "lost")

    def __init__(self) -> None:
        self._listener: Callable[[], None] | None = None
        self.lost = False

    def listen(self, listener: Callable[[], None] | None) -> None:
        """Call `listener` when the connection is lost; None stops listening."""
        self._listener = listener
        if listener is not None and self.lost:
            listener()

    def close(self) -> None:
        """The connection is lost (called by the server's protocol)."""
        if not self.lost:
            self.lost = True
            if self._listener is not None:
                self._listener()


class HangUp:
    """`async with HangUp(receive, finished, scope):` around a request's work, once its body
    is read.

    Inside, a hang-up cancels the work; on the way out the cancellation becomes `ClientGone`
    (an outside cancellation, a server shutdown, stays a cancellation). `finished()` tells a
    complete response, after which the server's disconnect message is not a hang-up.
    """

    def __init__(
        self, receive: Receive, finished: Callable[[], bool], scope: Mapping[str, Any]
    ) -> None:
        self._receive = receive
        self._finished = finished
        self._connection: ConnectionWatch | None = scope.get("extensions", {}).get(CONNECTION_WATCH)
        self._task: asyncio.Task[object] | None = None
        self._watch: asyncio.Task[None] | None = None
        self.gone = False

    async def __aenter__(self) -> HangUp:
        self._task = asyncio.current_task()
        if self._connection is not None:
            self._connection.listen(self._lost)
        else:
            self._watch = asyncio.get_running_loop().create_task(self._watch_receive())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task is not None
        if self._connection is not None:
            self._connection.listen(None)  # it holds this object: no cycle is left behind
        if self._watch is not None:
            self._watch.cancel()
            # The cancelled watch keeps its CancelledError, whose traceback holds the watch's
            # frame and so this object: let go of the task, or each request leaves a cycle.
            self._watch = None
        if self.gone and exc_type is asyncio.CancelledError and self._task.uncancel() == 0:
            raise ClientGone from exc

    async def _watch_receive(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                break
        self._lost()

    def _lost(self) -> None:
        if not self._finished() and self._task is not None and not self._task.done():
            self.gone = True
            self._task.cancel()
