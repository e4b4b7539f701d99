"""A scripted provider for demos and tests: replies, streams and failures, no network.

Script steps are taken in order, the last one repeating:

    script:
      - {status: 400, body: '{"type":"error","error":{"type":"invalid_request_error"}}'}
      - {reply: "Hello from the mock.", delay_s: 0.1}
      - {reply: "cut short", cut_after: 2}     # a stream that breaks after two events

A reply is written in whichever dialect the call is in.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from turnout.config.model import ProviderConfig
from turnout.errors import StreamBroken, UpstreamHTTPError
from turnout.providers.base import UpstreamCall, UpstreamResponse

_ids = itertools.count(1)


def _openai_events(model: str, text: str) -> list[bytes]:
    ident = f"chatcmpl-mock{next(_ids)}"
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None, usage: Any = None) -> bytes:
        payload: dict[str, Any] = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if usage is not None:
            payload["usage"] = usage
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    words = text.split(" ")
    events = [chunk({"role": "assistant", "content": ""}, None)]
    events += [chunk({"content": w if i == 0 else " " + w}, None) for i, w in enumerate(words)]
    usage = {"prompt_tokens": 8, "completion_tokens": len(words), "total_tokens": 8 + len(words)}
    events.append(chunk({}, "stop", usage))
    events.append(b"data: [DONE]\n\n")
    return events


def _openai_body(model: str, text: str) -> bytes:
    words = len(text.split(" "))
    return orjson.dumps(
        {
            "id": f"chatcmpl-mock{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 8, "completion_tokens": words, "total_tokens": 8 + words},
        }
    )


def _anthropic_message(
    model: str, text: str, content: list[Any], stop: str | None
) -> dict[str, Any]:
    return {
        "id": f"msg_mock{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 8, "output_tokens": len(text.split(" ")) if stop else 1},
    }


def _anthropic_events(model: str, text: str) -> list[bytes]:
    def event(name: str, payload: dict[str, Any]) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    words = text.split(" ")
    events = [
        event(
            "message_start",
            {"type": "message_start", "message": _anthropic_message(model, text, [], None)},
        ),
        event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    for i, word in enumerate(words):
        delta = {"type": "text_delta", "text": word if i == 0 else " " + word}
        events.append(
            event(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
        )
    events += [
        event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": len(words)},
            },
        ),
        event("message_stop", {"type": "message_stop"}),
    ]
    return events


def _anthropic_body(model: str, text: str) -> bytes:
    return orjson.dumps(
        _anthropic_message(model, text, [{"type": "text", "text": text}], "end_turn")
    )


class MockProvider:
    dialect = "any"

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._script = config.script or ({"reply": "Hello from the turnout mock provider."},)
        self._step = 0

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
        if call.operation == "count_tokens":
            payload = orjson.dumps({"input_tokens": max(1, len(call.body) // 4)})
            return _fixed(payload, "application/json")
        text = str(step.get("reply", "Hello from the turnout mock provider."))
        anthropic = call.dialect == "anthropic"
        if not call.stream:
            body = (
                _anthropic_body(call.model, text) if anthropic else _openai_body(call.model, text)
            )
            return _fixed(body, "application/json")
        events = (
            _anthropic_events(call.model, text) if anthropic else _openai_events(call.model, text)
        )
        cut_after = step.get("cut_after")
        return _streamed(events, None if cut_after is None else int(cut_after))

    async def aclose(self) -> None:
        """Nothing to release."""


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
