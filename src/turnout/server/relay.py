"""Relay one chat request: route it, answer with what a path served, or explain every failure.

Once the first byte of a stream has gone to the client nothing can fail over any more: a later
failure ends the stream with an error event in the client's dialect, never a quiet cut that
would pass a truncated answer off as complete.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from turnout.catalog import context_window
from turnout.config.model import RouteConfig, Target
from turnout.diagnosis import Diagnosis, diagnose
from turnout.dialects.anthropic import AnthropicDialect
from turnout.dialects.base import Dialect, ParsedRequest, replace_model
from turnout.dialects.openai import OpenAIDialect
from turnout.dialects.sse import Event
from turnout.dialects.statuses import CLIENT_STATUS
from turnout.errors import ClientRequestError, UpstreamError
from turnout.providers.base import Provider, UpstreamCall
from turnout.router.chain import Attempt, Failed, Served
from turnout.router.resolve import public_model_names, resolve_route, target_model
from turnout.server.asgi import Send, end_stream, send_chunk, send_response, start_stream
from turnout.server.gateway import Gateway
from turnout.server.streaming import StreamRelay, convert_whole, stream_relay
from turnout.translate import (
    UpstreamStreamError,
    anthropic_to_openai_request,
    openai_to_anthropic_request,
)

log = logging.getLogger("turnout.relay")

DIALECTS: dict[str, Dialect] = {"openai": OpenAIDialect(), "anthropic": AnthropicDialect()}
#: Upstream response headers worth passing on to the client.
_FORWARDED_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-", "retry-after", "request-id")
#: Client headers providers may need (lower-case).
_CLIENT_HEADERS = ("anthropic-version", "anthropic-beta")


@dataclass(slots=True)
class Exchange:
    """One client request as the relay sees it."""

    dialect: Dialect
    request: ParsedRequest
    headers: Mapping[str, str]
    request_id: str
    started: float
    operation: str = "chat"


def client_error(dialect: Dialect, exc: ClientRequestError) -> tuple[int, bytes]:
    body = dialect.error_body(exc.status, exc.kind, exc.message, {"code": exc.kind})
    return exc.status, body


def _translated_body(exchange: Exchange, target: Target, upstream: str) -> bytes | None:
    """The request in the upstream's dialect; None when that path cannot honour it."""
    data = exchange.request.data
    try:
        if upstream == "openai":
            translated = anthropic_to_openai_request(data, target.model)
        else:
            translated = openai_to_anthropic_request(data, target.model)
    except ValueError as exc:
        log.info("%s %s cannot serve this request: %s", exchange.request_id, target.path, exc)
        return None
    if translated.dropped:
        log.info(
            "%s %s: dropped unsupported parameters %s",
            exchange.request_id,
            target.path,
            ", ".join(translated.dropped),
        )
    return orjson.dumps(translated.body)


def _upstream_dialect(exchange: Exchange, served: Served) -> str:
    dialect = served.provider.dialect
    return exchange.dialect.name if dialect == "any" else dialect


def _route_for(gateway: Gateway, exchange: Exchange) -> RouteConfig:
    model = exchange.request.model
    route = resolve_route(gateway.config, model, exchange.headers.get("x-turnout-task"))
    if route is None:
        names = ", ".join(public_model_names(gateway.config)) or "none"
        raise ClientRequestError(
            404,
            f"turnout has no route for model {model!r}; configured models: {names}",
            kind="model_not_found",
        )
    return route


async def relay(gateway: Gateway, exchange: Exchange, send: Send) -> None:
    request = exchange.request
    route = _route_for(gateway, exchange)
    call = UpstreamCall(
        operation=exchange.operation,
        dialect=exchange.dialect.name,
        body=request.body,
        model=request.model,
        stream=request.stream,
        settings=gateway.config.defaults,
        client_headers={k: exchange.headers[k] for k in _CLIENT_HEADERS if k in exchange.headers},
    )

    def body_for(target: Target, provider: Provider) -> bytes | None:
        if provider.dialect in (exchange.dialect.name, "any"):
            return replace_model(request.body, request.model, target.model)
        return _translated_body(exchange, target, provider.dialect)

    outcome = await gateway.chain.run(route, call, body_for, request.model)
    if isinstance(outcome, Failed):
        await _send_failure(gateway, exchange, outcome, send)
    elif request.stream:
        await _relay_stream(gateway, exchange, outcome, send)
    else:
        await _relay_whole(gateway, exchange, outcome, send)


