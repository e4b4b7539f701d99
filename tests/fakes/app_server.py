"""An aiohttp application on a free port of 127.0.0.1, in its own thread, recording requests."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.fakes.serving_thread import ServingThread
from tests.fakes.upstream import RecordedRequest, _parse


class AppServer(ServingThread):
    """Serves `app()` of a subclass; every request is recorded (body read) before handling."""

    thread_name = "fake cloud upstream"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._runner: web.AppRunner | None = None
        self._port = 0
        super().__init__()

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    async def start_servers(self) -> None:
        @web.middleware
        async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
            body = await request.read()
            self.requests.append(
                RecordedRequest(
                    request.method,
                    request.raw_path,  # as sent: still percent-encoded, with the query
                    {k.lower(): v for k, v in request.headers.items()},
                    body,
                    _parse(body),
                )
            )
            return await handler(request)

        app = web.Application(middlewares=[record])
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop_servers(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
