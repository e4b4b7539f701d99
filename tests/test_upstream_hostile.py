"""Upstreams that attack the gateway: huge and compressed bodies, endless streams and events,
trickled answers, redirects to another host, echoed credentials and malformed events.

Each hostile upstream is a real HTTP server on 127.0.0.1 with bounded misbehaviour; the caps
under test are set small in the config so each attack is cheap to stage.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web

from tests.clients import Clients
from tests.fakes import Reply, RunningUpstream
from tests.fakes.hostile import Handler, HostileUpstream
from tests.gateway import RunningGateway, request, running_gateway
from turnout.ledger.record import RequestRecord

KIB = 1024
MIB = 1024 * KIB
CHUNK = b" " * (64 * KIB)
#: A provider key no prefix rule knows: only masking by value can catch it.
RELAY_KEY = "relay-7Hq2Zp9WcX4mVb8NtY3kLs6D"
GOOGLE_KEY = "AIzaSyD3f9Qk2Lm8Np4Rs7Tv1Wx5Yz0Ab6Cd9Ef"
CAPS = {
    "max_response_bytes": 1 * MIB,
    "max_stream_bytes": 256 * KIB,
    "max_event_bytes": 64 * KIB,
}


@contextmanager
def over(
    handler: Handler,
    kind: str = "openai",
    *,
    key: str = RELAY_KEY,
    backup: bool = True,
    **defaults: Any,
) -> Iterator[tuple[RunningGateway, HostileUpstream, RunningUpstream]]:
    """A gateway whose route `m` goes to the hostile upstream, then (with `backup`) to a sound
    OpenAI-compatible one; route `solo` only to the hostile one."""
    with ExitStack() as stack:
        hostile = stack.enter_context(HostileUpstream(handler))
        sound = stack.enter_context(RunningUpstream())
        sound.script(Reply(text="sound body"))
        config = {
            "defaults": {"retries": 0, "backoff_s": 0.01, **CAPS, **defaults},
            "providers": {
                "primary": {
                    "kind": kind,
                    "base_url": hostile.url + ("/v1" if kind == "openai" else ""),
                    "api_key": "${PRIMARY_KEY}",
                },
                "backup": {
                    "kind": "openai",
                    "base_url": sound.url + "/v1",
                    "api_key": "${BACKUP_KEY}",
                },
            },
            "routes": {
                "m": ["primary/model-a", *(["backup/model-b"] if backup else [])],
                "solo": ["primary/model-a"],
            },
        }
        text = yaml.safe_dump(config, sort_keys=False)
        gw = stack.enter_context(
            running_gateway(text, env={"PRIMARY_KEY": key, "BACKUP_KEY": "sk-b"})
        )
        yield gw, hostile, sound


def chat(model: str = "m", stream: bool = False) -> dict[str, Any]:
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}


def openai_chunk(text: str, finish: str | None = None) -> bytes:
    chunk = {
        "id": "chatcmpl-h",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "model-a",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def completion(text: str) -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-h",
            "object": "chat.completion",
            "created": 0,
            "model": "model-a",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    )


async def _start(request: web.Request, content_type: str, **headers: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": content_type, **headers})
    await response.prepare(request)
    return response


def error_message(reply_body: bytes) -> str:
    data = json.loads(reply_body)
    return str(data["error"]["message"])


# ---------------------------------------------------------------- bodies too large


async def huge_body(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
    """A 200 with a body that never stops (64 MiB at most, to keep the test bounded)."""
    response = await _start(request, "application/json")
    await up.send(response, b'{"choices": [{"message": {"content": "')
    for _ in range(64 * MIB // len(CHUNK)):
        if not await up.send(response, CHUNK):
            break
    return response


def test_a_huge_body_is_refused_at_the_cap_and_the_route_fails_over() -> None:
    # No cooldown: the single-path route calls the path again (rather than answering from its
    # cooldown) and is told the cap that refused it.
    with over(huge_body, cooldown_s=0) as (gw, up, _):
        reply = request(gw.url, "POST", "/v1/chat/completions", chat())
        assert reply.status == 200
        assert json.loads(reply.body)["choices"][0]["message"]["content"] == "sound body"
        assert reply.headers["x-turnout-attempts"].startswith("primary:server_error")
        # The gateway hung up near the cap instead of reading on.
        assert up.written < 16 * MIB
    with over(huge_body, backup=False) as (gw, _, _):  # no backup: the refusal is the answer
        solo = request(gw.url, "POST", "/v1/chat/completions", chat())
        assert solo.status == 502
        assert "max_response_bytes" in error_message(solo.body)


async def announced_huge(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = 200 * MIB
    await response.prepare(request)
    for _ in range(16):
        if not await up.send(response, CHUNK):
            break
    return response


def test_a_body_announced_larger_than_the_cap_is_refused_unread() -> None:
    with over(announced_huge, backup=False) as (gw, _, _):
        reply = request(gw.url, "POST", "/v1/chat/completions", chat())
        assert reply.status == 502
        assert "max_response_bytes" in error_message(reply.body)


@functools.cache
def bomb() -> bytes:
    """64 MiB of zeros in about 64 KiB of gzip."""
    return gzip.compress(b"\0" * (64 * MIB), compresslevel=9)


async def gzip_bomb(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
    return web.Response(
        body=bomb(), headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
    )


def test_a_gzip_bomb_is_refused_before_it_expands_past_the_cap() -> None:
    assert len(bomb()) < 256 * KIB
    with over(gzip_bomb, cooldown_s=0) as (gw, _, _):
        reply = request(gw.url, "POST", "/v1/chat/completions", chat())
        assert json.loads(reply.body)["choices"][0]["message"]["content"] == "sound body"
    with over(gzip_bomb, backup=False) as (gw, _, _):  # no backup: the refusal is the answer
        solo = request(gw.url, "POST", "/v1/chat/completions", chat())
        assert solo.status == 502
        message = error_message(solo.body)
        assert "decompressed" in message
        assert "max_response_bytes" in message


async def gzipped_answer(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
    body = gzip.compress(completion("compressed but sound"))
    return web.Response(
        body=body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
    )


async def deflated_answer(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
    body = zlib.compress(completion("deflated but sound"))
    return web.Response(
        body=body, headers={"Content-Type": "application/json", "Content-Encoding": "deflate"}
    )


@pytest.mark.parametrize(
    ("handler", "text"),
    [(gzipped_answer, "compressed but sound"), (deflated_answer, "deflated but sound")],
)
def test_a_compressed_answer_within_the_cap_is_read(handler: Handler, text: str) -> None:
    with over(handler) as (gw, up, _):
        reply = request(gw.url, "POST", "/v1/chat/completions", chat())
        assert json.loads(reply.body)["choices"][0]["message"]["content"] == text
        assert reply.headers["x-turnout-path"] == "primary/model-a"
        assert "gzip" in up.requests[-1].headers.get("accept-encoding", "")


async def brotli_answer(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
    return web.Response(
        body=b"\x8b\x01\x80hello\x03",
        headers={"Content-Type": "application/json", "Content-Encoding": "br"},
    )


def test_an_encoding_the_gateway_did_not_ask_for_is_refused() -> None:
    with over(brotli_answer, backup=False) as (gw, _, _):
        reply = request(gw.url, "POST", "/v1/chat/completions", chat())
        assert reply.status == 502
        assert "content-encoding" in error_message(reply.body).lower()


# ---------------------------------------------------------------- streams too long


async def endless_stream(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
    """Content events that never end (about 40 MiB at most)."""
    response = await _start(request, "text/event-stream")
    event = openai_chunk("all work and no play " * 8)
    for _ in range(40 * MIB // len(event)):
        if not await up.send(response, event):
            break
    return response


def test_an_endless_stream_ends_with_a_diagnosed_error_at_the_stream_cap() -> None:
    with over(endless_stream, backup=False) as (gw, up, _):
        reply = request(gw.url, "POST", "/v1/chat/completions", chat(stream=True))
        assert reply.status == 200
        events = [e for e in reply.body.split(b"\n\n") if e]
        last = json.loads(events[-1].removeprefix(b"data: "))
        assert "max_stream_bytes" in last["error"]["message"]
        assert last["error"]["turnout"]["category"] == "server_error"
        assert len(reply.body) < 2 * 256 * KIB
        assert up.written < 16 * MIB


async def endless_event(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
    """One `data:` line that never ends (32 MiB at most)."""
    response = await _start(request, "text/event-stream")
    await up.send(response, b'data: {"choices": [{"delta": {"content": "')
    for _ in range(32 * MIB // len(CHUNK)):
        if not await up.send(response, CHUNK):
            break
    return response


def test_an_event_that_never_ends_is_refused_at_the_event_cap_and_fails_over() -> None:
    with over(endless_event) as (gw, up, _):
        reply = request(gw.url, "POST", "/v1/chat/completions", chat(stream=True))
        assert reply.status == 200
        assert b"sound" in reply.body
        assert reply.headers["x-turnout-attempts"].startswith("primary:server_error")
        assert up.written < 16 * MIB


# ---------------------------------------------------------------- deadlines


async def trickle(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
    """A whole body sent a byte at a time, each well inside the read timeout: 30 s in all."""
    response = await _start(request, "application/json")
    for byte in completion("slow")[:600]:
        if not await up.send(response, bytes([byte])):
            break
        await asyncio.sleep(0.05)
    return response


def test_a_trickled_whole_body_meets_the_total_deadline_and_fails_over() -> None:
    with over(trickle, response_timeout_s=0.5, read_timeout_s=10) as (gw, _, _):
        reply = request(gw.url, "POST", "/v1/chat/completions", chat())
        assert json.loads(reply.body)["choices"][0]["message"]["content"] == "sound body"
        assert reply.headers["x-turnout-attempts"].startswith("primary:timeout")


# ---------------------------------------------------------------- redirects


@contextmanager
def redirecting(status: int) -> Iterator[tuple[RunningGateway, HostileUpstream]]:
    """An Anthropic path that redirects to another host (localhost, not 127.0.0.1)."""

    async def elsewhere_answer(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
        return web.Response(body=b"{}", content_type="application/json")

    with HostileUpstream(elsewhere_answer) as elsewhere:
        target = elsewhere.url.replace("127.0.0.1", "localhost") + "/v1/messages"

        async def redirect(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": target})

        with over(redirect, "anthropic", key="sk-ant-api03-secretsecretsecret", backup=False) as (
            gw,
            _,
            _,
        ):
            yield gw, elsewhere


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_and_the_key_never_leaves(clients: Clients, status: int) -> None:
    with redirecting(status) as (gw, elsewhere):
        reply = request(
            gw.url,
            "POST",
            "/v1/messages",
            {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert elsewhere.requests == []
        assert reply.status == 502  # the gateway's endpoint is wrong, not the request
        data = json.loads(reply.body)
        assert data["turnout"]["category"] == "endpoint_not_found"
        assert "redirect" in data["error"]["message"]


# ---------------------------------------------------------------- secrets echoed back


def echo_400(key: str) -> Handler:
    async def handler(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
        body = {
            "error": {
                "message": f"Unrecognized request argument supplied: foo (key {key})",
                "type": "invalid_request_error",
            }
        }
        return web.json_response(body, status=400)

    return handler


def test_a_key_echoed_in_a_relayed_4xx_body_is_masked() -> None:
    with over(echo_400(RELAY_KEY)) as (gw, _, _):
        reply = request(gw.url, "POST", "/v1/chat/completions", chat())
        assert reply.status == 400
        assert b"Unrecognized request argument" in reply.body  # the provider's own words
        assert RELAY_KEY.encode() not in reply.body


def echo_in_stream(key: str) -> Handler:
    async def handler(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
        response = await _start(request, "text/event-stream")
        await up.send(response, openai_chunk("partial "))
        error = {"error": {"message": f"upstream auth broke for {key}", "type": "server_error"}}
        await up.send(response, b"data: " + orjson.dumps(error) + b"\n\n")
        return response

    return handler


def test_a_key_echoed_in_a_stream_error_event_is_masked() -> None:
    with over(echo_in_stream(RELAY_KEY), backup=False) as (gw, _, _):
        reply = request(gw.url, "POST", "/v1/chat/completions", chat(stream=True))
        assert b"The provider said" in reply.body
        assert RELAY_KEY.encode() not in reply.body


def echo_403(key: str) -> Handler:
    async def handler(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
        body = {"error": {"code": 403, "message": f"API key {key} lacks permission"}}
        return web.json_response(body, status=403, headers={"x-echo": key})

    return handler


@pytest.mark.parametrize("key", [GOOGLE_KEY, RELAY_KEY])
def test_a_key_echoed_by_a_gated_path_reaches_no_client_dashboard_ledger_or_health(
    key: str,
) -> None:
    with over(echo_403(key)) as (gw, _, _):
        recorded: list[RequestRecord] = []  # what the ledger (and the dashboard) are given
        gw.gateway.shared.records.subscribe(recorded.append)
        first = request(gw.url, "POST", "/v1/chat/completions", chat())
        assert first.headers["x-turnout-attempts"].startswith("primary:permission")
        solo = request(gw.url, "POST", "/v1/chat/completions", chat("solo"))
        state = request(gw.url, "GET", "/dashboard/state")
        assert state.status == 200
        assert b"permission" in state.body
        marks = asyncio.run(gw.gateway.health.snapshot())
        stored = orjson.dumps({p: m.diagnosis.to_dict() for p, m in marks.items()})
        for seen in (first.body, repr(first.headers).encode(), solo.body, state.body, stored):
            assert key.encode() not in seen
        rows = [r.to_line() for r in recorded]
        assert len(rows) == 2
        assert not any(key.encode() in row for row in rows)


# ---------------------------------------------------------------- malformed events


def malformed_midway(kind: str) -> Handler:
    """Content, then an event whose data is not JSON, then the rest of a whole answer."""

    async def handler(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
        response = await _start(request, "text/event-stream")
        if kind == "openai":
            frames = [openai_chunk("Hello"), b"data: {broken json}\n\n"]
            frames += [openai_chunk(" world", "stop"), b"data: [DONE]\n\n"]
        else:
            frames = _anthropic_frames()
        for frame in frames:
            await up.send(response, frame)
        return response

    return handler


def _anthropic_frames() -> list[bytes]:
    def event(name: str, data: dict[str, Any] | bytes) -> bytes:
        raw = data if isinstance(data, bytes) else orjson.dumps(data)
        return f"event: {name}\n".encode() + b"data: " + raw + b"\n\n"

    message: dict[str, Any] = {
        "id": "msg_h",
        "type": "message",
        "role": "assistant",
        "model": "model-a",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 0},
    }
    delta = {"type": "content_block_delta", "index": 0}
    return [
        event("message_start", {"type": "message_start", "message": message}),
        event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
        ),
        event("content_block_delta", {**delta, "delta": {"type": "text_delta", "text": "Hello"}}),
        event("content_block_delta", b'{"type": "content_block_delta", "index": 0, "delta": {'),
        event("content_block_delta", {**delta, "delta": {"type": "text_delta", "text": " you"}}),
        event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        event(
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}},
        ),
        event("message_stop", {"type": "message_stop"}),
    ]


def test_a_malformed_event_in_a_same_dialect_stream_never_reaches_the_client(
    clients: Clients,
) -> None:
    with over(malformed_midway("openai"), backup=False) as (gw, _, _):
        reply = request(gw.url, "POST", "/v1/chat/completions", chat(stream=True))
        events = [e.removeprefix(b"data: ") for e in reply.body.split(b"\n\n") if e]
        assert b"data: {broken json}" not in reply.body
        # Every event parses: the client's SSE parser never sees garbage.
        parsed = [json.loads(e) for e in events if e != b"[DONE]"]
        assert parsed[0]["choices"][0]["delta"]["content"] == "Hello"
        # A piece of the answer was lost: the stream says so instead of passing it off whole.
        assert "not JSON" in parsed[-1]["error"]["message"]
        assert not any(c.get("choices", [{}])[0].get("finish_reason") for c in parsed[:-1])


def test_a_malformed_event_in_a_cross_dialect_stream_ends_with_an_error_event() -> None:
    with over(malformed_midway("anthropic"), "anthropic", backup=False) as (gw, _, _):
        reply = request(gw.url, "POST", "/v1/chat/completions", chat(stream=True))
        events = [e.removeprefix(b"data: ") for e in reply.body.split(b"\n\n") if e]
        parsed = [json.loads(e) for e in events if e != b"[DONE]"]
        assert parsed[0]["choices"][0]["delta"]["content"] in ("", "Hello")
        assert "error" in parsed[-1], parsed[-1]
        assert "not JSON" in parsed[-1]["error"]["message"]
