"""Whole Responses API response objects to and from the hub.

The output is a list of items: reasoning, assistant messages of `output_text` parts, and
function calls. Usage counts cached tokens inside `input_tokens`.
"""

from __future__ import annotations

import time
from typing import Any

from turnout.wire import hub
from turnout.wire._json import as_dict, as_list, as_text, count, new_id, prefixed
from turnout.wire.responses.carried import carried_reasoning, wrap_reasoning


def read_usage(usage: object) -> hub.Usage:
    data = as_dict(usage)
    total_in = count(data.get("input_tokens"))
    cached = min(count(as_dict(data.get("input_tokens_details")).get("cached_tokens")), total_in)
    reasoning = count(as_dict(data.get("output_tokens_details")).get("reasoning_tokens"))
    return hub.Usage(total_in - cached, count(data.get("output_tokens")), cached, 0, reasoning)


def write_usage(usage: hub.Usage) -> dict[str, Any]:
    total_in = usage.input + usage.cache_read + usage.cache_write
    return {
        "input_tokens": total_in,
        "input_tokens_details": {"cached_tokens": usage.cache_read},
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": total_in + usage.output,
    }


def response_object(
    response_id: str,
    model: str,
    status: str,
    output: list[dict[str, Any]],
    usage: hub.Usage | None,
    request: hub.Request | None,
) -> dict[str, Any]:
    """A `response` object; the request's settings are echoed as the API does."""
    request = request or hub.Request(model=model, messages=[])
    incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
    instructions = [
        p.text
        for m in request.messages[:1]
        if m.role == "system"
        for p in m.parts
        if isinstance(p, hub.Text)
    ]
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": "".join(instructions) or None,
        "max_output_tokens": request.max_tokens,
        "model": model,
        "output": output,
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "previous_response_id": None,
        "reasoning": {"effort": request.effort, "summary": None},
        "store": False,
        "temperature": request.temperature,
        "text": {"format": request.output_format or {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": request.top_p,
        "truncation": "disabled",
        "usage": write_usage(usage) if usage is not None else None,
        "user": request.user,
        "metadata": {},
    }


def reasoning_item(part: hub.Reasoning, item_id: str) -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": part.text}] if part.text else []
    item: dict[str, Any] = {"id": item_id, "type": "reasoning", "summary": summary}
    encrypted = wrap_reasoning(part)
    if encrypted:
        item["encrypted_content"] = encrypted
    return item


def message_item(text: str, item_id: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content if status == "completed" else [],
    }


def call_item(call: hub.ToolCall, item_id: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call.id,
        "name": call.name,
        "arguments": call.arguments if status == "completed" else "",
    }


def status_of(stop: str) -> str:
    return "incomplete" if stop in ("max_tokens", "context_window") else "completed"


def encode(
    response: hub.Response, model: str, request: hub.Request | None = None
) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    texts: list[str] = []

    def flush() -> None:
        if texts:
            output.append(message_item("".join(texts), new_id("msg_", 32)))
            texts.clear()

    for part in response.parts:
        if isinstance(part, hub.Text):
            texts.append(part.text)
            continue
        flush()
        if isinstance(part, hub.Reasoning):
            output.append(reasoning_item(part, part.item_id or new_id("rs_", 32)))
        elif isinstance(part, hub.ToolCall):
            output.append(call_item(part, new_id("fc_", 32)))
    flush()
    ident = prefixed(response.id, "resp_")
    return response_object(ident, model, status_of(response.stop), output, response.usage, request)


def decode(data: dict[str, Any]) -> hub.Response:
    parts: list[hub.Part] = []
    for item in (as_dict(i) for i in as_list(data.get("output"))):
        kind = item.get("type")
        if kind == "message":
            for content in (as_dict(c) for c in as_list(item.get("content"))):
                text = as_text(content.get("text")) or as_text(content.get("refusal"))
                if text:
                    parts.append(hub.Text(text))
        elif kind == "function_call":
            call_id = as_text(item.get("call_id")) or as_text(item.get("id"))
            args = as_text(item.get("arguments"))
            parts.append(hub.ToolCall(call_id, as_text(item.get("name")), args))
        elif kind == "reasoning":
            parts.append(decode_reasoning(item))
    saw_tool = any(isinstance(p, hub.ToolCall) for p in parts)
    stop: hub.Stop = "tool_use" if saw_tool else "end_turn"
    if data.get("status") == "incomplete":
        stop = "max_tokens"
    usage = read_usage(data.get("usage"))
    return hub.Response(as_text(data.get("id")), as_text(data.get("model")), parts, stop, usage)


def decode_reasoning(item: dict[str, Any]) -> hub.Reasoning:
    encrypted = as_text(item.get("encrypted_content"))
    carried = carried_reasoning(encrypted)
    if carried is not None:
        return carried
    summary = [as_text(as_dict(s).get("text")) for s in as_list(item.get("summary"))]
    return hub.Reasoning(
        "\n\n".join(s for s in summary if s),
        origin="responses",
        signature=encrypted,
        item_id=as_text(item.get("id")),
    )
