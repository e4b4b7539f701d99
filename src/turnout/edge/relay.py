"""Relay one chat request: route it, answer with what a path served, or explain every failure.

Once the first byte of a stream has gone to the client nothing can fail over any more: a later
failure ends the stream with an error event in the client's dialect, never a quiet cut that
would pass a truncated answer off as complete. Every request is recorded in the ledger before
its last bytes leave.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from turnout.access.admission import admit, settle
from turnout.access.visibility import sees_operator_detail, told_of, without_endpoint
from turnout.config.model import RouteConfig, Target
from turnout.diagnosis import Diagnosis, diagnose
from turnout.edge.asgi import Send, end_stream, send_chunk, send_response, start_stream
from turnout.edge.failures import client_language, failure_response, stream_error
from turnout.edge.resume import Broken, recover
from turnout.edge.streaming import convert_whole, stream_relay
from turnout.errors import ClientRequestError, UpstreamError
from turnout.ledger.keys import GatewayKey
from turnout.ledger.usage import Usage, UsageMeter, usage_of_body
from turnout.providers.base import ClientCredential, Provider, UpstreamCall
from turnout.routing.chain import Attempt, Failed, Served
from turnout.routing.continuation import ClientStream
from turnout.routing.deadlines import ask_of
from turnout.routing.echo import ClientEcho
from turnout.routing.resolve import resolve_route, target_model
from turnout.runtime.gateway import Gateway
from turnout.runtime.shutdown import SHUTDOWN
from turnout.telemetry import accounting
from turnout.telemetry.accounting import CLIENT_GONE, Tally, trail
from turnout.wire import CODECS, MESSAGES, CannotCarry, Codec, StreamRelay, UpstreamStreamError, hub
from turnout.wire.base import ParsedRequest
from turnout.wire.head import with_model
from turnout.wire.sse import Event
from turnout.wire.translate import encode_for

log = logging.getLogger("turnout.relay")
#: The outcome of a stream ended by the gateway stopping.
SHUTDOWN_CODE = "gateway_shutting_down"
_NO_REQUEST = hub.Request(model="", messages=[])  # a same-wire stream decodes no request

#: Upstream response headers worth passing on to the client.
_FORWARDED_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-", "retry-after", "request-id")
#: Client headers providers may need (lower-case).
_CLIENT_HEADERS = ("anthropic-version", "anthropic-beta")


@dataclass(slots=True)
class Exchange:
    """One client request as the relay sees it."""

    dialect: Codec
    request: ParsedRequest
    headers: Mapping[str, str]
    request_id: str
    started: float
    key: GatewayKey | None = None
    credential: ClientCredential | None = None  # the client's own, for `api_key: client`
    operation: str = "chat"  # or "embeddings": relayed as sent, on paths that offer it
    #: Paths whose wire cannot carry what the request needs, with what (client's words).
    refusals: list[str] = field(default_factory=list)
    _decoded: hub.Request | None = None

    def decoded(self) -> hub.Request:
        """The request in the hub, decoded once however many paths need a translation."""
        if self._decoded is None:
            self._decoded = self.dialect.decode_request(self.request.data)
        return self._decoded

    def tally(self) -> Tally:
        return Tally(
            request_id=self.request_id,
            model=self.request.model,
            client_dialect=self.dialect.name,
            stream=self.request.stream,
            started=self.started,
            key_id=self.key.id if self.key else None,
        )

    @property
    def provider_headers(self) -> dict[str, str]:
        """The client's headers a provider may need (API version, beta features)."""
        return {k: self.headers[k] for k in _CLIENT_HEADERS if k in self.headers}


def client_error(dialect: Codec, exc: ClientRequestError) -> tuple[int, bytes]:
    body = dialect.error_body(exc.status, exc.kind, exc.message, {"code": exc.code})
    return exc.status, body


async def close(
    gateway: Gateway,
    tally: Tally,
    *,
    status: int,
    outcome: str,
    category: str | None,
    attempts: list[Attempt],
    served: Served | None = None,
    upstream_dialect: str | None = None,
    usage: Usage | None = None,
    upstream_s: float = 0.0,
) -> None:
    """Record the request (telemetry publishes it), then settle its budgets with its cost."""
    price_of, shared = gateway.config.price_of, gateway.shared
    record = accounting.close(
        tally, price_of, shared.records, status=status, outcome=outcome, category=category,
        attempts=attempts, served=served, upstream_dialect=upstream_dialect, usage=usage,
        upstream_s=upstream_s,
    )  # fmt: skip
    await settle(shared.budgets, shared.keyring, price_of, tally, record)


