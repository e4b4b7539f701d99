"""Gemini generateContent requests to and from the hub.

A Gemini conversation is `contents` of `user` and `model` turns made of parts: text (a thought
when `thought` is set), inline data, function calls and function responses. Any part may carry
a `thoughtSignature` that must go back with it on the next turn; the hub keeps it on the text,
tool call or reasoning it came on. The model is in the URL and streaming is the endpoint, so a
body names neither: the edge puts both in the request's data as `model` and `stream`.

Gemini matches a function response to its call by name (ids are optional), so calls without
an id get one here and their responses the id of the first unanswered call of that name.
Google's JSON takes field names in camelCase or snake_case; both are read, camelCase written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from turnout.wire import hub
from turnout.wire._json import as_dict, as_list, as_text, dump, load_object
from turnout.wire.codec import CannotCarry
from turnout.wire.images import DATA_URL, data_url

#: The keys the edge adds to a Gemini request's data (the URL's model, the endpoint's stream).
EDGE_KEYS = ("model", "stream")
SYSTEM_SEPARATOR = "\n\n"
MID_SYSTEM_WRAPPER = "<system-reminder>\n{}\n</system-reminder>"
#: The signature Google documents for a function call Gemini did not write itself (another
#: provider's turn, a hand-built history): the first call of a step needs one on Gemini 3.
FOREIGN_CALL_SIGNATURE = "skip_thought_signature_validator"
MODES: dict[str, str] = {"AUTO": "auto", "ANY": "required", "NONE": "none", "VALIDATED": "auto"}
#: Thinking budget (tokens) -> effort, the first bound the budget stays under; and back.
EFFORT_BY_BUDGET: tuple[tuple[int, str], ...] = ((4096, "low"), (16384, "medium"))
BUDGET_BY_EFFORT: dict[str, int] = {
    "none": 0,
    "minimal": 512,
    "low": 2048,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
}
LEVELS = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high"}
LABELS = {
    "effort": "generationConfig.thinkingConfig",
    "output_format": "generationConfig.responseSchema",
    "user": "user",
}
#: What the hub holds that Gemini cannot carry, and whether the answer depends on it.
CANNOT_CARRY: dict[str, bool] = {
    "hosted_tools": False,  # another provider's server tools
    "foreign_reasoning": False,  # Gemini takes back only thoughts it signed
    "image_urls": True,  # an image by http(s) URL: Gemini takes inline data or its own files
    "image_detail": False,
    "tool_result_images": False,
    "unparsable_tool_arguments": False,
    "parallel_tool_calls": False,
    "user": False,
}
#: Top-level fields that change nothing a translation must keep.
HARMLESS = frozenset({"labels"})
_UPPER = re.compile(r"[A-Z]")


def snake(name: str) -> str:
    return _UPPER.sub(lambda m: "_" + m.group(0).lower(), name)


def field(data: dict[str, Any], name: str) -> Any:
    """A field by its camelCase name, or by its snake_case one."""
    value = data.get(name)
    return data.get(snake(name)) if value is None else value


# --- decode -----------------------------------------------------------------------------


class _Calls:
    """Ids for calls that came without one, and the call each response answers."""

    def __init__(self) -> None:
        self.count = 0
        self.pending: list[tuple[str, str]] = []  # (name, id) of calls not yet answered

    def call(self, name: str, given: str) -> str:
        self.count += 1
        ident = given or f"call_{self.count}_{name}"
        self.pending.append((name, ident))
        return ident

    def answer(self, name: str, given: str) -> str:
        for index, (pending_name, ident) in enumerate(self.pending):
            if (given and ident == given) or (not given and pending_name == name):
                del self.pending[index]
                return ident
        return given or f"call_unmatched_{name}"


def decode(data: dict[str, Any]) -> hub.Request:
    request = hub.Request(
        model=as_text(data.get("model")),
        messages=[],
        stream=data.get("stream") is True,
        labels=dict(LABELS),
    )
    system = as_dict(field(data, "systemInstruction"))
    texts = [as_text(as_dict(p).get("text")) for p in as_list(system.get("parts"))]
    if any(texts):
        request.messages.append(hub.Message("system", [hub.Text(SYSTEM_SEPARATOR.join(texts))]))
    calls = _Calls()
    for content in as_list(data.get("contents")):
        request.messages.append(_content(as_dict(content), calls, request))
    for key, value in data.items():
        if value is None or key in ("contents", "systemInstruction", "system_instruction"):
            continue
        if key in EDGE_KEYS or key in HARMLESS:
            continue
        handler = _FIELDS.get(key) or _FIELDS.get(_camel(key))
        if handler is not None:
            handler(value, request)
        else:
            request.losses.append(hub.Loss(key, needed=key in ("cachedContent", "cached_content")))
    return request


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def _content(content: dict[str, Any], calls: _Calls, request: hub.Request) -> hub.Message:
    role: hub.Role = "assistant" if content.get("role") == "model" else "user"
    parts = [_part(as_dict(p), calls, request) for p in as_list(content.get("parts"))]
    return hub.Message(role, [p for p in parts if p is not None])


def _part(part: dict[str, Any], calls: _Calls, request: hub.Request) -> hub.Part | None:
    signature = as_text(field(part, "thoughtSignature"))
    if part.get("thought") is True:
        text = as_text(part.get("text"))
        return hub.Reasoning(text, origin="gemini", signature=signature, label="thought")
    if "text" in part:
        return hub.Text(as_text(part.get("text")), signature=signature)
    call = field(part, "functionCall")
    if isinstance(call, dict):
        name = as_text(call.get("name"))
        ident = calls.call(name, as_text(call.get("id")))
        return hub.ToolCall(ident, name, dump(as_dict(call.get("args"))), signature)
    response = field(part, "functionResponse")
    if isinstance(response, dict):
        name = as_text(response.get("name"))
        return _result(calls.answer(name, as_text(response.get("id"))), response)
    inline = field(part, "inlineData")
    if isinstance(inline, dict):
        media = as_text(field(inline, "mimeType"))
        if media.startswith("image/"):
            return hub.Image(url=data_url(media, as_text(inline.get("data"))), label="inlineData")
        return hub.Opaque(f"parts[].inlineData ({media or 'data'})", needed=True)
    if signature:  # a signature alone: it belongs to the text before it
        return hub.Text("", signature=signature)
    kind = next(iter(part), "part")
    return hub.Opaque(f"parts[].{kind}", needed=kind in ("fileData", "file_data"))


def _result(call_id: str, response: dict[str, Any]) -> hub.ToolResult:
    """`{"output": ...}` and `{"error": ...}` are the documented shapes; anything else goes on
    as its JSON text."""
    body = as_dict(response.get("response"))
    if set(body) == {"error"}:
        value, error = body["error"], True
    elif set(body) == {"output"}:
        value, error = body["output"], False
    else:
        value, error = body, False
    text = value if isinstance(value, str) else dump(value)
    return hub.ToolResult(call_id, [hub.Text(text)], error, plain=True)


Field = Callable[[Any, hub.Request], None]


def _generation(value: Any, request: hub.Request) -> None:
    config = as_dict(value)
    for key, item in config.items():
        name = _camel(key)
        if item is None:
            continue
        if name == "maxOutputTokens":
            request.max_tokens = item if isinstance(item, int) else None
        elif name == "temperature":
            request.temperature = item
        elif name == "topP":
            request.top_p = item
        elif name == "stopSequences":
            request.stop = [as_text(s) for s in as_list(item)] or None
        elif name == "candidateCount":
            request.choices = item if isinstance(item, int) and item > 0 else 1
        elif name == "thinkingConfig":
            _thinking(as_dict(item), request)
        elif name in ("responseMimeType", "responseSchema", "responseJsonSchema"):
            _format(config, request)
        else:
            request.losses.append(hub.Loss(f"generationConfig.{name}"))


def _thinking(config: dict[str, Any], request: hub.Request) -> None:
    budget = field(config, "thinkingBudget")
    level = as_text(field(config, "thinkingLevel")).lower()
    if isinstance(budget, int) and budget == 0:
        request.effort = "none"
    elif isinstance(budget, int) and budget > 0:
        request.thinking_budget = budget
        request.effort = next((e for bound, e in EFFORT_BY_BUDGET if budget < bound), "high")
    elif level in LEVELS:
        request.effort = LEVELS[level]
    if field(config, "includeThoughts") is True:
        request.keep_reasoning = True


def _format(config: dict[str, Any], request: hub.Request) -> None:
    if request.output_format is not None:
        return
    schema = field(config, "responseJsonSchema") or field(config, "responseSchema")
    if isinstance(schema, dict):
        request.output_format = {"type": "json_schema", "name": "output", "schema": schema}
    elif as_text(field(config, "responseMimeType")) == "application/json":
        request.output_format = {"type": "json_object"}


def _lower_types(schema: Any) -> Any:
    """Gemini's OpenAPI schemas may spell types in capitals (`OBJECT`); JSON Schema does not."""
    if isinstance(schema, list):
        return [_lower_types(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: _lower_types(item) for name, item in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties"):
            out[key] = _lower_types(value)
        else:
            out[key] = value
    return out


def _tools(value: Any, request: hub.Request) -> None:
    for raw in as_list(value):
        tool = as_dict(raw)
        declarations = field(tool, "functionDeclarations")
        for declaration in (as_dict(d) for d in as_list(declarations)):
            schema = field(declaration, "parametersJsonSchema")
            if schema is None and isinstance(declaration.get("parameters"), dict):
                schema = _lower_types(declaration["parameters"])
            request.tools.append(
                hub.Tool(
                    as_text(declaration.get("name")),
                    declaration.get("description"),
                    schema if isinstance(schema, dict) else None,
                )
            )
        for kind in (k for k in tool if _camel(k) != "functionDeclarations"):
            label = f"tools.{_camel(kind)}"
            request.tools.append(hub.Tool(kind, kind=_camel(kind), raw=tool, label=label))


def _tool_config(value: Any, request: hub.Request) -> None:
    config = as_dict(field(as_dict(value), "functionCallingConfig"))
    mode = as_text(config.get("mode")).upper()
    allowed = [as_text(n) for n in as_list(field(config, "allowedFunctionNames"))]
    if mode == "ANY" and len(allowed) == 1:
        request.tool_choice = hub.ToolChoice("tool", allowed[0])
    elif mode in MODES:
        request.tool_choice = hub.ToolChoice(MODES[mode])  # type: ignore[arg-type]
        if allowed:
            request.losses.append(hub.Loss("toolConfig.functionCallingConfig.allowedFunctionNames"))


_FIELDS: dict[str, Field] = {
    "generationConfig": _generation,
    "tools": _tools,
    "toolConfig": _tool_config,
}


# --- encode -----------------------------------------------------------------------------


def encode(request: hub.Request, model: str, lost: list[hub.Loss]) -> dict[str, Any]:
    """The body for generateContent; the model goes in the URL, not here."""
    if request.choices > 1:
        n = request.choices
        raise CannotCarry([f"n={n} asks for {n} choices; one per request"], "Gemini")
    system, contents = _contents(request.messages, lost)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": SYSTEM_SEPARATOR.join(system)}]}
    tools = _encode_tools(request.tools, lost)
    if tools:
        body["tools"] = [{"functionDeclarations": tools}]
    if request.tool_choice is not None and tools:
        body["toolConfig"] = {"functionCallingConfig": _encode_choice(request.tool_choice)}
    if request.parallel_tool_calls is False:
        lost.append(hub.Loss("parallel_tool_calls", CANNOT_CARRY["parallel_tool_calls"]))
    if request.user is not None:
        lost.append(hub.Loss(request.label("user"), CANNOT_CARRY["user"]))
    config = _generation_config(request)
    if config:
        body["generationConfig"] = config
    return body


def _generation_config(request: hub.Request) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.stop:
        config["stopSequences"] = list(request.stop)
    form = request.output_format
    if form is not None:
        config["responseMimeType"] = "application/json"
        if form.get("type") == "json_schema" and isinstance(form.get("schema"), dict):
            config["responseJsonSchema"] = form["schema"]
    thinking: dict[str, Any] = {}
    if request.thinking_budget is not None:
        thinking["thinkingBudget"] = request.thinking_budget
    elif request.effort in BUDGET_BY_EFFORT:
        thinking["thinkingBudget"] = BUDGET_BY_EFFORT[request.effort]
    if request.keep_reasoning or (request.effort not in (None, "none")):
        thinking["includeThoughts"] = True
    if thinking:
        config["thinkingConfig"] = thinking
    return config


def _encode_choice(choice: hub.ToolChoice) -> dict[str, Any]:
    if choice.mode == "tool":
        return {"mode": "ANY", "allowedFunctionNames": [choice.name]}
    return {"mode": {"auto": "AUTO", "required": "ANY", "none": "NONE"}[choice.mode]}


def _encode_tools(tools: list[hub.Tool], lost: list[hub.Loss]) -> list[dict[str, Any]]:
    declarations = []
    for tool in tools:
        if tool.kind != "function":
            label = tool.label or f"tools ({tool.kind})"
            lost.append(hub.Loss(label, CANNOT_CARRY["hosted_tools"]))
            continue
        entry: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            entry["description"] = tool.description
        if tool.parameters:
            entry["parametersJsonSchema"] = tool.parameters
        declarations.append(entry)
    return declarations


def _contents(
    messages: list[hub.Message], lost: list[hub.Loss]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The leading system texts and the turns; tool results answer by their call's name."""
    names = {
        part.id: part.name
        for message in messages
        for part in message.parts
        if isinstance(part, hub.ToolCall)
    }
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            text = "".join(p.text for p in message.parts if isinstance(p, hub.Text))
            if contents:
                _append(contents, "user", [{"text": MID_SYSTEM_WRAPPER.format(text)}])
            else:
                system.append(text)
            continue
        role = "model" if message.role == "assistant" else "user"
        parts = [p for part in message.parts for p in _encode_part(part, names, lost)]
        if role == "model":
            _sign_first_call(parts)
        if parts:
            _append(contents, role, parts)
    return system, contents


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    """Consecutive turns of one role become one: Gemini wants a call's responses together."""
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _sign_first_call(parts: list[dict[str, Any]]) -> None:
    calls = [p for p in parts if "functionCall" in p]
    if calls and not any("thoughtSignature" in p for p in calls):
        calls[0]["thoughtSignature"] = FOREIGN_CALL_SIGNATURE


def _encode_part(
    part: hub.Part, names: dict[str, str], lost: list[hub.Loss]
) -> list[dict[str, Any]]:
    if isinstance(part, hub.Text):
        if not part.text and not part.signature:
            return []
        encoded: dict[str, Any] = {"text": part.text}
        if part.signature:
            encoded["thoughtSignature"] = part.signature
        return [encoded]
    if isinstance(part, hub.Image):
        return _encode_image(part, lost)
    if isinstance(part, hub.ToolCall):
        arguments = load_object(part.arguments)
        if arguments is None:
            label = "tool_calls[].function.arguments (not a JSON object)"
            lost.append(hub.Loss(label, CANNOT_CARRY["unparsable_tool_arguments"]))
        call = {"id": part.id, "name": part.name, "args": arguments or {}}
        encoded = {"functionCall": call}
        if part.signature:
            encoded["thoughtSignature"] = part.signature
        return [encoded]
    if isinstance(part, hub.ToolResult):
        return [_encode_result(part, names, lost)]
    if isinstance(part, hub.Reasoning):
        if part.origin != "gemini":
            lost.append(hub.Loss(part.label, CANNOT_CARRY["foreign_reasoning"]))
            return []
        thought: dict[str, Any] = {"text": part.text, "thought": True}
        if part.signature:
            thought["thoughtSignature"] = part.signature
        return [thought]
    lost.append(hub.Loss(part.label, part.needed))
    return []


def _encode_image(image: hub.Image, lost: list[hub.Loss]) -> list[dict[str, Any]]:
    if image.detail != "auto":
        lost.append(hub.Loss(f"{image.label}.detail", CANNOT_CARRY["image_detail"]))
    inline = DATA_URL.fullmatch(image.url)
    if inline is None:
        lost.append(hub.Loss(f"{image.label} (by URL)", CANNOT_CARRY["image_urls"]))
        return []
    return [{"inlineData": {"mimeType": inline["media"], "data": inline["data"]}}]


def _encode_result(
    result: hub.ToolResult, names: dict[str, str], lost: list[hub.Loss]
) -> dict[str, Any]:
    texts = [p.text for p in result.content if isinstance(p, hub.Text)]
    if len(texts) < len(result.content):
        lost.append(hub.Loss("tool result images", CANNOT_CARRY["tool_result_images"]))
    text = "".join(texts)
    parsed = load_object(text) if text.strip().startswith("{") else None
    value: Any = parsed if parsed is not None else {"output": text}
    if result.is_error:
        value = {"error": parsed if parsed is not None else text}
    name = names.get(result.call_id, result.call_id)
    return {"functionResponse": {"id": result.call_id, "name": name, "response": value}}
