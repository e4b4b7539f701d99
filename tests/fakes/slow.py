"""An upstream that answers slowly and notes when the gateway lets go of it: for clients that
hang up and gateways that stop mid-answer. A handler for `HostileUpstream`, bounded (its
answer ends by itself, long after a test would have seen it stopped).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from tests.fakes.hostile import Handler, HostileUpstream

#: The slow answer's length: at 50 ms an event, 40 s, far beyond a hang-up noticed at once.
EVENTS = 800
EVENT_GAP_S = 0.05


@dataclass
class Upstream:
    """What the slow upstream saw: events written, and whether the gateway let go early."""

    sent: int = 0
    let_go: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)


def chunk(text: str) -> bytes:
    data = {
        "id": "chatcmpl-slow",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "model-a",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    return b"data: " + orjson.dumps(data) + b"\n\n"


def slow_upstream(seen: Upstream) -> Handler:
    async def handler(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
        body = await request.json()
        seen.answered.set()
        try:
            if not body.get("stream"):
                await asyncio.sleep(EVENTS * EVENT_GAP_S)  # headers come only at the end
                return web.json_response({"choices": []})
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for _ in range(EVENTS):
                if not await up.send(response, chunk("word ")):
                    seen.let_go.set()
                    return response
                seen.sent += 1
                await asyncio.sleep(EVENT_GAP_S)
            return response
        except asyncio.CancelledError:  # the gateway closed the connection
            seen.let_go.set()
            raise

    return handler


def read_events(sock: socket.socket, count: int) -> bytes:
    """Read a raw HTTP response until `count` events have arrived."""
    received = b""
    while received.count(b"data: ") < count:
        piece = sock.recv(65536)
        assert piece, "the gateway closed the stream"
        received += piece
    return received
