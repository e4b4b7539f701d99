"""Turning one scripted step into bytes on the wire, including the broken ways.

Every pause is an `asyncio.sleep`, so stopping the server (which cancels
handlers) ends a stalled answer at once.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, assert_never

import orjson
from aiohttp import web

from tests.fakes import anthropic_wire, gemini_wire, openai_wire, responses_wire
from tests.fakes.sse import frame, truncated
from tests.fakes.steps import (
    Continues,
    Cut,
    ErrorAfterHandshake,
    Fail,
    Malformed,
    Quote,
    Reply,
    Reset,
    Stall,
    Step,
)

BROKEN_JSON = b'{"id": "fake-malformed", "choices": [{"index": 0, "message": {"role": '
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
JSON_TYPE = "application/json"


@dataclass(frozen=True)
class Dialect:
    """How one API family writes a reply, and names its request-id header."""

    body: Callable[[Reply, Mapping[str, Any]], dict[str, Any]]
    events: Callable[[Reply, Mapping[str, Any]], list[bytes]]
    request_id_header: str  # "" for an API that sends none
    #: The events a stream opens with before any content, and an error event after them.
    handshake: Callable[[Reply, Mapping[str, Any]], list[bytes]]
    error: Callable[[str, str, int], bytes]


def _openai_error(code: str, message: str, _sequence: int) -> bytes:
    return frame({"error": {"message": message, "type": code, "param": None, "code": code}})


def _anthropic_error(code: str, message: str, _sequence: int) -> bytes:
    return frame({"type": "error", "error": {"type": code, "message": message}}, "error")


OPENAI = Dialect(
    openai_wire.body,
    openai_wire.events,
    "x-request-id",
    lambda reply, request: openai_wire.events(reply, request)[:1],
    _openai_error,
)
ANTHROPIC = Dialect(
    anthropic_wire.body,
    anthropic_wire.events,
    "request-id",
    lambda reply, request: anthropic_wire.events(reply, request)[:2],
    _anthropic_error,
)


def _embeddings(reply: Reply, request: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI's embeddings list: one vector per input, usage in prompt tokens."""
    inputs = request.get("input")
    texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
    data = [
        {"object": "embedding", "index": i, "embedding": [0.5, -0.25, float(len(str(t)))]}
        for i, t in enumerate(texts)
    ]
    prompt = reply.usage[0]
    usage = {"prompt_tokens": prompt, "total_tokens": prompt}
    model = reply.model or str(request.get("model") or "fake-model")
    return {"object": "list", "data": data, "model": model, "usage": usage}


EMBEDDINGS = Dialect(
    _embeddings, lambda reply, request: [], "x-request-id", lambda r, q: [], _openai_error
)
RESPONSES = Dialect(
    responses_wire.body,
    responses_wire.events,
    "x-request-id",
    responses_wire.handshake,
    responses_wire.error_event,
)
#: Gemini streams open with content: there is no handshake before it.
GEMINI = Dialect(gemini_wire.body, gemini_wire.events, "", lambda r, q: [], gemini_wire.error_event)


@dataclass(frozen=True)
class Exchange:
    """The request being answered, with its parsed JSON object (empty if it had none).
    `stream` is set where the endpoint, not the body, says whether to stream (Gemini)."""

    request: web.Request
    dialect: Dialect
    json: Mapping[str, Any]
    stream: bool | None = None

    @property
    def streaming(self) -> bool:
        return self.stream if self.stream is not None else self.json.get("stream") is True

    def headers(self, base: Mapping[str, str]) -> dict[str, str]:
        name = self.dialect.request_id_header
        return {**base, name: f"req_fake_{uuid.uuid4().hex[:16]}"} if name else dict(base)


@dataclass(frozen=True)
class Delivery:
    """How the bytes go out: delays, a pause after N events, a cut after N, a bad event."""

    header_delay_s: float = 0.0
    pause_after: int | None = None
    pause_s: float = 0.0
    cut_after: int | None = None
    garbage: bool = False


async def answer(step: Step, exchange: Exchange) -> web.StreamResponse:
    """Answer one request with one step."""
    match step:
        case Reply():
            return await _reply(exchange, step, Delivery(header_delay_s=step.first_byte_delay_s))
        case Cut():
            return await _reply(
                exchange,
                Reply(text=step.text, reasoning=step.reasoning),
                Delivery(cut_after=step.after_events),
            )
        case Stall():
            delivery = Delivery(step.header_delay_s, step.after_events, step.stall_s)
            return await _reply(exchange, Reply(text=step.text), delivery)
        case Continues():
            reply = Reply(text=step.rest(_prefill(exchange)), usage=step.usage)
            return await _reply(exchange, reply, Delivery())
        case Malformed(kind="sse"):
            return await _events(exchange, Reply(), Delivery(garbage=True))
        case Malformed():
            headers = exchange.headers({"Content-Type": JSON_TYPE})
            return await _body(exchange, 200, BROKEN_JSON, headers, Delivery())
        case Fail():
            return await _fail(exchange, step)
        case Quote():
            quoted = orjson.dumps(_quoting(step.body, _quotable(exchange.json)))
            return await _fail(exchange, Fail(step.status, quoted))
        case ErrorAfterHandshake():
            return await _error_after_handshake(exchange, step)
        case Reset():
            _reset(exchange.request)
            return web.Response()  # aiohttp's write to the aborted transport fails quietly
        case _:
            assert_never(step)


