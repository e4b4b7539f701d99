"""OpenAI Chat Completions requests to and from the hub.

Chat keeps tool results as `role: tool` messages right after the assistant message that
called the tools, and system prompts as messages wherever they stand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from turnout.wire import hub
from turnout.wire._json import as_dict, as_list, as_text
from turnout.wire.images import image_url_of

SYSTEM_ROLES = ("system", "developer")
SYSTEM_SEPARATOR = "\n\n"  # between the text blocks of one system turn
TOOL_RESULT_SEPARATOR = "\n"  # between the text blocks of one tool result
ERROR_PREFIX = "Error: "  # Chat tool messages have no is_error; the text must say it
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
LABELS = {"effort": "reasoning_effort", "output_format": "response_format"}
#: Content parts that carry what the client needs: not carried, the answer would be wrong.
NEEDED_PARTS = frozenset({"file", "input_audio"})

#: What the hub holds that Chat cannot carry, and whether the answer depends on it (needed:
#: the path is refused unless the route allows dropping) or not (dropped and noted).
CANNOT_CARRY: dict[str, bool] = {
    "cache_breakpoints": False,  # Anthropic cache_control
    "hosted_tools": False,  # tools that run at another provider (web search, bash)
    "image_file_ids": True,  # images only a provider's file store knows
    "tool_result_images": False,
    "foreign_reasoning": False,  # signed or encrypted for another model
}

_MISSING = object()
#: Values that ask for nothing beyond the default: not worth a ledger line when dropped.
HARMLESS: dict[str, object] = {
    "n": 1,
    "logprobs": False,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "response_format": {"type": "text"},
}


def joined_text(content: object, separator: str) -> str:
    """The text of a string or of a list of text parts; other parts are not text."""
    if isinstance(content, str):
        return content
    texts = [as_text(p.get("text")) for p in as_list(content) if as_dict(p).get("type") == "text"]
    return separator.join(texts)


# --- decode -----------------------------------------------------------------------------


def decode(data: dict[str, Any]) -> hub.Request:
    request = hub.Request(model=as_text(data.get("model")), messages=[], labels=dict(LABELS))
    for raw in as_list(data.get("messages")):
        _message(as_dict(raw), request)
    for key, value in data.items():
        if value is None or key in ("model", "messages"):
            continue  # clients send explicit nulls for "not set"
        handler = _FIELDS.get(key)
        if handler is not None:
            handler(value, request)
        elif HARMLESS.get(key, _MISSING) != value:
            request.losses.append(hub.Loss(key))
    return request


def _message(message: dict[str, Any], request: hub.Request) -> None:
    if "name" in message:
        request.losses.append(hub.Loss("messages[].name"))
    role = as_text(message.get("role"))
    content = message.get("content")
    if role in SYSTEM_ROLES:
        request.messages.append(hub.Message("system", [hub.Text(joined_text(content, ""))]))
    elif role == "user":
        if isinstance(content, str):
            request.messages.append(hub.Message("user", [hub.Text(content)], plain=True))
        else:
            parts = [_user_part(as_dict(p)) for p in as_list(content)]
            request.messages.append(hub.Message("user", parts))
    elif role == "assistant":
        request.messages.append(_assistant(message))
    elif role == "tool":
        request.messages.append(hub.Message("user", [_tool_result(message, request)]))
    else:
        request.losses.append(hub.Loss(f"messages[].role={role}"))


def _user_part(part: dict[str, Any]) -> hub.Part:
    kind = as_text(part.get("type"))
    if kind == "text":
        return hub.Text(as_text(part.get("text")))
    if kind == "image_url":
        image = part.get("image_url")
        url = image if isinstance(image, str) else as_text(as_dict(image).get("url"))
        detail = as_text(as_dict(image).get("detail")) or "auto"
        return hub.Image(url=url, detail=detail, label="image_url")
    return hub.Opaque(f"content.{kind}", needed=kind in NEEDED_PARTS)


def _assistant(message: dict[str, Any]) -> hub.Message:
    parts: list[hub.Part] = []
    for field in ("reasoning_content", "reasoning"):
        if message.get(field):
            text = as_text(message[field])
            parts.append(hub.Reasoning(text, origin="openai", label=f"assistant.{field}"))
    for field in ("refusal", "audio"):
        if message.get(field):
            parts.append(hub.Opaque(f"assistant.{field}"))
    text = joined_text(message.get("content"), "")
    calls = [_tool_call(as_dict(call)) for call in as_list(message.get("tool_calls"))]
    if text or not calls:
        parts.append(hub.Text(text))
    return hub.Message("assistant", parts + calls, plain=not calls)


def _tool_call(call: dict[str, Any]) -> hub.Part:
    function = as_dict(call.get("function"))
    arguments = function.get("arguments")
    return hub.ToolCall(
        as_text(call.get("id")),
        as_text(function.get("name")),
        arguments if isinstance(arguments, str) else "",
    )


def _tool_result(message: dict[str, Any], request: hub.Request) -> hub.ToolResult:
    content = message.get("content")
    call_id = as_text(message.get("tool_call_id"))
    if not isinstance(content, list):
        return hub.ToolResult(call_id, [hub.Text(as_text(content))], plain=True)
    parts = [as_dict(part) for part in content]
    if any(part.get("type") != "text" for part in parts):
        request.losses.append(hub.Loss("tool message non-text content"))
    texts = [hub.Text(as_text(p.get("text"))) for p in parts if p.get("text")]
    return hub.ToolResult(call_id, list(texts))


Field = Callable[[Any, hub.Request], None]


def _max_tokens(value: Any, request: hub.Request) -> None:
    if isinstance(value, int) and request.max_tokens is None:
        request.max_tokens = value


def _max_completion_tokens(value: Any, request: hub.Request) -> None:
    if isinstance(value, int):
        request.max_tokens = value  # it wins over max_tokens, which counts less


def _stop(value: Any, request: hub.Request) -> None:
    sequences = [value] if isinstance(value, str) else [as_text(v) for v in as_list(value)]
    request.stop = sequences or None


def _tools(value: Any, request: hub.Request) -> None:
    for raw in as_list(value):
        tool = as_dict(raw)
        kind = as_text(tool.get("type"))
        if kind != "function":
            request.tools.append(hub.Tool("", kind=kind, raw=tool, label=f"tools ({kind})"))
            continue
        function = as_dict(tool.get("function"))
        request.tools.append(
            hub.Tool(
                as_text(function.get("name")),
                function.get("description"),
                function.get("parameters"),
                function.get("strict"),
            )
        )


def _tool_choice(value: Any, request: hub.Request) -> None:
    if value in ("auto", "none", "required"):
        request.tool_choice = hub.ToolChoice(value)
        return
    choice = as_dict(value)
    if choice.get("type") == "function":
        name = as_text(as_dict(choice.get("function")).get("name"))
        request.tool_choice = hub.ToolChoice("tool", name)
        return
    request.losses.append(hub.Loss(f"tool_choice.{choice.get('type') or value}"))


def _response_format(value: Any, request: hub.Request) -> None:
    form = as_dict(value)
    if form.get("type") == "json_schema":
        schema = as_dict(form.get("json_schema"))
        request.output_format = {"type": "json_schema", **schema}
    elif form.get("type") == "json_object":
        request.output_format = {"type": "json_object"}


def _set(name: str) -> Field:
    def handle(value: Any, request: hub.Request) -> None:
        setattr(request, name, value)

    return handle


def _stream_options(value: Any, request: hub.Request) -> None:
    request.include_usage = as_dict(value).get("include_usage") is True


def _n(value: Any, request: hub.Request) -> None:
    if isinstance(value, int):
        request.choices = value


def _effort(value: Any, request: hub.Request) -> None:
    request.effort = as_text(value) or None


_FIELDS: dict[str, Field] = {
    "max_tokens": _max_tokens,
    "max_completion_tokens": _max_completion_tokens,
    "temperature": _set("temperature"),
    "top_p": _set("top_p"),
    "stream": lambda value, request: setattr(request, "stream", value is True),
    "stop": _stop,
    "user": _set("user"),
    "tools": _tools,
    "tool_choice": _tool_choice,
    "parallel_tool_calls": _set("parallel_tool_calls"),
    "reasoning_effort": _effort,
    "stream_options": _stream_options,
    "n": _n,
    "response_format": _response_format,
}


# --- encode -----------------------------------------------------------------------------


def encode(request: hub.Request, model: str, lost: list[hub.Loss]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": _messages(request, lost)}
    if request.max_tokens is not None:
        key = "max_completion_tokens" if request.effort else "max_tokens"
        body[key] = request.max_tokens  # reasoning models take only max_completion_tokens
    for name in ("temperature", "top_p", "user", "parallel_tool_calls"):
        if getattr(request, name) is not None:
            body[name] = getattr(request, name)
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}  # else Chat streams carry no usage
    if request.stop:
        body["stop"] = list(request.stop)
    tools = _encode_tools(request.tools, lost)
    if tools:
        body["tools"] = tools
    if request.tool_choice is not None:
        body["tool_choice"] = _encode_choice(request.tool_choice)
    if request.effort:
        body["reasoning_effort"] = request.effort
    if request.output_format is not None:
        body["response_format"] = _encode_format(request.output_format)
    if request.choices > 1:
        body["n"] = request.choices
    return body


def _encode_tools(tools: list[hub.Tool], lost: list[hub.Loss]) -> list[dict[str, Any]]:
    converted = []
    for tool in tools:
        if tool.kind != "function":  # server tools (web search, bash) run at their provider
            lost.append(
                hub.Loss(tool.label or f"tools ({tool.kind})", CANNOT_CARRY["hosted_tools"])
            )
            continue
        if tool.cache:
            lost.append(hub.Loss("cache_control", CANNOT_CARRY["cache_breakpoints"]))
        function: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            function["description"] = tool.description
        function["parameters"] = tool.parameters or dict(EMPTY_SCHEMA)
        if tool.strict is not None:
            function["strict"] = tool.strict
        converted.append({"type": "function", "function": function})
    return converted


def _encode_choice(choice: hub.ToolChoice) -> Any:
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


def _encode_format(form: dict[str, Any]) -> dict[str, Any]:
    if form.get("type") != "json_schema":
        return {"type": "json_object"}
    schema = {k: v for k, v in form.items() if k != "type"}
    return {"type": "json_schema", "json_schema": schema}


def _messages(request: hub.Request, lost: list[hub.Loss]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            _note_cache(message.parts, lost)
            texts = [p.text for p in message.parts if isinstance(p, hub.Text)]
            messages.append({"role": "system", "content": SYSTEM_SEPARATOR.join(texts)})
        elif message.role == "assistant":
            messages.append(_encode_assistant(message, lost))
        else:
            messages.extend(_encode_user(message, lost))
    return messages


def _note_cache(parts: list[hub.Part], lost: list[hub.Loss]) -> None:
    if any(isinstance(p, hub.Text) and p.cache for p in parts):
        lost.append(hub.Loss("cache_control", CANNOT_CARRY["cache_breakpoints"]))


def _encode_user(message: hub.Message, lost: list[hub.Loss]) -> list[dict[str, Any]]:
    if message.plain and len(message.parts) == 1 and isinstance(message.parts[0], hub.Text):
        return [{"role": "user", "content": message.parts[0].text}]
    _note_cache(message.parts, lost)
    results = [_encode_result(p, lost) for p in message.parts if isinstance(p, hub.ToolResult)]
    kept: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, hub.Text):
            kept.append({"type": "text", "text": part.text})
        elif isinstance(part, hub.Image):
            url = image_url_of(part)
            if url is None:
                needed = CANNOT_CARRY["image_file_ids"]
                lost.append(hub.Loss(f"{part.label} (file source)", needed))
            else:
                image: dict[str, Any] = {"url": url}
                if part.detail != "auto":
                    image["detail"] = part.detail
                kept.append({"type": "image_url", "image_url": image})
        elif isinstance(part, hub.Opaque):
            lost.append(hub.Loss(part.label, part.needed))
    if kept or not results:
        return [*results, {"role": "user", "content": kept}]
    return results


def _encode_result(result: hub.ToolResult, lost: list[hub.Loss]) -> dict[str, Any]:
    if any(not isinstance(p, hub.Text) for p in result.content):
        lost.append(hub.Loss("tool_result.image", CANNOT_CARRY["tool_result_images"]))
    texts = [p.text for p in result.content if isinstance(p, hub.Text)]
    text = TOOL_RESULT_SEPARATOR.join(texts)
    if result.is_error and not text.lower().startswith("error"):
        text = ERROR_PREFIX + text
    return {"role": "tool", "tool_call_id": result.call_id, "content": text}


def _encode_assistant(message: hub.Message, lost: list[hub.Loss]) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, hub.Text):
            texts.append(part.text)
        elif isinstance(part, hub.ToolCall):
            function = {"name": part.name, "arguments": part.arguments or "{}"}
            calls.append({"id": part.id, "type": "function", "function": function})
        elif isinstance(part, hub.Reasoning):
            lost.append(hub.Loss(part.label, CANNOT_CARRY["foreign_reasoning"]))
        elif isinstance(part, hub.Opaque):
            lost.append(hub.Loss(part.label, part.needed))
    # Text blocks of one turn are consecutive output (split around tool calls, citations).
    encoded: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        encoded["tool_calls"] = calls
    elif encoded["content"] is None:
        encoded["content"] = ""
    return encoded