async def count_tokens(gateway: Gateway, exchange: Exchange, send: Send) -> None:
    """Ask the first healthy Anthropic path; failing that, estimate (about 4 bytes a token).

    Counting is advisory: its failures neither reach the client nor mark a path unhealthy.
    """
    request = exchange.request
    route = _route_for(gateway, exchange)
    for target in route.targets:
        provider = gateway.providers[target.provider]
        if provider.dialect not in ("anthropic", "any") or gateway.health.is_out(target.path):
            continue
        settings = gateway.config.settings_for(route, gateway.config.providers[target.provider])
        call = UpstreamCall(
            operation="count_tokens",
            dialect="anthropic",
            body=replace_model(request.body, request.model, target_model(target, request.model)),
            model=target_model(target, request.model),
            stream=False,
            settings=settings,
            client_headers={
                k: exchange.headers[k] for k in _CLIENT_HEADERS if k in exchange.headers
            },
        )
        try:
            response = await provider.open(call)
            body = await response.read()
        except UpstreamError:
            break
        await send_response(send, 200, body, [("x-turnout-path", target.path)])
        return
    estimate = {"input_tokens": max(1, len(request.body) // 4)}
    await send_response(send, 200, orjson.dumps(estimate), [("x-turnout-path", "estimate")])


def _trail(attempts: list[Attempt]) -> str:
    return " -> ".join(a.label() for a in attempts)


def _turnout_headers(
    exchange: Exchange, attempts: list[Attempt], served: Target | None, upstream_s: float
) -> list[tuple[str, str]]:
    overhead_ms = (time.perf_counter() - exchange.started - upstream_s) * 1000
    return [
        ("x-turnout-path", served.path if served else "none"),
        ("x-turnout-attempts", _trail(attempts)),
        ("x-turnout-overhead-ms", f"{max(0.0, overhead_ms):.2f}"),
        ("x-request-id", exchange.request_id),
    ]


def _forwarded(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.items() if k.startswith(_FORWARDED_PREFIXES)]


async def _relay_whole(gateway: Gateway, exchange: Exchange, served: Served, send: Send) -> None:
    try:
        raw = await served.response.read()
        body = convert_whole(
            _upstream_dialect(exchange, served), exchange.dialect.name, raw, served.target.model
        )
    except (UpstreamError, ValueError) as exc:
        if isinstance(exc, UpstreamError):
            diagnosis = diagnose(status=exc.status, body=exc.body, log=exc.log)
        else:
            diagnosis = diagnose(status=502, log=f"malformed response from upstream: {exc}")
        _log(exchange, served.attempts, diagnosis.code)
        await _send_diagnosed_error(exchange, diagnosis, served.attempts, send, served.target)
        return
    headers = _turnout_headers(exchange, served.attempts, served.target, served.upstream_s)
    headers += _forwarded(served.response.headers)
    _log(exchange, served.attempts, "ok")
    await send_response(send, 200, body, headers)


async def _relay_stream(gateway: Gateway, exchange: Exchange, served: Served, send: Send) -> None:
    include_usage = bool((exchange.request.data.get("stream_options") or {}).get("include_usage"))
    relay = stream_relay(
        _upstream_dialect(exchange, served),
        exchange.dialect.name,
        served.target.model,
        include_usage,
    )
    headers = _turnout_headers(exchange, served.attempts, served.target, served.upstream_s)
    await start_stream(send, headers + _forwarded(served.response.headers))
    failure: Diagnosis | None = None
    try:
        await _forward(served.head, relay, send)
        assert served.splitter is not None
        if not relay.finished:
            async for chunk in served.response.chunks:
                await _forward(served.splitter.feed(chunk), relay, send)
                if relay.finished:
                    break
        if not relay.finished:
            for closing in relay.finish():
                await send_chunk(send, closing)
        if not relay.finished:
            failure = diagnose(log="stream interrupted: upstream ended before the answer did")
    except UpstreamStreamError as exc:
        failure = diagnose(status=None, body=exc.data, log=exc.message)
    except UpstreamError as exc:
        failure = diagnose(status=exc.status, body=exc.body, log=exc.log or "stream interrupted")
    finally:
        await served.response.close()
    if failure is not None:
        await send_chunk(send, _stream_error(exchange.dialect, failure, served))
        cooldown = gateway.config.defaults.cooldown_s
        gateway.health.failed(served.target.path, failure, cooldown, gated=False)
    _log(exchange, served.attempts, failure.code if failure else "ok")
    await end_stream(send)


async def _forward(events: list[Event], relay: StreamRelay, send: Send) -> None:
    """Relay events up to the end of the answer."""
    for event in events:
        for chunk in relay.feed(event):
            await send_chunk(send, chunk)
        if relay.finished:
            return


def _stream_error(dialect: Dialect, diagnosis: Diagnosis, served: Served) -> bytes:
    said = f" The provider said: {diagnosis.message}" if diagnosis.message else ""
    message = (
        f"turnout: the stream from {served.target.path} broke before the answer was complete "
        f"({diagnosis.category.value}/{diagnosis.code}): {diagnosis.title}. "
        f"The text received so far is incomplete.{said}"
    )
    return dialect.error_event(diagnosis.category.value, message, _diagnosis_extra(diagnosis))


def _diagnosis_extra(diagnosis: Diagnosis) -> dict[str, Any]:
    return {
        "category": diagnosis.category.value,
        "code": diagnosis.code,
        "retryable": diagnosis.retryable,
        "retry_after_s": diagnosis.retry_after_s,
        "title": diagnosis.title,
        "explanation": diagnosis.explanation,
        "actions": list(diagnosis.actions),
        "wont_help": list(diagnosis.wont_help),
    }


def _attempt_line(attempt: Attempt) -> str:
    d = attempt.diagnosis
    if d is None:
        return f"- {attempt.target.path}: {attempt.outcome} {attempt.note}".rstrip()
    state = "skipped, remembered as " if attempt.outcome == "skipped" else ""
    advice = f" Do: {d.actions[0]}" if d.actions else ""
    return f"- {attempt.target.path}: {state}{d.category.value} ({d.code}): {d.title}.{advice}"


async def _send_failure(gateway: Gateway, exchange: Exchange, failed: Failed, send: Send) -> None:
    last = failed.attempts[-1] if failed.attempts else None
    provider = gateway.providers.get(last.target.provider) if last else None
    same_dialect = provider is not None and provider.dialect in (exchange.dialect.name, "any")
    if failed.passthrough is not None and same_dialect and failed.passthrough.status:
        # The provider refused the request itself: hand back its own words.
        headers = _turnout_headers(exchange, failed.attempts, None, failed.upstream_s)
        headers.append(("x-should-retry", "false"))
        _log(exchange, failed.attempts, failed.decisive.code)
        body = failed.passthrough.body.encode() or b"{}"
        await send_response(send, failed.passthrough.status, body, headers)
        return
    _log(exchange, failed.attempts, failed.decisive.code)
    await _send_diagnosed_error(
        exchange, failed.decisive, failed.attempts, send, None, failed.upstream_s
    )


async def _send_diagnosed_error(
    exchange: Exchange,
    decisive: Diagnosis,
    attempts: list[Attempt],
    send: Send,
    served: Target | None,
    upstream_s: float = 0.0,
) -> None:
    lines = "\n".join(_attempt_line(a) for a in attempts)
    message = f"turnout: no path could serve model {exchange.request.model!r}.\n{lines}"
    extra = _diagnosis_extra(decisive)
    extra["attempts"] = [
        {
            "path": a.target.path,
            "outcome": a.outcome,
            "category": a.diagnosis.category.value if a.diagnosis else None,
            "code": a.diagnosis.code if a.diagnosis else None,
            "title": a.diagnosis.title if a.diagnosis else None,
        }
        for a in attempts
    ]
    status = CLIENT_STATUS[decisive.category.value]
    headers = _turnout_headers(exchange, attempts, served, upstream_s)
    if decisive.retryable:
        if decisive.retry_after_s is not None:
            headers.append(("retry-after", str(max(1, round(decisive.retry_after_s)))))
    else:
        headers.append(("x-should-retry", "false"))
    body = exchange.dialect.error_body(status, decisive.category.value, message, extra)
    await send_response(send, status, body, headers)


def _log(exchange: Exchange, attempts: list[Attempt], outcome: str) -> None:
    elapsed_ms = (time.perf_counter() - exchange.started) * 1000
    log.info(
        "%s model=%s stream=%s outcome=%s attempts=%s ms=%.1f",
        exchange.request_id,
        exchange.request.model,
        exchange.request.stream,
        outcome,
        _trail(attempts),
        elapsed_ms,
    )


def models_body(gateway: Gateway, anthropic: bool) -> bytes:
    names = public_model_names(gateway.config)
    if anthropic:
        data: list[dict[str, Any]] = [
            {"type": "model", "id": n, "display_name": n, "created_at": "1970-01-01T00:00:00Z"}
            for n in names
        ]
        first, last = (names[0], names[-1]) if names else (None, None)
        return orjson.dumps({"data": data, "has_more": False, "first_id": first, "last_id": last})
    return orjson.dumps({"object": "list", "data": [model_entry(gateway, n) for n in names]})


def model_entry(gateway: Gateway, name: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": name, "object": "model", "created": 0, "owned_by": "turnout"}
    route = resolve_route(gateway.config, name)
    if route is not None:
        windows = [
            context_window(
                target_model(t, name), gateway.config.providers[t.provider].context_windows
            )
            for t in route.targets
        ]
        known = [w for w in windows if w]
        if known:
            entry["context_window"] = min(known)
        entry["paths"] = [t.path for t in route.targets]
    return entry
