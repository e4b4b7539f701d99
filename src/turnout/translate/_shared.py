"""Small conversions every translation needs: ids, tool arguments, stop reasons, usage.

Kept in one place so requests, responses and streams cannot disagree about them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson

# Anthropic stop_reason -> OpenAI finish_reason. `pause_turn` (a server tool loop paused)
# has no OpenAI word; the turn did stop, so "stop" is the honest reading.
FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# OpenAI finish_reason -> Anthropic stop_reason. OpenAI's "stop" covers both a natural end and
# a stop sequence and cannot tell them apart; end_turn is the common case.
STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def as_dict(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one: upstreams send nulls freely."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def as_text(value: object) -> str:
    return value if isinstance(value, str) else ""


def finish_reason(stop_reason: object) -> str:
    return FINISH_REASONS.get(as_text(stop_reason), "stop")


def stop_reason(finish: object, *, saw_tool_call: bool = False) -> str:
    """The Anthropic stop reason; some OpenAI-compatible servers say "stop" after tool calls,
    and Anthropic clients only run tools on `tool_use`, so tool calls win."""
    reason = STOP_REASONS.get(as_text(finish), "end_turn")
    return "tool_use" if saw_tool_call and reason == "end_turn" else reason


def message_id(upstream_id: object) -> str:
    """An Anthropic message id that still shows the upstream id (`msg_chatcmpl-…`)."""
    text = as_text(upstream_id) or uuid.uuid4().hex
    return text if text.startswith("msg_") else f"msg_{text}"


def completion_id(upstream_id: object) -> str:
    """An OpenAI completion id that still shows the upstream id (`chatcmpl-msg_…`)."""
    text = as_text(upstream_id) or uuid.uuid4().hex
    return text if text.startswith("chatcmpl-") else f"chatcmpl-{text}"


def tool_call_id() -> str:
    """An id for a tool call whose upstream gave none (Anthropic requires one)."""
    return f"toolu_{uuid.uuid4().hex[:24]}"


def dump_arguments(value: object) -> str:
    """Anthropic `input` (an object) as OpenAI `arguments` (a JSON string)."""
    return orjson.dumps(value if value is not None else {}).decode()


def openai_tool_call(block: Mapping[str, Any]) -> dict[str, Any]:
    """An Anthropic `tool_use` block as an OpenAI tool call; the id is kept as it is."""
    return {
        "id": as_text(block.get("id")),
        "type": "function",
        "function": {
            "name": as_text(block.get("name")),
            "arguments": dump_arguments(block.get("input")),
        },
    }


def load_arguments(raw: object) -> dict[str, Any] | None:
    """OpenAI `arguments` as an object, or None when they are not a JSON object."""
    text = as_text(raw).strip()
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def empty_usage() -> dict[str, int]:
    return {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }


def usage_from_openai(usage: object) -> dict[str, int]:
    """Anthropic usage from OpenAI usage.

    OpenAI counts cached tokens inside `prompt_tokens`; Anthropic counts them beside
    `input_tokens`. DeepSeek reports hits as `prompt_cache_hit_tokens`.
    """
    data = as_dict(usage)
    prompt = _count(data.get("prompt_tokens"))
    details = as_dict(data.get("prompt_tokens_details"))
    cached = _count(details.get("cached_tokens")) or _count(data.get("prompt_cache_hit_tokens"))
    cached = min(cached, prompt)
    return {
        "input_tokens": prompt - cached,
        "output_tokens": _count(data.get("completion_tokens")),
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    }


def usage_from_anthropic(usage: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI usage from Anthropic usage: every input token, cached or not, is a prompt token."""
    read = _count(usage.get("cache_read_input_tokens"))
    prompt = (
        _count(usage.get("input_tokens")) + read + _count(usage.get("cache_creation_input_tokens"))
    )
    completion = _count(usage.get("output_tokens"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": read},
    }


def merge_anthropic_usage(current: dict[str, int], update: object) -> dict[str, int]:
    """Anthropic stream usage: later events repeat the totals so far, for the fields they carry."""
    merged = dict(current)
    for key, value in as_dict(update).items():
        if key in merged and isinstance(value, int):
            merged[key] = _count(value)
    return merged
