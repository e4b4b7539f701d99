"""Anthropic `system` + `messages` as OpenAI chat messages.

Anthropic keeps tool results inside user turns; OpenAI wants one `role: tool` message per
result, right after the assistant message that called the tools, so results come first.
"""

from __future__ import annotations

from typing import Any

from turnout.translate._content import image_part, joined_text
from turnout.translate._shared import as_dict, as_list, as_text, openai_tool_call

SYSTEM_SEPARATOR = "\n\n"  # between the blocks of a list-valued Anthropic `system`
TOOL_RESULT_SEPARATOR = "\n"  # between the text blocks of one tool result
ERROR_PREFIX = "Error: "  # OpenAI tool messages have no is_error; the text must say it


def openai_messages(data: dict[str, Any], dropped: list[str]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    system = data.get("system")
    if system:
        _note_cache_control(system, dropped)
        messages.append({"role": "system", "content": joined_text(system, SYSTEM_SEPARATOR)})
    for message in as_list(data.get("messages")):
        messages.extend(_message(as_dict(message), dropped))
    return messages


def _message(message: dict[str, Any], dropped: list[str]) -> list[dict[str, Any]]:
    role = as_text(message.get("role")) or "user"
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    blocks = [as_dict(block) for block in as_list(content)]
    _note_cache_control(blocks, dropped)
    if role == "assistant":
        return [_assistant(blocks, dropped)]
    if role == "system":
        # Instructions stay instructions whether sent as a string or as text blocks; a role
        # that changed between turns would also defeat the upstream's prompt cache.
        text = "\n\n".join(as_text(b.get("text")) for b in blocks if _is(b, "text"))
        return [{"role": "system", "content": text}]
    return _user(blocks, dropped)


def _user(blocks: list[dict[str, Any]], dropped: list[str]) -> list[dict[str, Any]]:
    results = [_tool_message(block, dropped) for block in blocks if _is(block, "tool_result")]
    parts = [_user_part(block, dropped) for block in blocks if not _is(block, "tool_result")]
    kept = [part for part in parts if part is not None]
    if kept or not results:
        return [*results, {"role": "user", "content": kept}]
    return results


def _user_part(block: dict[str, Any], dropped: list[str]) -> dict[str, Any] | None:
    kind = as_text(block.get("type"))
    if kind == "text":
        return {"type": "text", "text": as_text(block.get("text"))}
    if kind == "image":
        part = image_part(block)
        if part is None:
            dropped.append("image (file source)")
        return part
    dropped.append(f"content.{kind}")
    return None


def _tool_message(block: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    content = block.get("content")
    if any(not _is(as_dict(item), "text") for item in as_list(content)):
        dropped.append("tool_result.image")
    text = joined_text(content, TOOL_RESULT_SEPARATOR) if content is not None else ""
    if block.get("is_error") is True and not text.lower().startswith("error"):
        text = ERROR_PREFIX + text
    return {"role": "tool", "tool_call_id": as_text(block.get("tool_use_id")), "content": text}


def _assistant(blocks: list[dict[str, Any]], dropped: list[str]) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        kind = as_text(block.get("type"))
        if kind == "text":
            texts.append(as_text(block.get("text")))
        elif kind == "tool_use":
            calls.append(openai_tool_call(block))
        elif kind in ("thinking", "redacted_thinking"):
            dropped.append("thinking")  # signed by Anthropic; meaningless to another model
        else:
            dropped.append(f"content.{kind}")
    # Text blocks of one turn are consecutive output (split around tool calls, citations).
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    return message


def _is(block: dict[str, Any], kind: str) -> bool:
    return block.get("type") == kind


def _note_cache_control(blocks: object, dropped: list[str]) -> None:
    if any("cache_control" in as_dict(block) for block in as_list(blocks)):
        dropped.append("cache_control")
