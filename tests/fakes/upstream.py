"""A real HTTP server on 127.0.0.1 that plays a scripted model provider.

Routes: POST /v1/chat/completions, /chat/completions and /beta/chat/completions (OpenAI
dialect),
POST /v1/responses and /responses (OpenAI Responses), POST /v1/embeddings, POST /v1/messages
(Anthropic dialect), POST /v1beta/models/{model}:generateContent and :streamGenerateContent
(Gemini, checked as the API checks it: see gemini_wire), POST /v1/messages/count_tokens and
GET /v1/models. Only
the answer routes consume scripted steps; the other two always succeed. Every
request to any path is recorded first.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from tests.fakes import gemini_wire
from tests.fakes.delivery import (
    ANTHROPIC,
    EMBEDDINGS,
    GEMINI,
    OPENAI,
    RESPONSES,
    Dialect,
    Exchange,
    answer,
)
from tests.fakes.steps import Reply, Step

ROUTES: dict[str, Dialect] = {
    "/v1/chat/completions": OPENAI,
    "/chat/completions": OPENAI,
    "/beta/chat/completions": OPENAI,  # DeepSeek's beta base (chat prefix completion)
    "/v1/messages": ANTHROPIC,
    "/v1/responses": RESPONSES,
    "/responses": RESPONSES,
    "/v1/embeddings": EMBEDDINGS,
}
STOP_GRACE_S = 1.0
JSON_TYPE = "application/json"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received: header names lower-cased, `json` None if the body was not JSON."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    received_at: float = field(default_factory=time.monotonic)  # to check waits between calls


def _parse(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


class FakeUpstream:
    """An aiohttp server on a free port of 127.0.0.1 speaking the OpenAI and Anthropic APIs.

    `url` is the origin ("http://127.0.0.1:PORT"); OpenAI clients want `url + "/v1"`.
    Use as `async with FakeUpstream() as fake:`, or call `start()` and `stop()`.
    `script()` may be called from any thread.
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.models: list[str] = ["fake-model"]
        self._steps: list[Step] = []
        self._lock = threading.Lock()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeUpstream is not started")
        return f"http://127.0.0.1:{self._port}"

    def script(self, *steps: Step) -> None:
        """Answer the next requests with these steps in order, the last one repeating.

        With no steps, every request gets the default `Reply()`.
        """
        with self._lock:
            self._steps = list(steps)

    def _next_step(self) -> Step:
        with self._lock:
            if len(self._steps) > 1:
                return self._steps.pop(0)
            return self._steps[0] if self._steps else Reply()

    async def start(self) -> None:
        app = web.Application(middlewares=[self._record])
        for path in ROUTES:
            app.router.add_post(path, self._answer)
        app.router.add_post("/{version:v1|v1alpha|v1beta}/models/{call}", self._gemini)
        app.router.add_post("/v1/messages/count_tokens", _count_tokens)
        app.router.add_get("/v1/models", self._list_models)
        # Handlers whose client went away are cancelled, so stalls end with their tests.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=STOP_GRACE_S
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Cancel running handlers (stalled ones included), then close the server."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        for task in self._handlers:
            task.cancel()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=STOP_GRACE_S)
        await runner.cleanup()

    async def __aenter__(self) -> FakeUpstream:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.requests.append(
            RecordedRequest(request.method, request.path, headers, body, _parse(body))
        )
        task = asyncio.current_task()
        assert task is not None  # aiohttp runs each handler in a task of its own
        self._handlers.add(task)
        try:
            return await handler(request)
        finally:
            self._handlers.discard(task)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        parsed = _parse(await request.read())
        exchange = Exchange(
            request, ROUTES[request.path], parsed if isinstance(parsed, dict) else {}
        )
        return await answer(self._next_step(), exchange)

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["call"].partition(":")
        parsed = _parse(await request.read())
        refused = gemini_wire.refusal(request.headers, request.query, method, parsed)
        if refused is not None:
            status, error = refused
            return web.Response(status=status, body=orjson.dumps(error), content_type=JSON_TYPE)
        data = {**parsed, "model": model}  # the URL's model, for the answer to name
        exchange = Exchange(request, GEMINI, data, stream=method == "streamGenerateContent")
        return await answer(self._next_step(), exchange)

    async def _list_models(self, request: web.Request) -> web.Response:
        """The list in the Anthropic shape when the client sent `anthropic-version`."""
        if "anthropic-version" in request.headers:
            return _json(_anthropic_models(self.models))
        return _json(_openai_models(self.models))


def _openai_models(models: list[str]) -> dict[str, Any]:
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in models]
    return {"object": "list", "data": data}


def _anthropic_models(models: list[str]) -> dict[str, Any]:
    data = [
        {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
        for m in models
    ]
    ends = (models[0], models[-1]) if models else (None, None)
    return {"data": data, "has_more": False, "first_id": ends[0], "last_id": ends[1]}


async def _count_tokens(request: web.Request) -> web.Response:
    """Roughly four bytes a token, like the usual estimate; never zero."""
    return _json({"input_tokens": max(1, len(await request.read()) // 4)})


def _json(body: object) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")
