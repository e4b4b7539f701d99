"""An upstream that misbehaves on purpose: a real HTTP server on 127.0.0.1 whose every answer
is one handler the test writes (a huge body, a gzip bomb, a redirect, an endless stream).

    async def endless(request: web.Request, up: HostileUpstream) -> web.StreamResponse: ...
    with HostileUpstream(endless) as up:
        ...
        assert up.written < 8 * MIB  # the gateway hung up long before the end

Every handler is bounded (a test's worst case ends by itself); `written` counts the body bytes
handlers managed to send, `requests` the requests received (path and headers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from tests.fakes.serving_thread import ServingThread

Handler = Callable[[web.Request, "HostileUpstream"], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Received:
    host: str
    path: str
    headers: dict[str, str]


class HostileUpstream(ServingThread):
    """Serves `handler` for every POST on a free port of 127.0.0.1, in its own thread."""

    thread_name = "hostile upstream"

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[Received] = []
        self.written = 0
        self.finished = asyncio.Event()  # set (on the server's loop) when a handler returns
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        super().__init__()

    @property
    def url(self) -> str:
        assert self._port is not None
        return f"http://127.0.0.1:{self._port}"

    async def start_servers(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def stop_servers(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Received(request.host, request.path, headers))
        return await self._handler(request, self)

    async def send(self, response: web.StreamResponse, data: bytes) -> bool:
        """Write `data`; False once the gateway has gone away."""
        try:
            await response.write(data)
        except (ConnectionError, RuntimeError):
            return False
        self.written += len(data)
        return True
