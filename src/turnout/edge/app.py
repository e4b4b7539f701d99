"""The ASGI application: a table of endpoints, each answering in the dialect its path implies.

No framework: the gateway's own code is the only work on the request path, so its overhead is
what we measure.
"""

from __future__ import annotations

import hmac
import itertools
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from turnout import __version__, hops, periodic
from turnout.access.credentials import client_credential, presented_gateway_key
from turnout.access.visibility import paths_for
from turnout.diagnosis import diagnose
from turnout.edge.asgi import (
    BODY_TIMEOUT_S,
    BodyTooLarge,
    BodyTooSlow,
    ClientGone,
    Message,
    Receive,
    Scope,
    Send,
    header_map,
    read_body,
    send_response,
)
from turnout.edge.catalog_views import model_entry, models_body
from turnout.edge.dashboard import ADMIN_PATHS, AdminViews
from turnout.edge.hangup import HangUp
from turnout.edge.hosts import is_json, names_this_machine, same_origin
from turnout.edge.relay import Exchange, client_error, count_tokens, relay
from turnout.errors import ClientRequestError
from turnout.ledger.keys import GatewayKey
from turnout.providers.base import ClientCredential
from turnout.runtime.gateway import Gateway
from turnout.runtime.keysync import KeySync
from turnout.runtime.reload import ConfigReloader
from turnout.telemetry.logs import REQUEST_ID
from turnout.telemetry.snapshot import reset_fields
from turnout.wire import CHAT, GEMINI, MESSAGES, RESPONSES, Codec
from turnout.wire.chat import parse_embeddings

log = logging.getLogger("turnout.server")


def warm_up() -> None:
    """Load the rule table and texts now, not on the first failing request."""
    diagnose(status=400, body='{"error":{"message":"warm up"}}', lang="en")
    diagnose(status=400, body="", lang="zh")


Handler = Callable[["Request"], Awaitable[None]]

#: Prefixes clients put before the API paths (Hermes Agent needs `/anthropic`).
_PREFIXES = ("/anthropic", "/openai")
#: Gemini's API: the model in the path, the method after a colon (Gemini CLI, google-genai).
GEMINI_PREFIXES = ("/v1beta/models/", "/v1/models/")
_GEMINI_CALL = re.compile(
    r"^/v1(beta)?/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent|countTokens)$"
)


class Request:
    """One HTTP request, with the dialect its path implies for errors."""

    __slots__ = (
        "credential",
        "dialect",
        "finished",
        "gateway",
        "headers",
        "key",
        "method",
        "path",
        "receive",
        "request_id",
        "responded",
        "scope",
        "server_send",
        "started",
    )

    def __init__(
        self, scope: Scope, receive: Receive, send: Send, path: str, gateway: Gateway
    ) -> None:
        self.started = time.perf_counter()
        self.gateway = gateway  # the one in force when it arrived, even across a reload
        self.key: GatewayKey | None = None
        self.credential: ClientCredential | None = None  # the client's own, for its providers
        self.method: str = scope["method"]
        self.path = path
        self.headers = header_map(scope)
        self.receive = receive
        self.responded = False  # a response has started: it can no longer be replaced
        self.finished = False  # its last byte has been handed to the server
        self.server_send = send
        self.scope = scope  # the client address and query string, for /dashboard's access
        self.request_id = request_id(self.headers.get("x-request-id"))
        REQUEST_ID.set(self.request_id)  # for every log line while this request is served
        self.dialect: Codec = MESSAGES if _looks_anthropic(path, self.headers) else CHAT
        if path.startswith(GEMINI_PREFIXES):
            self.dialect = GEMINI

    async def send(self, message: Message) -> None:
        """The server's `send`, noting how far the response got. A method, not a closure kept
        on the request: that would be a reference cycle per request, left to the collector."""
        if message["type"] == "http.response.start":
            self.responded = True
        elif not message.get("more_body", False):
            self.finished = True
        await self.server_send(message)

    async def error(self, exc: ClientRequestError) -> None:
        status, body = client_error(self.dialect, exc)
        headers = [("x-request-id", self.request_id), *exc.headers]
        if status < 500 and not any(name == "x-should-retry" for name, _ in headers):
            headers.append(("x-should-retry", "false"))
        await send_response(self.send, status, body, headers)


#: Request ids: 64 random bits per process (replicas and restarts differ), then a counter (no
#: syscall per request).
_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count(1)
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id(from_client: str | None) -> str:
    """A unique id for the request (the ledger's key). A client's own `x-request-id` is kept
    in front of it for tracing, when it is a plain token; two clients sending the same one
    still get two records, since the whole of our part follows it."""
    ours = f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"
    if from_client and _CLIENT_ID.fullmatch(from_client):
        return f"{from_client}.{ours}"
    return ours