def _route_for(gateway: Gateway, exchange: Exchange) -> RouteConfig:
    model = exchange.request.model
    route = resolve_route(gateway.config, model, exchange.headers.get("x-turnout-task"))
    if route is None:
        names = ", ".join(told_of(gateway.config, exchange.key)) or "none"
        raise ClientRequestError(
            404,
            f"turnout has no route for model {model!r}; configured models: {names}",
            kind="model_not_found",
            code="gateway_no_route",
        )
    return route


def upstream_codec(client: Codec, provider: Provider, model: str) -> Codec:
    """The wire a path answers in for its model ("any": the mock answers in the client's)."""
    dialect = provider.dialect_for(model)
    return client if dialect == "any" else CODECS[dialect]


def _body_for(
    gateway: Gateway, route: RouteConfig, exchange: Exchange, tally: Tally, target: Target,
    provider: Provider,
) -> bytes | None:  # fmt: skip
    """The request for one path: the client's bytes with the path's model, or a translation
    (None when that path cannot carry the request)."""
    if exchange.operation not in provider.operations:
        exchange.refusals.append(
            f"{target.path} (kind {provider.config.kind}) has no {exchange.operation} API"
        )
        return None
    upstream = upstream_codec(exchange.dialect, provider, target.model)
    if upstream is exchange.dialect or exchange.operation != "chat":
        return exchange.dialect.same_wire_body(exchange.request, target.model)
    allow_drop = gateway.config.settings_for(route, provider.config).allow_drop
    try:
        translated = encode_for(exchange.decoded(), upstream, target.model, allow_drop=allow_drop)
    except CannotCarry as exc:
        tally.notes.append(f"{target.path} cannot carry: {', '.join(exc.labels)}")
        exchange.refusals.append(f"{target.path} cannot carry {', '.join(exc.labels)}")
        return None
    if translated.dropped:
        tally.notes.append(f"{target.path} dropped: {', '.join(translated.dropped)}")
    return orjson.dumps(translated.body)


async def relay(gateway: Gateway, exchange: Exchange, send: Send) -> None:
    tally = exchange.tally()
    try:
        route = _route_for(gateway, exchange)
        tally.route = route.name
        await admit(
            gateway.shared.budgets,
            gateway.config.price_of,
            exchange.key,
            route,
            exchange.request,
            tally,
        )
    except ClientRequestError as exc:
        await close(
            gateway, tally, status=exc.status, outcome=exc.code, category=exc.kind, attempts=[]
        )
        raise
    try:
        await _serve(gateway, exchange, tally, route, send)
    except asyncio.CancelledError:  # the client hung up (see edge/hangup.py)
        await asyncio.shield(_close_early(gateway, tally, 499, CLIENT_GONE))
        raise
    except ClientRequestError as exc:
        await _close_early(gateway, tally, exc.status, exc.code, exc.kind)
        raise
    except Exception:
        await _close_early(gateway, tally, 500, "internal_error")
        raise
    finally:
        if tally.served is not None:
            await asyncio.shield(tally.served.response.close())  # the upstream is let go


async def _close_early(
    gateway: Gateway, tally: Tally, status: int, outcome: str, category: str | None = None
) -> None:
    """Record a request that ended before its answer was complete, with what it used: the
    attempts so far, the path that was answering and the tokens it had sent."""
    if tally.closed:
        return
    served = tally.served
    await close(
        gateway, tally, status=status, outcome=outcome, category=category,
        attempts=tally.attempts, served=served, usage=tally.usage_so_far(),
        upstream_dialect=upstream_codec(
            CODECS[tally.client_dialect], served.provider, served.target.model
        ).name
        if served
        else None,
        upstream_s=served.upstream_s if served else 0.0,
    )  # fmt: skip


