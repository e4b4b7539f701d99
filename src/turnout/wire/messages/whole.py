"""Whole (non-streamed) Anthropic messages to and from the hub."""

from __future__ import annotations

from typing import Any

from turnout.wire import hub
from turnout.wire._json import as_dict, as_list, as_text, count, dump, load_object, prefixed

# Set on a tool_use input when the upstream's arguments were not a JSON object, so the client
# sees the fault instead of a silently emptied call.
RAW_ARGUMENTS_KEY = "_raw_arguments"
STOPS: dict[str, hub.Stop] = {
    "end_turn": "end_turn",
    "stop_sequence": "stop_sequence",
    "pause_turn": "pause_turn",
    "max_tokens": "max_tokens",
    "model_context_window_exceeded": "context_window",
    "tool_use": "tool_use",
    "refusal": "refusal",
}
STOP_REASONS: dict[str, str] = {str(stop): reason for reason, stop in STOPS.items()}


def stop_of(reason: object) -> hub.Stop:
    return STOPS.get(as_text(reason), "end_turn")


def merge_usage(current: hub.Usage, update: object) -> hub.Usage:
    """Anthropic's usage blocks are cumulative: a later one replaces what it names."""
    data = as_dict(update)
    return hub.Usage(
        input=count(data["input_tokens"]) if "input_tokens" in data else current.input,
        output=count(data["output_tokens"]) if "output_tokens" in data else current.output,
        cache_read=count(data["cache_read_input_tokens"])
        if "cache_read_input_tokens" in data
        else current.cache_read,
        cache_write=count(data["cache_creation_input_tokens"])
        if "cache_creation_input_tokens" in data
        else current.cache_write,
    )


def write_usage(usage: hub.Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.input,
        "output_tokens": usage.output,
        "cache_read_input_tokens": usage.cache_read,
        "cache_creation_input_tokens": usage.cache_write,
    }


def decode(data: dict[str, Any]) -> hub.Response:
    parts: list[hub.Part] = []
    for block in (as_dict(b) for b in as_list(data.get("content"))):
        kind = block.get("type")
        if kind == "text":
            parts.append(hub.Text(as_text(block.get("text"))))
        elif kind == "thinking":
            text, signature = as_text(block.get("thinking")), as_text(block.get("signature"))
            parts.append(hub.Reasoning(text, origin="anthropic", signature=signature))
        elif kind == "redacted_thinking":
            data_ = as_text(block.get("data"))
            parts.append(hub.Reasoning("", origin="anthropic", signature=data_, redacted=True))
        elif kind == "tool_use":
            call = hub.ToolCall(
                as_text(block.get("id")), as_text(block.get("name")), dump(block.get("input"))
            )
            parts.append(call)
    return hub.Response(
        as_text(data.get("id")),
        as_text(data.get("model")),
        parts,
        stop_of(data.get("stop_reason")),
        merge_usage(hub.Usage(), data.get("usage")),
        as_text(data.get("stop_sequence")) or None,
    )


def encode(response: hub.Response, model: str) -> dict[str, Any]:
    return {
        "id": prefixed(response.id, "msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block for part in response.parts if (block := _block(part)) is not None],
        "stop_reason": STOP_REASONS.get(response.stop, "end_turn"),
        "stop_sequence": response.stop_sequence,
        "usage": write_usage(response.usage),
    }


def _block(part: hub.Part) -> dict[str, Any] | None:
    if isinstance(part, hub.Text):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, hub.Reasoning):
        if part.redacted and part.origin == "anthropic":
            return {"type": "redacted_thinking", "data": part.signature}
        # No Anthropic signature exists for foreign reasoning; an empty one says so.
        signature = part.signature if part.origin == "anthropic" else ""
        return {"type": "thinking", "thinking": part.text, "signature": signature}
    if isinstance(part, hub.ToolCall):
        arguments = load_object(part.arguments)
        raw = {RAW_ARGUMENTS_KEY: part.arguments}
        return {
            "type": "tool_use",
            "id": part.id,
            "name": part.name,
            "input": arguments if arguments is not None else raw,
        }
    return None