#: Codex first tries the Responses API over a WebSocket; a 426 makes it use HTTP at once
#: (other refusals go through its retry budget first).
WEBSOCKET_REFUSAL = orjson.dumps(
    {
        "error": {
            "message": "turnout serves the Responses API over HTTP (POST /v1/responses with "
            "server-sent events); WebSocket upgrades are not supported",
            "type": "invalid_request_error",
            "code": "websocket_unsupported",
        }
    }
)


async def refuse_websocket(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer an upgrade with 426 Upgrade Required, or a plain close (a 403) where the server
    cannot send an HTTP response to a WebSocket."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    await send({"type": "websocket.http.response.start", "status": 426, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": WEBSOCKET_REFUSAL})


def _looks_anthropic(path: str, headers: dict[str, str]) -> bool:
    return "/messages" in path or "anthropic-version" in headers


def query_value(scope: Scope, name: str) -> str:
    """One query parameter's value ("" when absent). Never logged: `?key=` is a secret."""
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0] if values else ""


def gemini_key_headers(headers: dict[str, str], scope: Scope) -> dict[str, str]:
    """The headers with a Gemini client's key where the gateway key is looked for: Google's
    clients send it as `x-goog-api-key`, or as `?key=` in the URL."""
    key = headers.get("x-goog-api-key", "").strip() or query_value(scope, "key").strip()
    if not key or headers.get("x-turnout-key"):
        return headers
    return {**headers, "x-turnout-key": key}


def _credential_of(path: str) -> str:
    """The provider a path or a client's use of it belongs to (`login@3f2a/m` -> `login`)."""
    return path.split("/", 1)[0].split("@", 1)[0]


def _normalize(raw_path: str) -> tuple[str, bool]:
    """The API path without a client prefix; and whether a prefix named Anthropic."""
    for prefix in _PREFIXES:
        if raw_path.startswith(prefix + "/"):
            return raw_path[len(prefix) :], prefix == "/anthropic"
    return raw_path, False


#: How much of a client-chosen path or user agent a log line keeps.
_LOGGED_CHARS = 200


def _log_unserved(request: Request, status: int) -> None:
    """A client asking for an endpoint turnout does not serve (a wrong base URL, an API it
    does not speak): said at info, so the operator sees who asks for what. The path and the
    user agent are the client's own text: cut short and repr'd, so no line can be forged."""
    agent = request.headers.get("user-agent", "")[:_LOGGED_CHARS]
    log.info(
        "%s %s %r: not an endpoint turnout serves (%d); user agent %r",
        request.request_id,
        request.method[:16],
        request.path[:_LOGGED_CHARS],
        status,
        agent,
    )