async def _serve(
    gateway: Gateway, exchange: Exchange, tally: Tally, route: RouteConfig, send: Send
) -> None:
    request = exchange.request
    call = UpstreamCall(
        operation=exchange.operation,
        dialect=exchange.dialect.name,
        body=request.body,
        model=request.model,
        stream=request.stream,
        settings=gateway.config.defaults,
        client_headers=exchange.provider_headers,
        credential=exchange.credential,
    )
    outcome = await gateway.chain.run(
        route,
        call,
        lambda t, p: _body_for(gateway, route, exchange, tally, t, p),
        request.model,
        ClientEcho.lazy(lambda: request.data),
        tally.attempts,
        ask_of(request.head, len(request.body)),
    )
    if isinstance(outcome, Served):
        tally.served = outcome
    if isinstance(outcome, Failed) and _nothing_tried(outcome) and exchange.refusals:
        await _refuse(gateway, exchange, tally, outcome, route)
    elif isinstance(outcome, Failed):
        await _send_failure(gateway, exchange, tally, outcome, send)
    elif request.stream:
        await _relay_stream(gateway, exchange, tally, route, outcome, send)
    else:
        await _relay_whole(gateway, exchange, tally, outcome, send)


def _nothing_tried(failed: Failed) -> bool:
    return all(attempt.outcome == "skipped" for attempt in failed.attempts)


async def _refuse(
    gateway: Gateway, exchange: Exchange, tally: Tally, failed: Failed, route: RouteConfig
) -> None:
    """No path's wire can carry what the request needs, or no path offers the operation
    (embeddings on a chat route): the client's fault, said as such."""
    if exchange.operation != "chat":
        code = "cannot_embed" if exchange.operation == "embeddings" else "not_offered"
        offered = sorted(
            name for name, p in gateway.providers.items() if exchange.operation in p.operations
        )
        message = (
            f"turnout: no path of model route {route.name!r} can serve {exchange.operation}: "
            f"{'; '.join(exchange.refusals)}. Ask a route whose paths offer them"
            + (f" (providers here that do: {', '.join(offered)})." if offered else ".")
        )
    else:
        code = "cannot_carry"
        message = (
            f"turnout: no path of model route {route.name!r} can carry this request: "
            f"{'; '.join(exchange.refusals)}. Remove what it names, or set `allow_drop: true` "
            "on the route to send it without."
        )
    await close(
        gateway, tally, status=400, outcome=code, category="invalid_request",
        attempts=failed.attempts,
    )  # fmt: skip
    raise ClientRequestError(400, message, code=code)


def _turnout_headers(
    exchange: Exchange, attempts: list[Attempt], served: Target | None, upstream_s: float
) -> list[tuple[str, str]]:
    overhead_ms = (time.perf_counter() - exchange.started - upstream_s) * 1000
    return [
        ("x-turnout-path", served.path if served else "none"),
        ("x-turnout-attempts", trail(attempts)),
        ("x-turnout-overhead-ms", f"{max(0.0, overhead_ms):.2f}"),
        ("x-request-id", exchange.request_id),
    ]


