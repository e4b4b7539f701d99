"""The OpenAI chat completions dialect: a full `chat.completion` body or its chunk stream.

Reasoning goes in `reasoning_content`, the field OpenAI-compatible reasoning
providers (DeepSeek, vLLM) use; OpenAI itself does not return reasoning here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from tests.fakes.sse import fragments, frame, words
from tests.fakes.steps import Reply

DONE = b"data: [DONE]\n\n"


def _model(reply: Reply, request: Mapping[str, Any]) -> str:
    return reply.model or str(request.get("model") or "fake-model")


def _call_id(reply: Reply) -> str:
    call = reply.tool_call
    return (call.id if call and call.id else None) or f"call_{uuid.uuid4().hex[:24]}"


def _usage(reply: Reply) -> dict[str, int]:
    prompt, completion = reply.usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _finish_reason(reply: Reply) -> str:
    return "tool_calls" if reply.tool_call else "stop"


def body(reply: Reply, request: Mapping[str, Any]) -> dict[str, Any]:
    """The non-streaming response body."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.content or None,
        "refusal": None,
    }
    if reply.reasoning is not None:
        message["reasoning_content"] = reply.reasoning
    if reply.tool_call:
        message["tool_calls"] = [
            {
                "id": _call_id(reply),
                "type": "function",
                "function": {
                    "name": reply.tool_call.name,
                    "arguments": orjson.dumps(reply.tool_call.arguments).decode(),
                },
            }
        ]
    choice = {"index": 0, "message": message, "logprobs": None}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": _model(reply, request),
        "choices": [choice | {"finish_reason": _finish_reason(reply)}],
        "usage": _usage(reply),
    }


def _deltas(reply: Reply) -> list[dict[str, Any]]:
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"reasoning_content": piece} for piece in words(reply.reasoning or "")]
    deltas += [{"content": piece} for piece in words(reply.content)]
    if call := reply.tool_call:
        head = {"id": _call_id(reply), "type": "function"}
        deltas.append(
            {"tool_calls": [{"index": 0, **head, "function": {"name": call.name, "arguments": ""}}]}
        )
        arguments = orjson.dumps(call.arguments).decode()
        deltas += [
            {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
            for piece in fragments(arguments)
        ]
    return deltas


def events(reply: Reply, request: Mapping[str, Any]) -> list[bytes]:
    """The SSE stream: role, reasoning, content and tool-call chunks, finish, usage, [DONE]."""
    options = request.get("stream_options")
    include_usage = isinstance(options, Mapping) and options.get("include_usage") is True
    base: dict[str, Any] = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": _model(reply, request),
    }
    if include_usage:
        base["usage"] = None

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return frame(base | {"choices": [choice]})

    frames = [chunk(delta) for delta in _deltas(reply)]
    frames.append(chunk({}, _finish_reason(reply)))
    if include_usage:
        frames.append(frame(base | {"choices": [], "usage": _usage(reply)}))
    frames.append(DONE)
    return frames
