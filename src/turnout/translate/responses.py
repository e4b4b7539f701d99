"""Whole (non-streaming) responses between the two dialects.

Reasoning from OpenAI-compatible providers (`reasoning_content` from DeepSeek and others,
`reasoning` from OpenRouter) becomes a leading Anthropic `thinking` block, and back.
"""

from __future__ import annotations

import time
from typing import Any

from turnout.translate._shared import (
    as_dict,
    as_list,
    as_text,
    completion_id,
    finish_reason,
    load_arguments,
    message_id,
    openai_tool_call,
    stop_reason,
    usage_from_anthropic,
    usage_from_openai,
)

# Set on a tool_use input when the upstream's arguments were not a JSON object, so the client
# sees the fault instead of a silently emptied call.
RAW_ARGUMENTS_KEY = "_raw_arguments"


def openai_to_anthropic_response(data: dict[str, Any], model: str) -> dict[str, Any]:
    choice = as_dict(next(iter(as_list(data.get("choices"))), None))
    message = as_dict(choice.get("message"))
    content = _anthropic_content(message)
    saw_tool = any(block["type"] == "tool_use" for block in content)
    reason = stop_reason(choice.get("finish_reason"), saw_tool_call=saw_tool)
    if message.get("refusal"):
        reason = "refusal"
    return {
        "id": message_id(data.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": None,
        "usage": usage_from_openai(data.get("usage")),
    }


def _anthropic_content(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    reasoning = as_text(message.get("reasoning_content")) or as_text(message.get("reasoning"))
    if reasoning:
        # No Anthropic signature exists for foreign reasoning; an empty one says so.
        blocks.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = _openai_text(message.get("content")) or as_text(message.get("refusal"))
    if text:
        blocks.append({"type": "text", "text": text})
    blocks.extend(_tool_use(as_dict(call)) for call in as_list(message.get("tool_calls")))
    return blocks


def _openai_text(content: object) -> str:
    if isinstance(content, str):
        return content
    parts = [as_dict(part) for part in as_list(content)]
    return "".join(as_text(part.get("text")) for part in parts if part.get("type") == "text")


def _tool_use(call: dict[str, Any]) -> dict[str, Any]:
    function = as_dict(call.get("function"))
    raw = function.get("arguments")
    arguments = load_arguments(raw)
    return {
        "type": "tool_use",
        "id": as_text(call.get("id")),
        "name": as_text(function.get("name")),
        "input": arguments if arguments is not None else {RAW_ARGUMENTS_KEY: as_text(raw)},
    }


def anthropic_to_openai_response(data: dict[str, Any], model: str) -> dict[str, Any]:
    blocks = [as_dict(block) for block in as_list(data.get("content"))]
    return {
        "id": completion_id(data.get("id")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": _openai_message(blocks),
                "logprobs": None,
                "finish_reason": finish_reason(data.get("stop_reason")),
            }
        ],
        "usage": usage_from_anthropic(as_dict(data.get("usage"))),
    }


def _openai_message(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    texts = [as_text(block.get("text")) for block in blocks if block.get("type") == "text"]
    thinking = [as_text(b.get("thinking")) for b in blocks if b.get("type") == "thinking"]
    calls = [openai_tool_call(block) for block in blocks if block.get("type") == "tool_use"]
    # Text blocks of one answer are consecutive pieces (split around citations and tools).
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
    }
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    if calls:
        message["tool_calls"] = calls
    return message