def _forwarded(exchange: Exchange, headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The upstream's rate-limit headers, for the operator only (they are the shared
    organisation's: see `access.visibility`)."""
    if not sees_operator_detail(exchange.key):
        return []
    return [(k, v) for k, v in headers.items() if k.startswith(_FORWARDED_PREFIXES)]


async def _relay_whole(
    gateway: Gateway, exchange: Exchange, tally: Tally, served: Served, send: Send
) -> None:
    upstream = upstream_codec(exchange.dialect, served.provider, served.target.model)
    if exchange.operation != "chat":
        upstream = exchange.dialect  # embeddings: one wire, relayed as they came
    raw = served.body
    try:
        body = convert_whole(upstream, exchange.dialect, raw, served.data, served.target.model)
    except ValueError as exc:
        diagnosis = diagnose(status=502, log=f"malformed response from upstream: {exc}")
        await _send_diagnosed(gateway, exchange, tally, diagnosis, served.attempts, send)
        return
    headers = _turnout_headers(exchange, served.attempts, served.target, served.upstream_s)
    headers += _forwarded(exchange, served.response.headers)
    await close(
        gateway, tally, status=200, outcome="ok", category=None, attempts=served.attempts,
        served=served, upstream_dialect=upstream.name, usage=usage_of_body(served.data, upstream),
        upstream_s=served.upstream_s,
    )  # fmt: skip
    tally.mark_first_byte()
    await send_response(send, 200, body, headers)


async def _relay_stream(
    gateway: Gateway,
    exchange: Exchange,
    tally: Tally,
    route: RouteConfig,
    served: Served,
    send: Send,
) -> None:
    upstream = upstream_codec(exchange.dialect, served.provider, served.target.model)
    tally.meter = UsageMeter(upstream)
    client = tally.client = ClientStream(exchange.dialect.name)
    relay = stream_relay(
        upstream, exchange.dialect, served.target.model, exchange.request.head,
        exchange.decoded() if upstream is not exchange.dialect else _NO_REQUEST,
    )  # fmt: skip
    headers = _turnout_headers(exchange, served.attempts, served.target, served.upstream_s)
    await start_stream(send, headers + _forwarded(exchange, served.response.headers))
    tally.mark_first_byte()
    try:
        with gateway.shared.streams.relaying():
            failure = await _pump(served, relay, tally, send)
    except asyncio.CancelledError:
        if not gateway.shared.streams.ended_by_shutdown():
            raise
        await _end_for_shutdown(gateway, exchange, tally, served, send)
        return
    attempts = served.attempts
    if failure is not None:
        request = exchange.request
        broken = Broken(
            route, request.model, request.data, len(request.body), exchange.provider_headers,
            served.target,
        )  # fmt: skip
        continued = await recover(gateway, broken, failure, client, tally.meter.usage, send)
        tally.legs, attempts = continued.legs, served.attempts + continued.attempts
        if continued.path is not None:
            tally.notes.append(f"continued on {continued.path} after {failure.code}")
            failure = None
    if failure is not None:
        told = client.events
        await send_chunk(send, stream_error(exchange.dialect, failure, served.target.path, told))
    await close(
        gateway, tally, status=200, outcome=failure.code if failure else "ok",
        category=failure.category.value if failure else None, attempts=attempts,
        served=served, upstream_dialect=upstream.name, upstream_s=served.upstream_s,
    )  # fmt: skip
    await end_stream(send)


async def _end_for_shutdown(
    gateway: Gateway, exchange: Exchange, tally: Tally, served: Served, send: Send
) -> None:
    """The gateway is stopping and this stream outlived the drain: end it with an error event
    the client's SDK raises (retryable: another gateway or a restart can serve it), never a
    quiet cut that would pass what was sent off as the whole answer."""
    message = (
        f"turnout: {SHUTDOWN}; the stream from {served.target.path} ended before the answer "
        "was complete. The text received so far is incomplete: send the request again."
    )
    extra = {"category": "server_error", "code": SHUTDOWN_CODE, "retryable": True}
    told = tally.client.events if tally.client is not None else []
    await send_chunk(send, exchange.dialect.error_event("server_error", message, extra, told))
    await _close_early(gateway, tally, 200, SHUTDOWN_CODE, "server_error")
    await end_stream(send)


async def _pump(served: Served, relay: StreamRelay, tally: Tally, send: Send) -> Diagnosis | None:
    """Relay the stream to its end; the diagnosis of what broke it, if anything did."""
    cut: UpstreamError | None = None
    try:
        await _forward(served.head, relay, tally, send)
        assert served.splitter is not None
        if not relay.finished:
            async for chunk in served.response.chunks:
                await _forward(served.splitter.feed(chunk), relay, tally, send)
                if relay.finished:
                    break
    except UpstreamStreamError as exc:
        return diagnose(status=None, body=exc.data, log=exc.message)
    except UpstreamError as exc:
        cut = exc  # the connection broke: the answer may still be whole (only [DONE] lost)
    finally:
        await served.response.close()
    if not relay.finished:
        for closing in relay.finish():
            await send_chunk(send, closing)
    if relay.finished:
        return None
    if cut is not None:
        return diagnose(status=cut.status, body=cut.body, log=cut.log or "stream interrupted")
    return diagnose(log="stream interrupted: upstream ended before the answer did")


async def _forward(events: list[Event], relay: StreamRelay, tally: Tally, send: Send) -> None:
    """Relay events up to the end of the answer: what one upstream read brought goes to the
    client in one write (a send per event cost more than the event), and what was written
    before an event that breaks the stream still goes out."""
    out: list[bytes] = []
    try:
        for event in events:
            tally.observe(event)
            for chunk in relay.feed(event):
                if tally.client is not None:
                    tally.client.sent(chunk)
                out.append(chunk)
            if relay.finished:
                break
    finally:
        if out:
            await send_chunk(send, out[0] if len(out) == 1 else b"".join(out))


async def _send_failure(
    gateway: Gateway, exchange: Exchange, tally: Tally, failed: Failed, send: Send
) -> None:
    last = failed.attempts[-1] if failed.attempts else None
    provider = gateway.providers.get(last.target.provider) if last else None
    same_dialect = (
        last is not None
        and provider is not None
        and upstream_codec(exchange.dialect, provider, last.target.model) is exchange.dialect
    )
    refusal = failed.passthrough
    if refusal is not None and refusal.status and same_dialect:
        # The provider refused the request itself: hand back its own words.
        headers = _turnout_headers(exchange, failed.attempts, None, failed.upstream_s)
        headers.append(("x-should-retry", "false"))
        await close(
            gateway, tally, status=refusal.status, outcome=failed.decisive.code,
            category=failed.decisive.category.value, attempts=failed.attempts,
            upstream_s=failed.upstream_s,
        )  # fmt: skip
        await send_response(send, refusal.status, refusal.body.encode() or b"{}", headers)
        return
    await _send_diagnosed(
        gateway, exchange, tally, failed.decisive, failed.attempts, send, failed.upstream_s
    )


async def _send_diagnosed(
    gateway: Gateway,
    exchange: Exchange,
    tally: Tally,
    decisive: Diagnosis,
    attempts: list[Attempt],
    send: Send,
    upstream_s: float = 0.0,
) -> None:
    if not sees_operator_detail(exchange.key):
        decisive = without_endpoint(decisive)
    lang = client_language(exchange.headers.get("accept-language"))
    status, body, extra_headers = failure_response(
        exchange.dialect, exchange.request.model, decisive, attempts, lang,
        exchange.headers.get("user-agent", ""),
    )  # fmt: skip
    headers = _turnout_headers(exchange, attempts, None, upstream_s) + extra_headers
    await close(
        gateway, tally, status=status, outcome=decisive.code,
        category=decisive.category.value, attempts=attempts, upstream_s=upstream_s,
    )  # fmt: skip
    await send_response(send, status, body, headers)


async def count_tokens(gateway: Gateway, exchange: Exchange, send: Send) -> None:
    """Ask the first healthy Anthropic path; failing that, estimate (about 4 bytes a token).

    A count is a request like any other for the key that makes it: its route list, rate
    limit and budget admit it (it costs nothing, so it holds nothing), and it is recorded.
    Counting is advisory: its failures neither reach the client nor mark a path unhealthy.
    """
    tally = exchange.tally()
    tally.notes.append("count_tokens")
    try:
        route = _route_for(gateway, exchange)
        tally.route = route.name
        await admit(
            gateway.shared.budgets,
            gateway.config.price_of,
            exchange.key,
            route,
            exchange.request,
            tally,
            free=True,
        )
    except ClientRequestError as exc:
        await close(
            gateway, tally, status=exc.status, outcome=exc.code, category=exc.kind, attempts=[]
        )
        raise
    counted = await _count_upstream(gateway, exchange, route)
    if counted is not None:
        served, body = counted
        await close(
            gateway, tally, status=200, outcome="ok", category=None, attempts=served.attempts,
            served=served,
        )  # fmt: skip
        await send_response(send, 200, body, [("x-turnout-path", served.target.path)])
        return
    tally.notes.append("estimated")
    await close(gateway, tally, status=200, outcome="ok", category=None, attempts=[])
    estimate = {"input_tokens": max(1, len(exchange.request.body) // 4)}
    await send_response(send, 200, orjson.dumps(estimate), [("x-turnout-path", "estimate")])


async def _count_upstream(
    gateway: Gateway, exchange: Exchange, route: RouteConfig
) -> tuple[Served, bytes] | None:
    request = exchange.request
    for target in route.targets:
        provider = gateway.providers[target.provider]
        offered = "count_tokens" in provider.operations
        if not offered or await gateway.health.is_out(target.path):
            continue
        own = exchange.credential if provider.config.client_credential else None
        if provider.config.client_credential and own is None:
            continue
        model = target_model(target, request.model)
        call = UpstreamCall(
            operation="count_tokens",
            dialect=MESSAGES.name,
            body=with_model(request, model),
            model=model,
            stream=False,
            settings=gateway.config.settings_for(route, provider.config),
            client_headers=exchange.provider_headers,
            credential=own,
        )
        try:
            response = await provider.open(call)
            body = await response.read()
        except UpstreamError:
            return None
        sent = Target(target.provider, model)
        return Served(sent, provider, response, [Attempt(sent, "ok")]), body
    return None
