"""Anthropic Messages requests to and from the hub.

Anthropic wants strict user/assistant alternation with tool results as blocks at the start of
the next user turn, one system prompt at the top, and only thinking it signed itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from turnout.wire import hub
from turnout.wire._json import as_dict, as_list, as_text, dump, load_object
from turnout.wire.codec import CannotCarry
from turnout.wire.images import DATA_URL, data_url

DEFAULT_MAX_TOKENS = 8192
SYSTEM_SEPARATOR = "\n\n"
# A system message after the conversation started stays where it was, as user text in a
# marked wrapper: hoisting it into `system` would rewrite the prompt prefix every turn and
# defeat Anthropic's prompt cache.
MID_SYSTEM_WRAPPER = "<system-reminder>\n{}\n</system-reminder>"
# Anthropic tool_choice type <-> hub mode, for the choices that need no tool name.
MODES: dict[str, str] = {"auto": "auto", "any": "required", "none": "none"}
CHOICE_TYPES: dict[str, str] = {mode: kind for kind, mode in MODES.items()}
# Thinking budget (tokens) -> reasoning effort: the first bound the budget stays under.
EFFORT_BY_BUDGET: tuple[tuple[int, str], ...] = ((4096, "low"), (16384, "medium"))
TOP_EFFORT = "high"
# Reasoning effort -> thinking budget, inside the bands above. 1024 is Anthropic's minimum.
BUDGET_BY_EFFORT: dict[str, int] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
}
MIN_BUDGET = 1024
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
#: What the hub holds that Messages cannot carry, and whether the answer depends on it (needed:
#: the path is refused unless the route allows dropping) or not (dropped and noted). Several
#: choices are refused outright: one request gets one answer.
CANNOT_CARRY: dict[str, bool] = {
    "structured_output": True,  # a JSON schema or JSON-object format for the answer
    "effort_without_room": False,  # a reasoning effort whose budget does not fit the cap
    "hosted_tools": False,
    "unparsable_tool_arguments": False,
    "foreign_reasoning": False,  # Anthropic accepts only thinking it signed
    "image_detail": False,
    "image_url_schemes": True,  # images by a URL that is neither data: nor http(s)
}
_MISSING = object()
HARMLESS: dict[str, object] = {"n": 1}


# --- decode -----------------------------------------------------------------------------


def decode(data: dict[str, Any]) -> hub.Request:
    request = hub.Request(model=as_text(data.get("model")), messages=[])
    system = data.get("system")
    if system:
        request.messages.append(hub.Message("system", _system_parts(system)))
    for raw in as_list(data.get("messages")):
        request.messages.append(_message(as_dict(raw)))
    for key, value in data.items():
        if value is None or key in ("model", "messages", "system"):
            continue
        handler = _FIELDS.get(key)
        if handler is not None:
            handler(value, request)
        elif HARMLESS.get(key, _MISSING) != value:
            request.losses.append(hub.Loss(key))
    return request


def _system_parts(system: object) -> list[hub.Part]:
    if isinstance(system, str):
        return [hub.Text(system)]
    blocks = [as_dict(block) for block in as_list(system)]
    return [
        hub.Text(as_text(b.get("text")), cache="cache_control" in b)
        for b in blocks
        if b.get("type") == "text"
    ]


def _message(message: dict[str, Any]) -> hub.Message:
    role = as_text(message.get("role")) or "user"
    content = message.get("content")
    if role == "system":
        # Instructions stay instructions whether sent as a string or as text blocks.
        return hub.Message("system", _system_parts(content))
    kind: hub.Role = "assistant" if role == "assistant" else "user"
    if isinstance(content, str):
        return hub.Message(kind, [hub.Text(content)], plain=True)
    return hub.Message(kind, [_block(as_dict(block)) for block in as_list(content)])


def _block(block: dict[str, Any]) -> hub.Part:
    kind = as_text(block.get("type"))
    cache = "cache_control" in block
    if kind == "text":
        return hub.Text(as_text(block.get("text")), cache=cache)
    if kind == "image":
        return _image(block)
    if kind == "tool_use":
        return hub.ToolCall(
            as_text(block.get("id")), as_text(block.get("name")), dump(block.get("input") or {})
        )
    if kind == "tool_result":
        return _tool_result(block)
    if kind == "thinking":
        text, signature = as_text(block.get("thinking")), as_text(block.get("signature"))
        return hub.Reasoning(text, origin="anthropic", signature=signature)
    if kind == "redacted_thinking":
        data = as_text(block.get("data"))
        return hub.Reasoning("", origin="anthropic", signature=data, redacted=True)
    return hub.Opaque(f"content.{kind}", needed=kind == "document")


def _image(block: dict[str, Any]) -> hub.Image:
    source = as_dict(block.get("source"))
    kind = source.get("type")
    if kind == "base64":
        url = data_url(as_text(source.get("media_type")), as_text(source.get("data")))
        return hub.Image(url=url)
    if kind == "url":
        return hub.Image(url=as_text(source.get("url")))
    return hub.Image(file_id=as_text(source.get("file_id")) or "file", label="image")


def _tool_result(block: dict[str, Any]) -> hub.ToolResult:
    content = block.get("content")
    call_id = as_text(block.get("tool_use_id"))
    error = block.get("is_error") is True
    if not isinstance(content, list):
        return hub.ToolResult(call_id, [hub.Text(as_text(content))], error, plain=True)
    parts: list[hub.Text | hub.Image] = []
    for item in (as_dict(item) for item in content):
        if item.get("type") == "text":
            parts.append(hub.Text(as_text(item.get("text"))))
        elif item.get("type") == "image":
            parts.append(_image(item))
    return hub.ToolResult(call_id, parts, error)


Field = Callable[[Any, hub.Request], None]


def _set(name: str) -> Field:
    def handle(value: Any, request: hub.Request) -> None:
        setattr(request, name, value)

    return handle


def _stop_sequences(value: Any, request: hub.Request) -> None:
    request.stop = [as_text(v) for v in as_list(value)] or None


def _metadata(value: Any, request: hub.Request) -> None:
    for key, item in as_dict(value).items():
        if key == "user_id" and isinstance(item, str):
            request.user = item
        elif item is not None:
            request.losses.append(hub.Loss(f"metadata.{key}"))


def _tools(value: Any, request: hub.Request) -> None:
    for raw in as_list(value):
        tool = as_dict(raw)
        kind = as_text(tool.get("type")) or "custom"
        name = as_text(tool.get("name"))
        if kind != "custom":  # server tools (web search, bash, computer use) run at Anthropic
            label = f"tools.{name or kind} ({kind})"
            request.tools.append(hub.Tool(name, kind=kind, raw=tool, label=label))
            continue
        request.tools.append(
            hub.Tool(
                name,
                tool.get("description"),
                tool.get("input_schema"),
                tool.get("strict"),
                cache="cache_control" in tool,
            )
        )


def _tool_choice(value: Any, request: hub.Request) -> None:
    choice = as_dict(value)
    kind = as_text(choice.get("type"))
    if choice.get("disable_parallel_tool_use") is True:
        request.parallel_tool_calls = False
    if kind == "tool":
        request.tool_choice = hub.ToolChoice("tool", as_text(choice.get("name")))
    elif kind in MODES:
        request.tool_choice = hub.ToolChoice(MODES[kind])  # type: ignore[arg-type]
    else:
        request.losses.append(hub.Loss(f"tool_choice.{kind}"))


def _thinking(value: Any, request: hub.Request) -> None:
    """An enabled budget is also an effort; `adaptive` leaves it to the model, as an unset
    effort does."""
    thinking = as_dict(value)
    budget = thinking.get("budget_tokens")
    if thinking.get("type") != "enabled" or not isinstance(budget, int):
        return
    request.thinking_budget = budget
    request.effort = next((e for bound, e in EFFORT_BY_BUDGET if budget < bound), TOP_EFFORT)


_FIELDS: dict[str, Field] = {
    "max_tokens": _set("max_tokens"),
    "temperature": _set("temperature"),
    "top_p": _set("top_p"),
    "stream": lambda value, request: setattr(request, "stream", value is True),
    "stop_sequences": _stop_sequences,
    "metadata": _metadata,
    "tools": _tools,
    "tool_choice": _tool_choice,
    "thinking": _thinking,
}


# --- encode -----------------------------------------------------------------------------


def encode(request: hub.Request, model: str, lost: list[hub.Loss]) -> dict[str, Any]:
    """Raises CannotCarry for several choices: Anthropic answers once per request."""
    if request.choices > 1:
        n = request.choices
        raise CannotCarry([f"n={n} asks for {n} choices; one per request"], "Anthropic")
    system, messages = _messages(request.messages, lost)
    body: dict[str, Any] = {"model": model, "messages": messages}
    if system:
        body["system"] = SYSTEM_SEPARATOR.join(system)
    explicit = request.max_tokens is not None
    body["max_tokens"] = request.max_tokens if explicit else DEFAULT_MAX_TOKENS
    for name in ("temperature", "top_p"):
        if getattr(request, name) is not None:
            body[name] = getattr(request, name)
    if request.stream:
        body["stream"] = True
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.user is not None:
        body["metadata"] = {"user_id": request.user}
    tools = _encode_tools(request.tools, lost)
    if tools:
        body["tools"] = tools
    _encode_choice(request, body)
    if request.effort is not None:
        _thinking_for(request.effort, body, explicit_max=explicit)
        if "thinking" not in body and request.effort != "none":
            lost.append(hub.Loss(request.label("effort"), CANNOT_CARRY["effort_without_room"]))
    if request.output_format is not None:
        needed = CANNOT_CARRY["structured_output"]
        lost.append(hub.Loss(request.label("output_format"), needed))
    return body


def _encode_tools(tools: list[hub.Tool], lost: list[hub.Loss]) -> list[dict[str, Any]]:
    converted = []
    for tool in tools:
        if tool.kind != "function":
            lost.append(
                hub.Loss(tool.label or f"tools ({tool.kind})", CANNOT_CARRY["hosted_tools"])
            )
            continue
        entry: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            entry["description"] = tool.description
        entry["input_schema"] = tool.parameters or dict(EMPTY_SCHEMA)
        if tool.strict is not None:
            entry["strict"] = tool.strict
        converted.append(entry)
    return converted


def _encode_choice(request: hub.Request, body: dict[str, Any]) -> None:
    choice = request.tool_choice
    if choice is not None:
        if choice.mode == "tool":
            body["tool_choice"] = {"type": "tool", "name": choice.name}
        else:
            body["tool_choice"] = {"type": CHOICE_TYPES[choice.mode]}
    # OpenAI's `parallel_tool_calls: false` lives on Anthropic's tool_choice.
    if request.parallel_tool_calls is not False or "tools" not in body:
        return
    encoded = body.setdefault("tool_choice", {"type": "auto"})
    if encoded.get("type") != "none":
        encoded["disable_parallel_tool_use"] = True


def _thinking_for(effort: str, body: dict[str, Any], *, explicit_max: bool) -> None:
    """An explicit cap counts thinking too (as OpenAI's max_completion_tokens does), so the
    budget fits under it; a default cap is for the answer, so the budget is added on top."""
    budget = BUDGET_BY_EFFORT.get(effort)
    if budget is None:
        return
    if not explicit_max:
        body["max_tokens"] += budget
    budget = min(budget, body["max_tokens"] - 1)
    if budget >= MIN_BUDGET:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}


def _messages(
    messages: list[hub.Message], lost: list[hub.Loss]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The leading system texts and the alternating Anthropic messages."""
    system: list[str] = []
    converted: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            text = "".join(p.text for p in message.parts if isinstance(p, hub.Text))
            if converted:
                wrapped = MID_SYSTEM_WRAPPER.format(text)
                converted.append({"role": "user", "content": [{"type": "text", "text": wrapped}]})
            else:
                system.append(text)
            continue
        converted.append(_encode_message(message, lost))
    return system, merge_turns(converted)


def _encode_message(message: hub.Message, lost: list[hub.Loss]) -> dict[str, Any]:
    blocks = [b for b in (_encode_part(p, lost) for p in message.parts) if b is not None]
    if message.plain and all(block["type"] == "text" for block in blocks):
        return {"role": message.role, "content": "".join(block["text"] for block in blocks)}
    if message.role == "assistant":
        blocks = [b for b in blocks if b.get("type") != "text" or b.get("text")]
    return {"role": message.role, "content": blocks}


def _encode_part(part: hub.Part, lost: list[hub.Loss]) -> dict[str, Any] | None:
    if isinstance(part, hub.Text):
        return {"type": "text", "text": part.text}
    if isinstance(part, hub.Image):
        return _encode_image(part, lost)
    if isinstance(part, hub.ToolCall):
        arguments = load_object(part.arguments)
        if arguments is None:
            label = "tool_calls[].function.arguments (not a JSON object)"
            lost.append(hub.Loss(label, CANNOT_CARRY["unparsable_tool_arguments"]))
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": arguments or {}}
    if isinstance(part, hub.ToolResult):
        return _encode_result(part, lost)
    if isinstance(part, hub.Reasoning):
        if part.origin != "anthropic":
            # Anthropic only accepts thinking it signed itself; foreign reasoning cannot go back.
            lost.append(hub.Loss(part.label, CANNOT_CARRY["foreign_reasoning"]))
            return None
        if part.redacted:
            return {"type": "redacted_thinking", "data": part.signature}
        return {"type": "thinking", "thinking": part.text, "signature": part.signature}
    lost.append(hub.Loss(part.label, part.needed))
    return None


def _encode_image(image: hub.Image, lost: list[hub.Loss]) -> dict[str, Any] | None:
    if image.detail != "auto":
        lost.append(hub.Loss(f"{image.label}.detail", CANNOT_CARRY["image_detail"]))
    inline = DATA_URL.fullmatch(image.url)
    if inline:
        source = {"type": "base64", "media_type": inline["media"], "data": inline["data"]}
    elif image.url.startswith(("https://", "http://")):
        source = {"type": "url", "url": image.url}
    else:
        needed = CANNOT_CARRY["image_url_schemes"]
        lost.append(hub.Loss(f"{image.label} (unsupported URL)", needed))
        return None
    return {"type": "image", "source": source}


def _encode_result(result: hub.ToolResult, lost: list[hub.Loss]) -> dict[str, Any]:
    content: Any
    if result.plain:
        content = "".join(p.text for p in result.content if isinstance(p, hub.Text))
    else:
        content = [b for b in (_encode_part(p, lost) for p in result.content) if b is not None]
    encoded = {"type": "tool_result", "tool_use_id": result.call_id, "content": content}
    if result.is_error:
        encoded["is_error"] = True
    return encoded


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