class TurnoutApp:
    def __init__(self, gateway: Gateway, config_path: Path | None = None) -> None:
        self.gateway = gateway
        self.reloader = ConfigReloader(self, config_path) if config_path else None
        self.keysync = KeySync(lambda: self.gateway)
        self._routes: dict[tuple[str, str], Handler] = {
            ("POST", "/v1/chat/completions"): self._chat_openai,
            ("POST", "/chat/completions"): self._chat_openai,
            ("POST", "/v1/messages"): self._chat_anthropic,
            ("POST", "/v1/responses"): self._responses,
            ("POST", "/v1/embeddings"): self._embeddings,
            ("POST", "/embeddings"): self._embeddings,
            ("POST", "/responses"): self._responses,
            ("POST", "/v1/messages/count_tokens"): self._count_tokens,
            ("GET", "/v1/models"): self._models,
            ("GET", "/models"): self._models,
            ("GET", "/healthz"): self._healthz,
            ("HEAD", "/healthz"): self._healthz,  # load balancers probe with HEAD too
            ("GET", "/turnout/paths"): self._paths,
            **AdminViews(lambda: self.gateway).routes,  # /metrics, /dashboard: admin access
        }
        self._known_paths = {path for _, path in self._routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            await refuse_websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        path, anthropic_prefix = _normalize(scope["path"])
        gateway = self.gateway
        request = Request(scope, receive, send, path, gateway)
        if anthropic_prefix:
            request.dialect = MESSAGES
        gateway.active += 1
        try:
            await self._dispatch(request)
        except ClientRequestError as exc:
            await request.error(exc)
        except ClientGone:
            return
        except Exception:
            log.exception("%s internal error on %s %s", request.request_id, request.method, path)
            if request.responded:
                return  # a started response cannot be turned into an error; the client sees a cut
            await request.error(
                ClientRequestError(
                    500, "turnout internal error; see the gateway log", kind="unknown"
                )
            )
        finally:
            gateway.active -= 1

    async def _dispatch(self, request: Request) -> None:
        self._screen(request)
        via = request.headers.get("via", "")
        if via:
            reason = hops.loop_reason(via)
            if reason is not None:
                raise ClientRequestError(
                    508,
                    f"turnout: {reason}: a provider's base_url leads back to a turnout gateway "
                    "(is ANTHROPIC_BASE_URL or OPENAI_BASE_URL pointing at turnout in the shell "
                    "that runs it?)",
                    kind="invalid_request",  # what an upstream turnout reads: no retry helps
                    code="gateway_loop",
                )
            hops.incoming_via.set(via)  # this request's own task: later hops see it
        handler = self._routes.get((request.method, request.path))
        if handler is not None:
            self._authorize(request)
            await handler(request)
            return
        gemini = _GEMINI_CALL.match(request.path) if request.method == "POST" else None
        if gemini is not None:
            self._authorize(request)
            await self._gemini(request, unquote(gemini["model"]), gemini["method"])
        elif request.method == "GET" and request.path.startswith(("/v1/models/", "/models/")):
            self._authorize(request)
            await self._model(request)
        elif request.path in self._known_paths:
            _log_unserved(request, 405)
            raise ClientRequestError(405, f"{request.method} is not allowed on {request.path}")
        else:
            _log_unserved(request, 404)
            raise ClientRequestError(
                404,
                f"turnout has no endpoint {request.path}; use /v1/chat/completions, "
                "/v1/responses, /v1/messages, /v1beta/models/{model}:generateContent or "
                "/v1/models",
                kind="endpoint_not_found",
            )

    @staticmethod
    def _screen(request: Request) -> None:
        """Refuse what a web page could send (see `hosts`): a keyless gateway answers only
        requests naming this machine; the operator's pages only their own origin."""
        gateway = request.gateway
        keyless = not gateway.config.server.keys and not gateway.shared.keyring
        if keyless and not names_this_machine(request.headers, request.scope):
            raise ClientRequestError(
                403,
                "turnout without gateway keys answers requests for this machine only "
                "(Host: 127.0.0.1, localhost or the address it listens on)",
                kind="permission",
                code="host_not_allowed",
            )
        if request.path in ADMIN_PATHS and not same_origin(request.headers):
            raise ClientRequestError(
                403,
                "the dashboard and /metrics answer their own pages only (Origin mismatch)",
                kind="permission",
                code="origin_not_allowed",
            )

    def _authorize(self, request: Request) -> None:
        """Once any gateway key exists (in the config or made with `turnout keys`), every
        request needs one; it may come as `x-turnout-key`, `x-api-key` or `Authorization:
        Bearer`. The client's own provider credential is told apart here (see
        `turnout.access.credentials`)."""
        static = request.gateway.config.server.keys
        keyring = request.gateway.shared.keyring
        if request.path == "/healthz" or request.path in ADMIN_PATHS:
            return
        if not static and not keyring:
            request.credential = client_credential(request.headers, keys_required=False)
            return
        headers = request.headers
        if request.dialect is GEMINI:
            headers = gemini_key_headers(request.headers, request.scope)
        presented = presented_gateway_key(headers)
        request.credential = client_credential(
            request.headers, keys_required=True, gateway_key=presented
        )
        request.key = keyring.match(presented) if presented else None
        supplied = presented.encode()
        if request.key is None and not any(
            hmac.compare_digest(supplied, key.value.encode()) for key in static
        ):
            raise ClientRequestError(
                401,
                "missing or invalid turnout gateway key (x-turnout-key, x-api-key, "
                "Authorization: Bearer, or x-goog-api-key for the Gemini API)",
                kind="auth",
                code="invalid_api_key",
            )

    async def _read_json_body(self, request: Request) -> bytes:
        content_type = request.headers.get("content-type", "")
        if not is_json(content_type):
            shown = repr(content_type[:100]) if content_type else "missing"
            raise ClientRequestError(415, f"content-type must be application/json, not {shown}")
        try:
            return await read_body(request.receive, request.gateway.config.server.max_body_bytes)
        except BodyTooLarge:
            limit = request.gateway.config.server.max_body_bytes
            raise ClientRequestError(
                413,
                f"request body exceeds turnout's limit of {limit} bytes",
                kind="payload_too_large",
            ) from None
        except BodyTooSlow:
            raise ClientRequestError(
                408, f"request body did not arrive within {BODY_TIMEOUT_S:.0f} s", kind="timeout"
            ) from None

    async def _chat(self, request: Request) -> None:
        body = await self._read_json_body(request)
        parsed = request.dialect.parse(body)
        exchange = Exchange(
            request.dialect, parsed, request.headers, request.request_id, request.started,
            request.key, request.credential,
        )  # fmt: skip
        async with HangUp(request.receive, lambda: request.finished, request.scope):
            await relay(request.gateway, exchange, request.send)

    async def _chat_openai(self, request: Request) -> None:
        request.dialect = CHAT
        await self._chat(request)

    async def _chat_anthropic(self, request: Request) -> None:
        request.dialect = MESSAGES
        await self._chat(request)

    async def _responses(self, request: Request) -> None:
        request.dialect = RESPONSES
        await self._chat(request)

    async def _gemini(self, request: Request, model: str, method: str) -> None:
        """Gemini's `models/{model}:generateContent` and `:streamGenerateContent?alt=sse`;
        `:countTokens` is estimated (about four bytes a token), as no path is asked."""
        request.dialect = GEMINI
        body = await self._read_json_body(request)
        if method == "countTokens":
            await send_response(
                request.send, 200, orjson.dumps({"totalTokens": max(1, len(body) // 4)})
            )
            return
        stream = method == "streamGenerateContent"
        if stream and query_value(request.scope, "alt") != "sse":
            raise ClientRequestError(
                400,
                "turnout streams Gemini answers as server-sent events only: "
                "ask for :streamGenerateContent?alt=sse",
            )
        parsed = GEMINI.parse_for(body, model.removeprefix("models/"), stream)
        exchange = Exchange(
            GEMINI, parsed, request.headers, request.request_id, request.started, request.key,
            request.credential,
        )  # fmt: skip
        async with HangUp(request.receive, lambda: request.finished, request.scope):
            await relay(request.gateway, exchange, request.send)

    async def _embeddings(self, request: Request) -> None:
        request.dialect = CHAT
        body = await self._read_json_body(request)
        exchange = Exchange(
            CHAT, parse_embeddings(body), request.headers, request.request_id, request.started,
            request.key, operation="embeddings",
        )  # fmt: skip
        await relay(request.gateway, exchange, request.send)

    async def _count_tokens(self, request: Request) -> None:
        request.dialect = MESSAGES
        body = await self._read_json_body(request)
        exchange = Exchange(
            request.dialect,
            request.dialect.parse(body),
            request.headers,
            request.request_id,
            request.started,
            request.key,
            credential=request.credential,
        )
        async with HangUp(request.receive, lambda: request.finished, request.scope):
            await count_tokens(request.gateway, exchange, request.send)

    async def _models(self, request: Request) -> None:
        anthropic = "anthropic-version" in request.headers
        body = models_body(request.gateway, anthropic, request.key)
        await send_response(request.send, 200, body)

    async def _model(self, request: Request) -> None:
        name = request.path.split("/models/", 1)[1]
        entry = model_entry(request.gateway, name, request.key)
        if "paths" not in entry:
            raise ClientRequestError(
                404,
                f"turnout has no route for model {name!r}",
                kind="model_not_found",
                code="gateway_no_route",
            )
        await send_response(request.send, 200, orjson.dumps(entry))

    async def _healthz(self, request: Request) -> None:
        loops = periodic.running()
        body: dict[str, Any] = {
            "status": "degraded" if any(loop.failing for loop in loops) else "ok",
            "version": __version__,
            "routes": len(request.gateway.config.routes),
            "state": request.gateway.shared.state.status().to_dict(),
            "loops": {loop.what: loop.to_dict() for loop in loops},
        }
        await send_response(request.send, 200, orjson.dumps(body))

    async def _paths(self, request: Request) -> None:
        """Paths this gateway is keeping out of service (gated or cooling), for doctor."""
        health = request.gateway.health
        shown = paths_for(request.gateway.config, request.key)
        paths = [
            {
                "path": path,
                "scope": "path" if "/" in path else "credential",
                "state": "gated" if mark.gated else "cooling",
                "category": mark.diagnosis.category.value,
                "code": mark.diagnosis.code,
                "title": mark.diagnosis.title,
                "seconds_left": round(health.seconds_left(mark), 1),  # to the next probe
                **reset_fields(mark),
            }
            for path, mark in (await health.snapshot()).items()
            if shown is None or path in shown or _credential_of(path) in shown
        ]
        state = request.gateway.shared.state.status().to_dict()
        headroom = {
            path: seen
            for path, seen in request.gateway.shared.headroom.snapshot(time.time()).items()
            if shown is None or path in shown or _credential_of(path) in shown
        }
        body = {"paths": paths, "headroom": headroom, "state_backend": state}
        await send_response(request.send, 200, orjson.dumps(body))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                warm_up()
                await self.gateway.shared.state.start()
                if self.gateway.ledger is not None:
                    await self.gateway.ledger.start()
                await self.keysync.start()
                if self.reloader is not None:
                    self.reloader.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.keysync.stop()
                if self.reloader is not None:
                    await self.reloader.stop()
                await self.gateway.aclose()
                if self.gateway.ledger is not None:
                    await self.gateway.ledger.stop()
                shared = self.gateway.shared
                await shared.prefill.settled()  # what was learned reaches the store first
                await shared.pace.settled()
                await shared.state.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
