"""uvicorn's httptools protocol with the limits a server facing untrusted clients needs.

uvicorn bounds neither the size of a request head nor the time a client may take to send it,
and a connection that never sends a byte is kept forever: a thousand idle sockets exhaust the
process's descriptors and everyone is refused. Here a request head (request line and headers)
must arrive within `HEAD_TIMEOUT_S` of the connection opening or of the previous response, and
be at most `MAX_HEAD_BYTES`; a slower or larger one gets 408 or 431 and the connection closes.
The body's own deadline is the edge's (`asgi.read_body`).

Each request also gets a `ConnectionWatch` in its scope, closed when the connection is lost
before its response completed: the app learns of a hang-up without a task of its own waiting
on `receive()` (`edge/hangup.py`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from turnout.edge.hangup import CONNECTION_WATCH, ConnectionWatch

#: Generous for any real client: agents send a few KB of headers at most.
MAX_HEAD_BYTES = 64 * 1024
HEAD_TIMEOUT_S = 30.0


def _reply(status: bytes, reason: str) -> bytes:
    body = f"turnout: {reason}\n".encode()
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )


TOO_LARGE = _reply(b"431 Request Header Fields Too Large", "request headers exceed 64 KiB")
TOO_SLOW = _reply(b"408 Request Timeout", "request headers did not arrive in time")


class BoundedHttpProtocol(HttpToolsProtocol):
    max_head_bytes = MAX_HEAD_BYTES
    head_timeout_s = HEAD_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True  # waiting for (the rest of) a request head
        self._head_timer: asyncio.TimerHandle | None = None
        #: The watches of the requests whose responses are not complete, oldest first.
        self._watches: deque[ConnectionWatch] = deque()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_clock()
        watches, self._watches = self._watches, deque()
        super().connection_lost(exc)
        for watch in watches:
            watch.close()

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)  # a head completed in `data` resets the count
        if self._in_head and self._head_bytes > self.max_head_bytes:
            self._refuse(TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._stop_head_clock()
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.scope is self.scope:  # a request, no upgrade
            watch = ConnectionWatch()
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions[CONNECTION_WATCH] = watch
            self._watches.append(watch)

    def on_response_complete(self) -> None:
        if self._watches:
            self._watches.popleft()  # responses complete in the order requests came
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._in_head = True  # a kept-alive connection waits for the next head
            self._start_head_clock()

    def _start_head_clock(self) -> None:
        self._stop_head_clock()
        loop = asyncio.get_running_loop()
        self._head_timer = loop.call_later(self.head_timeout_s, self._refuse, TOO_SLOW)

    def _stop_head_clock(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _refuse(self, reply: bytes) -> None:
        self._stop_head_clock()
        if not self.transport.is_closing():  # only ever between requests: no response is open
            self.transport.write(reply)
            self.transport.close()
