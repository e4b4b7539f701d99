"""OpenAI chat messages as Anthropic `system` + `messages`.

Anthropic wants strict user/assistant alternation with tool results as blocks at the start of
the next user turn, and has one system prompt at the top.
"""

from __future__ import annotations

from typing import Any

from turnout.translate._content import image_block, image_detail, joined_text
from turnout.translate._shared import as_dict, as_list, as_text, load_arguments

SYSTEM_ROLES = ("system", "developer")
# A system message after the conversation started stays where it was, as user text in a
# marked wrapper: hoisting it into `system` would rewrite the prompt prefix every turn and
# defeat Anthropic's prompt cache.
MID_SYSTEM_WRAPPER = "<system-reminder>\n{}\n</system-reminder>"


def anthropic_messages(
    messages: list[Any], dropped: list[str]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The leading system texts and the alternating Anthropic messages."""
    system: list[str] = []
    converted: list[dict[str, Any]] = []
    for raw in messages:
        message = as_dict(raw)
        if "name" in message:
            dropped.append("messages[].name")
        role = as_text(message.get("role"))
        if role in SYSTEM_ROLES:
            text = joined_text(message.get("content"), "")
            if converted:
                converted.append(_user_text(MID_SYSTEM_WRAPPER.format(text)))
            else:
                system.append(text)
            continue
        convert = _CONVERTERS.get(role)
        if convert is None:
            dropped.append(f"messages[].role={role}")
            continue
        converted.append(convert(message, dropped))
    return system, merge_turns(converted)


def _user(message: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, str):
        return {"role": "user", "content": content}
    blocks = [_user_block(as_dict(part), dropped) for part in as_list(content)]
    return {"role": "user", "content": [block for block in blocks if block is not None]}


def _user_block(part: dict[str, Any], dropped: list[str]) -> dict[str, Any] | None:
    kind = as_text(part.get("type"))
    if kind == "text":
        return {"type": "text", "text": as_text(part.get("text"))}
    if kind == "image_url":
        if image_detail(part) != "auto":
            dropped.append("image_url.detail")
        block = image_block(part)
        if block is None:
            dropped.append("image_url (unsupported URL)")
        return block
    dropped.append(f"content.{kind}")
    return None


def _assistant(message: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    for field in ("reasoning_content", "reasoning", "refusal", "audio"):
        if message.get(field):
            # Anthropic only accepts thinking it signed itself; foreign reasoning cannot go back.
            dropped.append(f"assistant.{field}")
    text = joined_text(message.get("content"), "")
    calls = [_tool_use(as_dict(call), dropped) for call in as_list(message.get("tool_calls"))]
    if not calls:
        return {"role": "assistant", "content": text}
    blocks = [{"type": "text", "text": text}] if text else []
    return {"role": "assistant", "content": blocks + calls}


def _tool_use(call: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    function = as_dict(call.get("function"))
    arguments = load_arguments(function.get("arguments"))
    if arguments is None:
        dropped.append("tool_calls[].function.arguments (not a JSON object)")
    return {
        "type": "tool_use",
        "id": as_text(call.get("id")),
        "name": as_text(function.get("name")),
        "input": arguments or {},
    }


def _tool(message: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, list):
        parts = [as_dict(part) for part in content]
        if any(part.get("type") != "text" for part in parts):
            dropped.append("tool message non-text content")
        content = [{"type": "text", "text": as_text(p.get("text"))} for p in parts if p.get("text")]
    result = {
        "type": "tool_result",
        "tool_use_id": as_text(message.get("tool_call_id")),
        "content": content if content is not None else "",
    }
    return {"role": "user", "content": [result]}


_CONVERTERS = {"user": _user, "assistant": _assistant, "tool": _tool}


def _user_text(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def merge_turns(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive messages of one role become one; tool results lead their user turn."""
    merged: list[dict[str, Any]] = []
    for message in messages:
        if merged and merged[-1]["role"] == message["role"]:
            blocks = _blocks(merged[-1]["content"]) + _blocks(message["content"])
            merged[-1] = {"role": message["role"], "content": _results_first(blocks)}
        else:
            merged.append(message)
    return merged


def _blocks(content: object) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [as_dict(block) for block in as_list(content)]


def _results_first(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(blocks, key=lambda block: block.get("type") != "tool_result")
