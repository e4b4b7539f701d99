"""Whole Gemini responses (`GenerateContentResponse`) to and from the hub.

Only the first candidate is read: a request for more is refused before it is sent. Gemini counts
cached tokens inside `promptTokenCount` and thoughts apart from `candidatesTokenCount`; the hub
keeps uncached input, cache reads and all output (thoughts included) apart.
"""

from __future__ import annotations

from typing import Any

from turnout.wire import hub
from turnout.wire._json import as_dict, as_list, as_text, count, dump, load_object, new_id
from turnout.wire.gemini.requests import field

#: Gemini's finishReason -> hub stop. A natural end and a stop sequence are both STOP; every
#: filter (safety, recitation, blocklists, personal data) is a refusal.
STOPS: dict[str, hub.Stop] = {
    "STOP": "end_turn",
    "MAX_TOKENS": "max_tokens",
    "SAFETY": "refusal",
    "RECITATION": "refusal",
    "LANGUAGE": "refusal",
    "BLOCKLIST": "refusal",
    "PROHIBITED_CONTENT": "refusal",
    "SPII": "refusal",
    "IMAGE_SAFETY": "refusal",
    "IMAGE_PROHIBITED_CONTENT": "refusal",
    "IMAGE_RECITATION": "refusal",
}
FINISH_REASONS: dict[str, str] = {
    "max_tokens": "MAX_TOKENS",
    "context_window": "MAX_TOKENS",
    "refusal": "SAFETY",
}
#: Set in a call's args when the upstream's arguments were not a JSON object.
RAW_ARGUMENTS_KEY = "_raw_arguments"


def stop_of(reason: object, *, saw_tool_call: bool = False) -> hub.Stop:
    """Gemini says STOP after function calls; clients run tools only on a tool stop."""
    stop = STOPS.get(as_text(reason), "end_turn")
    return "tool_use" if saw_tool_call and stop == "end_turn" else stop


def finish_reason(stop: str) -> str:
    return FINISH_REASONS.get(stop, "STOP")


def read_usage(usage: object) -> hub.Usage:
    data = as_dict(usage)
    prompt = count(field(data, "promptTokenCount")) + count(field(data, "toolUsePromptTokenCount"))
    cached = min(count(field(data, "cachedContentTokenCount")), prompt)
    thoughts = count(field(data, "thoughtsTokenCount"))
    output = count(field(data, "candidatesTokenCount")) + thoughts
    return hub.Usage(input=prompt - cached, output=output, cache_read=cached, reasoning=thoughts)


def write_usage(usage: hub.Usage) -> dict[str, int]:
    prompt = usage.input + usage.cache_read + usage.cache_write
    thoughts = min(usage.reasoning, usage.output)
    written = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": usage.output - thoughts,
        "totalTokenCount": prompt + usage.output,
    }
    if usage.cache_read:
        written["cachedContentTokenCount"] = usage.cache_read
    if thoughts:
        written["thoughtsTokenCount"] = thoughts
    return written


def candidate_of(data: dict[str, Any]) -> dict[str, Any]:
    return as_dict(next(iter(as_list(data.get("candidates"))), None))


def decode_parts(parts: list[Any]) -> list[hub.Part]:
    out: list[hub.Part] = []
    for part in (as_dict(p) for p in parts):
        signature = as_text(field(part, "thoughtSignature"))
        call = field(part, "functionCall")
        if part.get("thought") is True:
            out.append(
                hub.Reasoning(
                    as_text(part.get("text")), origin="gemini", signature=signature, label="thought"
                )
            )
        elif isinstance(call, dict):
            ident = as_text(call.get("id")) or new_id("call_")
            arguments = dump(as_dict(call.get("args")))
            out.append(hub.ToolCall(ident, as_text(call.get("name")), arguments, signature))
        elif "text" in part or signature:
            out.append(hub.Text(as_text(part.get("text")), signature=signature))
    return out


def decode(data: dict[str, Any]) -> hub.Response:
    candidate = candidate_of(data)
    parts = decode_parts(as_list(as_dict(candidate.get("content")).get("parts")))
    saw_tool = any(isinstance(part, hub.ToolCall) for part in parts)
    reason = candidate.get("finishReason")
    if not candidate and as_dict(field(data, "promptFeedback")).get("blockReason"):
        reason = "SAFETY"  # the prompt itself was blocked: no candidate at all
    return hub.Response(
        as_text(field(data, "responseId")),
        as_text(field(data, "modelVersion")),
        parts,
        stop_of(reason, saw_tool_call=saw_tool),
        read_usage(field(data, "usageMetadata")),
    )


def encode_part(part: hub.Part) -> dict[str, Any] | None:
    if isinstance(part, hub.Text):
        if not part.text and not part.signature:
            return None
        text: dict[str, Any] = {"text": part.text}
        if part.signature:
            text["thoughtSignature"] = part.signature
        return text
    if isinstance(part, hub.Reasoning):
        thought: dict[str, Any] = {"text": part.text, "thought": True}
        if part.origin == "gemini" and part.signature:
            thought["thoughtSignature"] = part.signature
        return thought
    if isinstance(part, hub.ToolCall):
        arguments = load_object(part.arguments)
        args = arguments if arguments is not None else {RAW_ARGUMENTS_KEY: part.arguments}
        call: dict[str, Any] = {"functionCall": {"id": part.id, "name": part.name, "args": args}}
        if part.signature:
            call["thoughtSignature"] = part.signature
        return call
    return None


def encode(response: hub.Response, model: str) -> dict[str, Any]:
    parts = [encoded for part in response.parts if (encoded := encode_part(part)) is not None]
    candidate = {
        "content": {"role": "model", "parts": parts},
        "finishReason": finish_reason(response.stop),
        "index": 0,
    }
    return {
        "candidates": [candidate],
        "usageMetadata": write_usage(response.usage),
        "modelVersion": model,
        "responseId": response.id or new_id("", 22),
    }
