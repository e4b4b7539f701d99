"""Whole (non-streamed) Chat Completions responses to and from the hub.

Reasoning from OpenAI-compatible providers (`reasoning_content` from DeepSeek and others,
`reasoning` from OpenRouter) is a reasoning part without a signature.
"""

from __future__ import annotations

import time
from typing import Any

from turnout.wire import hub
from turnout.wire._json import as_dict, as_list, as_text, count, prefixed

# Chat finish_reason -> hub stop reason. "stop" covers both a natural end and a stop
# sequence and cannot tell them apart; end_turn is the common case.
STOPS: dict[str, hub.Stop] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
# Hub stop reason -> finish_reason. `pause_turn` (a server tool loop paused) has no Chat word;
# the turn did stop, so "stop" is the honest reading.
FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "context_window": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def stop_of(finish: object, *, saw_tool_call: bool = False) -> hub.Stop:
    """Some OpenAI-compatible servers say "stop" after tool calls, and clients only run tools
    on a tool stop, so tool calls win."""
    reason = STOPS.get(as_text(finish), "end_turn")
    return "tool_use" if saw_tool_call and reason == "end_turn" else reason


def finish_reason(stop: str) -> str:
    return FINISH_REASONS.get(stop, "stop")


def read_usage(usage: object) -> hub.Usage:
    """Chat counts cached tokens inside `prompt_tokens`; DeepSeek reports hits as
    `prompt_cache_hit_tokens`."""
    data = as_dict(usage)
    prompt = count(data.get("prompt_tokens"))
    details = as_dict(data.get("prompt_tokens_details"))
    cached = count(details.get("cached_tokens")) or count(data.get("prompt_cache_hit_tokens"))
    cached = min(cached, prompt)
    reasoning = count(as_dict(data.get("completion_tokens_details")).get("reasoning_tokens"))
    return hub.Usage(prompt - cached, count(data.get("completion_tokens")), cached, 0, reasoning)


def write_usage(usage: hub.Usage) -> dict[str, Any]:
    """Every input token, cached or not, is a prompt token."""
    prompt = usage.input + usage.cache_read + usage.cache_write
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output,
        "total_tokens": prompt + usage.output,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read},
    }


def decode(data: dict[str, Any]) -> hub.Response:
    choice = as_dict(next(iter(as_list(data.get("choices"))), None))
    message = as_dict(choice.get("message"))
    parts: list[hub.Part] = []
    reasoning = as_text(message.get("reasoning_content")) or as_text(message.get("reasoning"))
    if reasoning:
        parts.append(hub.Reasoning(reasoning, origin="openai"))
    text = _text(message.get("content")) or as_text(message.get("refusal"))
    if text:
        parts.append(hub.Text(text))
    for raw in as_list(message.get("tool_calls")):
        function = as_dict(as_dict(raw).get("function"))
        arguments = function.get("arguments")
        parts.append(
            hub.ToolCall(
                as_text(as_dict(raw).get("id")),
                as_text(function.get("name")),
                arguments if isinstance(arguments, str) else "",
            )
        )
    saw_tool = any(isinstance(part, hub.ToolCall) for part in parts)
    stop = stop_of(choice.get("finish_reason"), saw_tool_call=saw_tool)
    if message.get("refusal"):
        stop = "refusal"
    usage = read_usage(data.get("usage"))
    return hub.Response(as_text(data.get("id")), as_text(data.get("model")), parts, stop, usage)


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    parts = [as_dict(part) for part in as_list(content)]
    return "".join(as_text(part.get("text")) for part in parts if part.get("type") == "text")


def encode(response: hub.Response, model: str) -> dict[str, Any]:
    texts = [p.text for p in response.parts if isinstance(p, hub.Text)]
    thinking = [p.text for p in response.parts if isinstance(p, hub.Reasoning) and p.text]
    calls = [
        {"id": p.id, "type": "function", "function": {"name": p.name, "arguments": p.arguments}}
        for p in response.parts
        if isinstance(p, hub.ToolCall)
    ]
    # Text blocks of one answer are consecutive pieces (split around citations and tools).
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
    }
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    if calls:
        message["tool_calls"] = calls
    return {
        "id": prefixed(response.id, "chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(response.stop),
            }
        ],
        "usage": write_usage(response.usage),
    }
