"""The Anthropic messages dialect: a full `message` body or its event stream."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from tests.fakes.sse import fragments, frame, words
from tests.fakes.steps import Reply

SIGNATURE = "fake-thinking-signature"


def _model(reply: Reply, request: Mapping[str, Any]) -> str:
    return reply.model or str(request.get("model") or "fake-model")


def _stop_reason(reply: Reply) -> str:
    return "tool_use" if reply.tool_call else "end_turn"


def _blocks(reply: Reply) -> list[dict[str, Any]]:
    """Complete content blocks in API order: thinking, text, tool use."""
    blocks: list[dict[str, Any]] = []
    if reply.reasoning is not None:
        blocks.append({"type": "thinking", "thinking": reply.reasoning, "signature": SIGNATURE})
    if reply.content:
        blocks.append({"type": "text", "text": reply.content})
    if call := reply.tool_call:
        call_id = call.id or f"toolu_{uuid.uuid4().hex[:24]}"
        blocks.append(
            {"type": "tool_use", "id": call_id, "name": call.name, "input": call.arguments}
        )
    return blocks


def _message(reply: Reply, request: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": _model(reply, request),
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
    }


def body(reply: Reply, request: Mapping[str, Any]) -> dict[str, Any]:
    """The non-streaming response body."""
    input_tokens, output_tokens = reply.usage
    return _message(reply, request) | {
        "content": _blocks(reply),
        "stop_reason": _stop_reason(reply),
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def _block_events(index: int, block: dict[str, Any]) -> list[bytes]:
    """content_block_start, its deltas and content_block_stop for one finished block."""
    kind = block["type"]
    if kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": p} for p in words(block["thinking"])]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in words(block["text"])]
    else:
        start = block | {"input": {}}
        arguments = orjson.dumps(block["input"]).decode()
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in fragments(arguments)]
    return [
        frame(
            {"type": "content_block_start", "index": index, "content_block": start},
            "content_block_start",
        ),
        *(
            frame(
                {"type": "content_block_delta", "index": index, "delta": d}, "content_block_delta"
            )
            for d in deltas
        ),
        frame({"type": "content_block_stop", "index": index}, "content_block_stop"),
    ]


def events(reply: Reply, request: Mapping[str, Any]) -> list[bytes]:
    """The SSE stream: message_start, ping, blocks, message_delta, message_stop."""
    input_tokens, output_tokens = reply.usage
    start = _message(reply, request) | {"usage": {"input_tokens": input_tokens, "output_tokens": 1}}
    frames = [
        frame({"type": "message_start", "message": start}, "message_start"),
        frame({"type": "ping"}, "ping"),
    ]
    for index, block in enumerate(_blocks(reply)):
        frames += _block_events(index, block)
    delta = {"stop_reason": _stop_reason(reply), "stop_sequence": None}
    usage = {"output_tokens": output_tokens}
    frames.append(frame({"type": "message_delta", "delta": delta, "usage": usage}, "message_delta"))
    frames.append(frame({"type": "message_stop"}, "message_stop"))
    return frames