async def _reply(exchange: Exchange, reply: Reply, delivery: Delivery) -> web.StreamResponse:
    if exchange.streaming:
        return await _events(exchange, reply, delivery)
    body = orjson.dumps(exchange.dialect.body(reply, exchange.json))
    headers = exchange.headers({"Content-Type": JSON_TYPE, **reply.headers})
    return await _body(exchange, 200, body, headers, delivery)


async def _error_after_handshake(
    exchange: Exchange, step: ErrorAfterHandshake
) -> web.StreamResponse:
    frames = exchange.dialect.handshake(Reply(), exchange.json)
    frames.append(exchange.dialect.error(step.code, step.message, len(frames)))
    response = web.StreamResponse(headers=exchange.headers(SSE_HEADERS))
    await response.prepare(exchange.request)
    for event in frames:
        await response.write(event)
    await response.write_eof()
    return response


async def _fail(exchange: Exchange, fail: Fail) -> web.StreamResponse:
    body = fail.body.encode() if isinstance(fail.body, str) else fail.body
    headers = dict(fail.headers)
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = JSON_TYPE if _is_json(body) else "text/plain; charset=utf-8"
    return await _body(exchange, fail.status, body, headers, Delivery())


async def _body(
    exchange: Exchange, status: int, body: bytes, headers: dict[str, str], delivery: Delivery
) -> web.StreamResponse:
    """A body with a Content-Length; a pause sits after the headers, a cut halves the body."""
    await asyncio.sleep(delivery.header_delay_s)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = len(body)
    await response.prepare(exchange.request)
    if delivery.pause_after is not None:
        await asyncio.sleep(delivery.pause_s)
    if delivery.cut_after is not None:
        await response.write(body[: len(body) // 2])
        _close(exchange.request)
        return response
    if body:
        await response.write(body)
    await response.write_eof()
    return response


async def _events(exchange: Exchange, reply: Reply, delivery: Delivery) -> web.StreamResponse:
    """A chunked SSE stream, paused or cut at event boundaries."""
    frames = exchange.dialect.events(reply, exchange.json)
    if delivery.garbage:
        middle = len(frames) // 2
        frames.insert(middle, truncated(frames[middle]))
    if delivery.cut_after is not None:
        frames = frames[: delivery.cut_after]
    await asyncio.sleep(delivery.header_delay_s)
    response = web.StreamResponse(headers=exchange.headers({**SSE_HEADERS, **reply.headers}))
    await response.prepare(exchange.request)
    for index, event in enumerate(frames):
        if index == delivery.pause_after:
            await asyncio.sleep(delivery.pause_s)
        await response.write(event)
    if delivery.cut_after is not None:
        _close(exchange.request)  # no terminating chunk: the client sees an incomplete body
        return response
    await response.write_eof()
    return response


def _prefill(exchange: Exchange) -> str | None:
    """The final assistant message's text, where the request asks for it to be continued:
    always on Anthropic's wire; on OpenAI's, with vLLM's flag or DeepSeek's `prefix`."""
    messages = exchange.json.get("messages")
    if exchange.dialect not in (ANTHROPIC, OPENAI) or not isinstance(messages, list):
        return None
    last = messages[-1] if messages else None
    if not isinstance(last, dict) or last.get("role") != "assistant":
        return None
    asked = exchange.dialect is ANTHROPIC or exchange.json.get("continue_final_message") is True
    if not (asked or last.get("prefix") is True):
        return None
    content = last.get("content")
    if isinstance(content, list):
        content = "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return content if isinstance(content, str) else None


#: Top-level parameters of the two APIs; any other is quoted as `{param}`.
KNOWN_PARAMETERS = frozenset(
    {
        "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
        "temperature", "top_p", "top_k", "stop", "stop_sequences", "system", "tools",
        "tool_choice", "metadata", "n", "user", "response_format", "thinking",
    }
)  # fmt: skip


def _quotable(request: Mapping[str, Any]) -> dict[str, str]:
    messages = request.get("messages") or [{}]
    first = messages[0] if isinstance(messages, list) and isinstance(messages[0], dict) else {}
    unknown = [name for name in request if name not in KNOWN_PARAMETERS]
    return {
        "{model}": str(request.get("model", "")),
        "{param}": unknown[0] if unknown else "",
        "{role}": str(first.get("role", "")),
    }


def _quoting(node: Any, fields: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        for placeholder, value in fields.items():
            node = node.replace(placeholder, value)
        return node
    if isinstance(node, dict):
        return {key: _quoting(value, fields) for key, value in node.items()}
    if isinstance(node, list):
        return [_quoting(item, fields) for item in node]
    return node


def _close(request: web.Request) -> None:
    """Close after flushing what was written, without ending the HTTP message."""
    if request.transport is not None:
        request.transport.close()


def _reset(request: web.Request) -> None:
    """Abort with SO_LINGER 0, so the client gets a TCP RST rather than a clean FIN."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _is_json(body: bytes) -> bool:
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True
