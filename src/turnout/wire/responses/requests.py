"""OpenAI Responses requests to and from the hub.

A Responses conversation is a flat list of items: messages, function calls, their outputs and
reasoning items. In the hub, function calls and reasoning join the assistant turn they belong
to, and outputs become tool results in a user turn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from turnout.wire import hub
from turnout.wire._json import as_dict, as_list, as_text
from turnout.wire.codec import CannotCarry
from turnout.wire.responses.carried import carried_reasoning, wrap_reasoning

LABELS = {"effort": "reasoning.effort", "output_format": "text.format"}
SYSTEM_SEPARATOR = "\n\n"
MIN_OUTPUT_TOKENS = 16  # the API refuses a smaller max_output_tokens
#: Fields that ask nothing of the answer a stateless relay could not give.
HARMLESS = frozenset(
    {"store", "prompt_cache_key", "stream_options", "safety_identifier", "client_metadata"}
)
#: What the hub holds that Responses cannot carry, and whether the answer depends on it (needed:
#: the path is refused unless the route allows dropping) or not (dropped and noted). Several
#: choices are refused outright.
CANNOT_CARRY: dict[str, bool] = {
    "stop_sequences": False,
    "hosted_tools": False,  # another provider's server tools
    "tool_result_images": False,
    "foreign_reasoning": False,  # only its own encrypted reasoning goes back
}
_DEFAULT_VALUES: dict[str, object] = {"truncation": "disabled", "background": False}
_TEXT_KINDS = ("input_text", "output_text", "text", "summary_text")


# --- decode -----------------------------------------------------------------------------


def decode(data: dict[str, Any]) -> hub.Request:
    request = hub.Request(model=as_text(data.get("model")), messages=[], labels=dict(LABELS))
    instructions = as_text(data.get("instructions"))
    if instructions:
        request.messages.append(hub.Message("system", [hub.Text(instructions)]))
    items = data.get("input")
    if isinstance(items, str):
        request.messages.append(hub.Message("user", [hub.Text(items)], plain=True))
    for item in as_list(items):
        _item(as_dict(item), request)
    for key, value in data.items():
        if value is None or key in ("model", "input", "instructions"):
            continue
        handler = _FIELDS.get(key)
        if handler is not None:
            handler(value, request)
        elif key not in HARMLESS and _DEFAULT_VALUES.get(key) != value:
            request.losses.append(hub.Loss(key))
    return request


def _assistant_turn(request: hub.Request) -> hub.Message:
    """The assistant turn an output item belongs to: the last message if it is one."""
    if request.messages and request.messages[-1].role == "assistant":
        return request.messages[-1]
    turn = hub.Message("assistant", [])
    request.messages.append(turn)
    return turn


def _item(item: dict[str, Any], request: hub.Request) -> None:
    kind = as_text(item.get("type")) or ("message" if "role" in item else "")
    if kind == "message":
        _message(item, request)
    elif kind == "function_call":
        call_id = as_text(item.get("call_id")) or as_text(item.get("id"))
        call = hub.ToolCall(call_id, as_text(item.get("name")), as_text(item.get("arguments")))
        _assistant_turn(request).parts.append(call)
    elif kind == "function_call_output":
        result = _tool_result(item)
        request.messages.append(hub.Message("user", [result]))
    elif kind == "reasoning":
        _assistant_turn(request).parts.append(_reasoning(item))
    else:
        request.losses.append(hub.Loss(f"input[].{kind or 'item'}", needed=True))


def _message(item: dict[str, Any], request: hub.Request) -> None:
    role = as_text(item.get("role"))
    content = item.get("content")
    if role in ("system", "developer"):
        text = content if isinstance(content, str) else _texts(content, SYSTEM_SEPARATOR)
        request.messages.append(hub.Message("system", [hub.Text(text)]))
        return
    if isinstance(content, str):
        parts: list[hub.Part] = [hub.Text(content)]
    else:
        parts = [_part(as_dict(p)) for p in as_list(content)]
    if role == "assistant":
        _assistant_turn(request).parts.extend(parts)
    else:
        request.messages.append(hub.Message("user", parts, plain=isinstance(content, str)))


def _texts(content: object, separator: str) -> str:
    parts = [as_dict(p) for p in as_list(content)]
    return separator.join(as_text(p.get("text")) for p in parts if p.get("type") in _TEXT_KINDS)


def _part(part: dict[str, Any]) -> hub.Part:
    kind = as_text(part.get("type"))
    if kind in _TEXT_KINDS:
        return hub.Text(as_text(part.get("text")))
    if kind == "refusal":
        return hub.Text(as_text(part.get("refusal")))
    if kind == "input_image":
        return hub.Image(
            url=as_text(part.get("image_url")),
            file_id=as_text(part.get("file_id")),
            detail=as_text(part.get("detail")) or "auto",
            label="input_image",
        )
    return hub.Opaque(f"content.{kind}", needed=kind in ("input_file", "input_audio"))


def _tool_result(item: dict[str, Any]) -> hub.ToolResult:
    call_id = as_text(item.get("call_id"))
    output = item.get("output")
    if not isinstance(output, list):
        return hub.ToolResult(call_id, [hub.Text(as_text(output))], plain=True)
    parts: list[hub.Text | hub.Image] = []
    for part in (_part(as_dict(p)) for p in output):
        if isinstance(part, hub.Text | hub.Image):
            parts.append(part)
    return hub.ToolResult(call_id, parts)


def _reasoning(item: dict[str, Any]) -> hub.Reasoning:
    summary = _texts(item.get("summary"), "\n\n") or _texts(item.get("content"), "")
    encrypted = as_text(item.get("encrypted_content"))
    carried = carried_reasoning(encrypted)
    if carried is not None:
        return carried
    return hub.Reasoning(
        summary,
        origin="responses",
        signature=encrypted,
        item_id=as_text(item.get("id")),
        label="reasoning",
    )


Field = Callable[[Any, hub.Request], None]


def _set(name: str) -> Field:
    def handle(value: Any, request: hub.Request) -> None:
        setattr(request, name, value)

    return handle


def _tools(value: Any, request: hub.Request) -> None:
    for raw in as_list(value):
        tool = as_dict(raw)
        kind = as_text(tool.get("type"))
        name = as_text(tool.get("name"))
        if kind != "function":  # hosted tools (web search, files) and free-form tools
            label = f"tools.{name or kind} ({kind})"
            request.tools.append(hub.Tool(name, kind=kind, raw=tool, label=label))
            continue
        request.tools.append(
            hub.Tool(name, tool.get("description"), tool.get("parameters"), tool.get("strict"))
        )


def _tool_choice(value: Any, request: hub.Request) -> None:
    if value in ("auto", "none", "required"):
        request.tool_choice = hub.ToolChoice(value)
        return
    choice = as_dict(value)
    if choice.get("type") == "function":
        request.tool_choice = hub.ToolChoice("tool", as_text(choice.get("name")))
    else:
        request.losses.append(hub.Loss(f"tool_choice.{choice.get('type') or value}"))


def _text(value: Any, request: hub.Request) -> None:
    config = as_dict(value)
    form = as_dict(config.get("format"))
    if form.get("type") in ("json_schema", "json_object"):
        request.output_format = dict(form)
    for key in config:
        if key != "format" and config[key] is not None:
            request.losses.append(hub.Loss(f"text.{key}"))


def _reasoning_config(value: Any, request: hub.Request) -> None:
    effort = as_dict(value).get("effort")
    if isinstance(effort, str) and effort:
        request.effort = effort


def _include(value: Any, request: hub.Request) -> None:
    for name in as_list(value):
        if name == "reasoning.encrypted_content":
            request.keep_reasoning = True
        else:
            request.losses.append(hub.Loss(f"include.{name}"))


def _metadata(value: Any, request: hub.Request) -> None:
    if as_dict(value):
        request.losses.append(hub.Loss("metadata"))


_FIELDS: dict[str, Field] = {
    "max_output_tokens": lambda v, r: setattr(r, "max_tokens", v if isinstance(v, int) else None),
    "temperature": _set("temperature"),
    "top_p": _set("top_p"),
    "user": _set("user"),
    "stream": lambda value, request: setattr(request, "stream", value is True),
    "tools": _tools,
    "tool_choice": _tool_choice,
    "parallel_tool_calls": _set("parallel_tool_calls"),
    "text": _text,
    "reasoning": _reasoning_config,
    "include": _include,
    "metadata": _metadata,
}


# --- encode -----------------------------------------------------------------------------


def encode(request: hub.Request, model: str, lost: list[hub.Loss]) -> dict[str, Any]:
    """The request for a Responses upstream: stateless (`store: false`), reasoning kept
    as encrypted content so it can come back on the next turn."""
    if request.choices > 1:
        raise CannotCarry([f"n={request.choices}"], "Responses")
    instructions, items = _items(request.messages, lost)
    body: dict[str, Any] = {"model": model, "input": items, "store": False}
    if instructions:
        body["instructions"] = SYSTEM_SEPARATOR.join(instructions)
    if request.max_tokens is not None:
        body["max_output_tokens"] = max(request.max_tokens, MIN_OUTPUT_TOKENS)
    for name in ("temperature", "top_p", "user", "parallel_tool_calls"):
        if getattr(request, name) is not None:
            body[name] = getattr(request, name)
    if request.stream:
        body["stream"] = True
    if request.stop:
        lost.append(hub.Loss("stop", CANNOT_CARRY["stop_sequences"]))
    tools = _encode_tools(request.tools, lost)
    if tools:
        body["tools"] = tools
    if request.tool_choice is not None:
        choice = request.tool_choice
        body["tool_choice"] = (
            {"type": "function", "name": choice.name} if choice.mode == "tool" else choice.mode
        )
    if request.effort:
        body["reasoning"] = {"effort": request.effort, "summary": "auto"}
        body["include"] = ["reasoning.encrypted_content"]
    if request.output_format is not None:
        body["text"] = {"format": _encode_format(request.output_format)}
    return body


def _encode_format(form: dict[str, Any]) -> dict[str, Any]:
    if form.get("type") != "json_schema":
        return {"type": "json_object"}
    return {"type": "json_schema", "name": as_text(form.get("name")) or "output", **form}


def _encode_tools(tools: list[hub.Tool], lost: list[hub.Loss]) -> list[dict[str, Any]]:
    converted = []
    for tool in tools:
        if tool.kind != "function":
            label = tool.label or f"tools ({tool.kind})"
            lost.append(hub.Loss(label, CANNOT_CARRY["hosted_tools"]))
            continue
        entry: dict[str, Any] = {"type": "function", "name": tool.name}
        if tool.description is not None:
            entry["description"] = tool.description
        entry["parameters"] = tool.parameters or {"type": "object", "properties": {}}
        if tool.strict is not None:
            entry["strict"] = tool.strict
        converted.append(entry)
    return converted


def _items(
    messages: list[hub.Message], lost: list[hub.Loss]
) -> tuple[list[str], list[dict[str, Any]]]:
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    for message in messages:
        texts = [p.text for p in message.parts if isinstance(p, hub.Text)]
        if message.role == "system":
            if items:
                content = [{"type": "input_text", "text": "".join(texts)}]
                items.append({"type": "message", "role": "developer", "content": content})
            else:
                instructions.append("".join(texts))
        elif message.role == "assistant":
            items += _assistant_items(message, lost)
        else:
            items += _user_items(message, lost)
    return instructions, items


def _user_items(message: hub.Message, lost: list[hub.Loss]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, hub.ToolResult):
            texts = [p.text for p in part.content if isinstance(p, hub.Text)]
            if len(texts) < len(part.content):
                lost.append(hub.Loss("tool_result.image", CANNOT_CARRY["tool_result_images"]))
            output = "\n".join(texts)
            if part.is_error and not output.lower().startswith("error"):
                output = "Error: " + output
            items.append(
                {"type": "function_call_output", "call_id": part.call_id, "output": output}
            )
        elif isinstance(part, hub.Text):
            content.append({"type": "input_text", "text": part.text})
        elif isinstance(part, hub.Image):
            image: dict[str, Any] = {"type": "input_image", "detail": part.detail}
            image["image_url" if part.url else "file_id"] = part.url or part.file_id
            content.append(image)
        elif isinstance(part, hub.Opaque):
            lost.append(hub.Loss(part.label, part.needed))
    if content:
        items.append({"type": "message", "role": "user", "content": content})
    return items


def _assistant_items(message: hub.Message, lost: list[hub.Loss]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, hub.Text) and part.text:
            content = [{"type": "output_text", "text": part.text, "annotations": []}]
            items.append({"type": "message", "role": "assistant", "content": content})
        elif isinstance(part, hub.ToolCall):
            call = {"type": "function_call", "call_id": part.id, "name": part.name}
            items.append({**call, "arguments": part.arguments or "{}"})
        elif isinstance(part, hub.Reasoning) and part.origin == "responses" and part.signature:
            summary = [{"type": "summary_text", "text": part.text}] if part.text else []
            item = {"type": "reasoning", "summary": summary, "encrypted_content": part.signature}
            items.append({**item, "id": part.item_id} if part.item_id else item)
        elif isinstance(part, hub.Reasoning):
            lost.append(hub.Loss(part.label, CANNOT_CARRY["foreign_reasoning"]))
        elif isinstance(part, hub.Opaque):
            lost.append(hub.Loss(part.label, part.needed))
    return items


__all__ = ["decode", "encode", "wrap_reasoning"]
