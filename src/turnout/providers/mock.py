"""A scripted provider for demos and tests: replies, streams and failures, no network.

Script steps are taken in order, the last one repeating:

    script:
      - {status: 400, body: '{"type":"error","error":{"type":"invalid_request_error"}}'}
      - {reply: "Hello from the mock.", delay_s: 0.1}
      - {reply: "cut short", cut_after: 2}     # a stream that breaks after two events

A reply is written in whichever wire the call is in, by that wire's codec.
"""

from __future__ import annotations

import asyncio
import itertools
import zlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from turnout.config.model import ProviderConfig
from turnout.errors import StreamBroken, UpstreamHTTPError
from turnout.providers.base import UpstreamCall, UpstreamResponse
from turnout.wire import CODECS, Codec, hub

_ids = itertools.count(1)
PROMPT_TOKENS = 8  # what every mock reply says its prompt cost


def _reply(model: str, text: str) -> hub.Response:
    usage = hub.Usage(input=PROMPT_TOKENS, output=len(text.split(" ")))
    return hub.Response(f"mock{next(_ids)}", model, [hub.Text(text)], "end_turn", usage)


def _events(reply: hub.Response) -> list[hub.Event]:
    """The reply as a stream: word by word, usage at the end."""
    [part] = reply.parts
    assert isinstance(part, hub.Text)
    words = part.text.split(" ")
    deltas = [hub.Delta(w if i == 0 else " " + w) for i, w in enumerate(words)]
    start = hub.Started(reply.id, reply.model, hub.Usage(input=PROMPT_TOKENS, output=1))
    return [
        start,
        hub.Opened("text"),
        *deltas,
        hub.Closed(),
        hub.UsageSeen(reply.usage),
        hub.Stopped(reply.stop),
        hub.Ended(),
    ]


def _streamed_bytes(codec: Codec, reply: hub.Response) -> list[bytes]:
    request = hub.Request(model=reply.model, messages=[], include_usage=True)
    encoder = codec.stream_encoder(reply.model, request)
    return [chunk for event in _events(reply) for chunk in encoder.encode(event)]


class MockProvider:
    dialect = "any"
    operations = frozenset({"chat", "count_tokens", "embeddings"})

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._script = config.script or ({"reply": "Hello from the turnout mock provider."},)
        self._step = 0

    def dialect_for(self, model: str) -> str:
        return self.dialect

    def _next_step(self) -> dict[str, Any]:
        step = self._script[min(self._step, len(self._script) - 1)]
        self._step += 1
        return step

    async def open(self, call: UpstreamCall) -> UpstreamResponse:
        step = self._next_step()
        if step.get("delay_s"):
            await asyncio.sleep(float(step["delay_s"]))
        if "status" in step and int(step["status"]) >= 400:
            raise UpstreamHTTPError(
                f"HTTP {step['status']} from mock {self.config.name}",
                status=int(step["status"]),
                body=str(step.get("body", "")),
                headers={str(k).lower(): str(v) for k, v in (step.get("headers") or {}).items()},
            )
        if call.operation == "embeddings":
            return _fixed(_embeddings(call), "application/json")
        if call.operation == "count_tokens":
            payload = orjson.dumps({"input_tokens": max(1, len(call.body) // 4)})
            return _fixed(payload, "application/json")
        text = str(step.get("reply", "Hello from the turnout mock provider."))
        codec, reply = CODECS[call.dialect], _reply(call.model, text)
        if not call.stream:
            return _fixed(
                orjson.dumps(codec.encode_response(reply, call.model)), "application/json"
            )
        cut_after = step.get("cut_after")
        events = _streamed_bytes(codec, reply)
        return _streamed(events, None if cut_after is None else int(cut_after))

    async def aclose(self) -> None:
        """Nothing to release."""


def _embeddings(call: UpstreamCall) -> bytes:
    """One small vector per input, the same for the same text."""
    data = orjson.loads(call.body)
    inputs = data.get("input")
    texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
    vectors = [
        {
            "object": "embedding",
            "index": i,
            "embedding": [((zlib.crc32(str(t).encode()) >> k) % 1000) / 1000 for k in range(8)],
        }
        for i, t in enumerate(texts)
    ]
    tokens = sum(max(1, len(str(t)) // 4) for t in texts)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return orjson.dumps({"object": "list", "data": vectors, "model": call.model, "usage": usage})


async def _nothing() -> None:
    return None


def _fixed(body: bytes, content_type: str) -> UpstreamResponse:
    async def chunks() -> AsyncIterator[bytes]:
        yield body

    return UpstreamResponse(200, {"content-type": content_type}, chunks(), _nothing)


def _streamed(events: list[bytes], cut_after: int | None) -> UpstreamResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for index, event in enumerate(events):
            if cut_after is not None and index >= cut_after:
                raise StreamBroken("mock stream cut", log="stream interrupted: mock cut")
            yield event
            await asyncio.sleep(0)

    return UpstreamResponse(200, {"content-type": "text/event-stream"}, chunks(), _nothing)
