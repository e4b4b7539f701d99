"""Bedrock's Converse API, which serves every Bedrock model in one shape: a wire turnout speaks
upstream only (no client calls Converse at the edge, so the client's side is not written).

Request (`POST /model/{id}/converse`, `/converse-stream`): `messages` of `role` and `content`
blocks (`text`, `image`, `toolUse`, `toolResult`, `reasoningContent`), `system` as text blocks,
`inferenceConfig` (`maxTokens`, `temperature`, `topP`, `stopSequences`) and `toolConfig`
(`tools` of `toolSpec` with `inputSchema.json`, `toolChoice` of `auto`, `any` or `tool`). The
model is in the URL. A whole answer is `output.message`, `stopReason` and `usage`
(`inputTokens`, `outputTokens`, `cacheReadInputTokens`, `cacheWriteInputTokens`).

A stream is event-stream frames; the provider hands each on as an SSE event named by its
`:event-type` (`messageStart`, `contentBlockStart`, `contentBlockDelta`, `contentBlockStop`,
`messageStop`, `metadata`, whose data is the frame's JSON), and an exception frame as an
`exception` event whose data is `{"__type", "message"}`. Text blocks open with their first
delta; a tool call opens with `contentBlockStart` and streams its input as JSON text. There is
no end marker after `metadata`: the answer is whole when the body ends after `messageStop`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from turnout.wire import hub
from turnout.wire._json import as_dict, as_list, as_text, count, dump, load_object, new_id
from turnout.wire.base import ParsedRequest
from turnout.wire.codec import CannotCarry, StreamEncoder, StreamRelay, UpstreamStreamError
from turnout.wire.images import DATA_URL
from turnout.wire.sse import Event
from turnout.wire.streams import load_event

NAME = "converse"
MID_SYSTEM_WRAPPER = "<system-reminder>\n{}\n</system-reminder>"
#: Converse's image formats, by media type.
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
STOPS: dict[str, hub.Stop] = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "guardrail_intervened": "refusal",
    "content_filtered": "refusal",
    "model_context_window_exceeded": "context_window",
}
CONTENT_EVENTS = frozenset({"contentBlockStart", "contentBlockDelta", "contentBlockStop"})
#: What of the hub Converse cannot carry, and whether an answer depends on it.
CANNOT_CARRY: dict[str, bool] = {
    "hosted_tools": False,  # another provider's server tools
    "foreign_reasoning": False,  # reasoning another wire wrote (and signed)
    "image_urls": True,  # Converse takes image bytes (or S3), not an http(s) URL
    "image_detail": False,
    "tool_result_images": False,
    "unparsable_tool_arguments": False,
    "parallel_tool_calls": False,
    "output_format": True,  # no structured output in Converse's own fields
    "user": False,
}


# --- requests -------------------------------------------------------------------------------


def encode_request(request: hub.Request, lost: list[hub.Loss]) -> dict[str, Any]:
    if request.choices > 1:
        n = request.choices
        raise CannotCarry([f"n={n} asks for {n} choices; one per request"], "Converse")
    system, messages = _messages(request.messages, lost)
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = [{"text": text} for text in system]
    config: dict[str, Any] = {}
    if request.max_tokens is not None:
        config["maxTokens"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.stop:
        config["stopSequences"] = list(request.stop)
    if config:
        body["inferenceConfig"] = config
    tools = _tools(request.tools, lost)
    if tools and request.tool_choice is not None and request.tool_choice.mode == "none":
        tools = []  # Converse has no "none": offering no tool says the same
    if tools:
        body["toolConfig"] = {"tools": tools}
        if request.tool_choice is not None and request.tool_choice.mode != "none":
            body["toolConfig"]["toolChoice"] = _choice(request.tool_choice)
    if request.output_format is not None:
        lost.append(hub.Loss(request.label("output_format"), CANNOT_CARRY["output_format"]))
    if request.effort not in (None, "none") or request.thinking_budget is not None:
        lost.append(hub.Loss(request.label("effort")))  # model-specific: additional fields
    if request.parallel_tool_calls is False:
        lost.append(hub.Loss("parallel_tool_calls", CANNOT_CARRY["parallel_tool_calls"]))
    if request.user is not None:
        lost.append(hub.Loss(request.label("user"), CANNOT_CARRY["user"]))
    return body


def _choice(choice: hub.ToolChoice) -> dict[str, Any]:
    if choice.mode == "tool":
        return {"tool": {"name": choice.name}}
    return {"any": {}} if choice.mode == "required" else {"auto": {}}


def _tools(tools: list[hub.Tool], lost: list[hub.Loss]) -> list[dict[str, Any]]:
    specs = []
    for tool in tools:
        if tool.kind != "function":
            lost.append(
                hub.Loss(tool.label or f"tools ({tool.kind})", CANNOT_CARRY["hosted_tools"])
            )
            continue
        spec: dict[str, Any] = {"name": tool.name}
        if tool.description:
            spec["description"] = tool.description
        spec["inputSchema"] = {"json": tool.parameters or {"type": "object", "properties": {}}}
        specs.append({"toolSpec": spec})
    return specs


def _messages(
    messages: list[hub.Message], lost: list[hub.Loss]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The leading system texts and the turns (one role per turn, as Converse requires)."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            text = "".join(p.text for p in message.parts if isinstance(p, hub.Text))
            if turns:
                _append(turns, "user", [{"text": MID_SYSTEM_WRAPPER.format(text)}])
            elif text:
                system.append(text)
            continue
        blocks = [block for part in message.parts for block in _block(part, lost)]
        if blocks:
            _append(turns, message.role, blocks)
    return system, turns


def _append(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _block(part: hub.Part, lost: list[hub.Loss]) -> list[dict[str, Any]]:
    if isinstance(part, hub.Text):
        return [{"text": part.text}] if part.text else []
    if isinstance(part, hub.Image):
        return _image(part, lost)
    if isinstance(part, hub.ToolCall):
        arguments = load_object(part.arguments)
        if arguments is None:
            label = "tool_calls[].function.arguments (not a JSON object)"
            lost.append(hub.Loss(label, CANNOT_CARRY["unparsable_tool_arguments"]))
        return [{"toolUse": {"toolUseId": part.id, "name": part.name, "input": arguments or {}}}]
    if isinstance(part, hub.ToolResult):
        texts = [p.text for p in part.content if isinstance(p, hub.Text)]
        if len(texts) < len(part.content):
            lost.append(hub.Loss("tool result images", CANNOT_CARRY["tool_result_images"]))
        result: dict[str, Any] = {"toolUseId": part.call_id, "content": [{"text": "".join(texts)}]}
        result["status"] = "error" if part.is_error else "success"
        return [{"toolResult": result}]
    if isinstance(part, hub.Reasoning):
        if part.origin != NAME or part.redacted:
            lost.append(hub.Loss(part.label, CANNOT_CARRY["foreign_reasoning"]))
            return []
        reasoning: dict[str, Any] = {"text": part.text}
        if part.signature:
            reasoning["signature"] = part.signature
        return [{"reasoningContent": {"reasoningText": reasoning}}]
    lost.append(hub.Loss(part.label, part.needed))
    return []


def _image(image: hub.Image, lost: list[hub.Loss]) -> list[dict[str, Any]]:
    if image.detail != "auto":
        lost.append(hub.Loss(f"{image.label}.detail", CANNOT_CARRY["image_detail"]))
    inline = DATA_URL.fullmatch(image.url)
    if inline is None or inline["media"] not in IMAGE_FORMATS:
        lost.append(hub.Loss(f"{image.label} (by URL)", CANNOT_CARRY["image_urls"]))
        return []
    source = {"bytes": inline["data"]}  # base64 in JSON, as the REST API takes bytes
    return [{"image": {"format": IMAGE_FORMATS[inline["media"]], "source": source}}]


# --- whole responses ------------------------------------------------------------------------


def read_usage(usage: object) -> hub.Usage:
    data = as_dict(usage)
    return hub.Usage(
        input=count(data.get("inputTokens")),
        output=count(data.get("outputTokens")),
        cache_read=count(data.get("cacheReadInputTokens")),
        cache_write=count(data.get("cacheWriteInputTokens")),
    )


def stop_of(reason: object) -> hub.Stop:
    return STOPS.get(as_text(reason), "end_turn")


def decode_response(data: dict[str, Any]) -> hub.Response:
    message = as_dict(as_dict(data.get("output")).get("message"))
    parts: list[hub.Part] = []
    for block in as_list(message.get("content")):
        block = as_dict(block)
        if "text" in block:
            parts.append(hub.Text(as_text(block["text"])))
        elif "toolUse" in block:
            use = as_dict(block["toolUse"])
            ident = as_text(use.get("toolUseId")) or new_id("tooluse_")
            parts.append(hub.ToolCall(ident, as_text(use.get("name")), dump(use.get("input", {}))))
        elif "reasoningContent" in block:
            text = as_dict(as_dict(block["reasoningContent"]).get("reasoningText"))
            signature = as_text(text.get("signature"))
            parts.append(hub.Reasoning(as_text(text.get("text")), NAME, signature))
    return hub.Response(
        id=new_id("msg_"),
        model="",
        parts=parts,
        stop=stop_of(data.get("stopReason")),
        usage=read_usage(data.get("usage")),
    )


# --- streams --------------------------------------------------------------------------------


def error_data(exception: str, message: str) -> bytes:
    """An exception frame as the `exception` event's data the decoder raises on."""
    return orjson.dumps({"__type": exception, "message": message})


class Decoder:
    """Converse stream events in, hub events out; the end comes when the body ends."""

    def __init__(self) -> None:
        self._started = False
        self._open: hub.PartKind | None = None

    def feed(self, event: Event) -> list[hub.Event]:
        data = load_event(event.data)
        if event.name == "exception":
            message = f"{as_text(data.get('__type'))}: {as_text(data.get('message'))}"
            raise UpstreamStreamError(message, event.data)
        events: list[hub.Event] = []
        if not self._started:
            self._started = True
            events.append(hub.Started(new_id("msg_"), ""))
        if event.name == "contentBlockStart":
            use = as_dict(as_dict(data.get("start")).get("toolUse"))
            if use:
                events += self._close()
                self._open = "tool_call"
                ident = as_text(use.get("toolUseId")) or new_id("tooluse_")
                events.append(hub.Opened("tool_call", ident, as_text(use.get("name"))))
        elif event.name == "contentBlockDelta":
            events += self._delta(as_dict(data.get("delta")))
        elif event.name == "contentBlockStop":
            events += self._close()
        elif event.name == "messageStop":
            events += [*self._close(), hub.Stopped(stop_of(data.get("stopReason")))]
        elif event.name == "metadata" and isinstance(data.get("usage"), dict):
            events.append(hub.UsageSeen(read_usage(data["usage"])))
        return events

    def _delta(self, delta: dict[str, Any]) -> list[hub.Event]:
        if "toolUse" in delta:
            return [hub.Delta(as_text(as_dict(delta["toolUse"]).get("input")))]
        if "text" in delta:
            return [*self._open_as("text"), hub.Delta(as_text(delta["text"]))]
        reasoning = as_dict(delta.get("reasoningContent"))
        if "text" in reasoning:
            return [*self._open_as("reasoning"), hub.Delta(as_text(reasoning["text"]))]
        if "signature" in reasoning:
            return [*self._open_as("reasoning"), hub.Signed(as_text(reasoning["signature"]), NAME)]
        return []

    def _open_as(self, kind: hub.PartKind) -> list[hub.Event]:
        if self._open == kind:
            return []
        events = [*self._close(), hub.Opened(kind)]
        self._open = kind
        return events

    def _close(self) -> list[hub.Event]:
        if self._open is None:
            return []
        self._open = None
        return [hub.Closed()]


# --- the codec ------------------------------------------------------------------------------


def _edge_only(what: str) -> NotImplementedError:
    return NotImplementedError(f"Converse is spoken to Bedrock only: no client {what}")


class ConverseCodec:
    name = NAME
    cannot_carry = CANNOT_CARRY

    def parse(self, body: bytes) -> ParsedRequest:
        raise _edge_only("request is read in it")

    def error_body(self, status: int, category: str, message: str, extra: dict[str, Any]) -> bytes:
        return orjson.dumps({"message": message})

    def error_event(
        self, category: str, message: str, extra: dict[str, Any], told: Sequence[Event] = ()
    ) -> bytes:
        return b"event: exception\ndata: " + error_data(category, message) + b"\n\n"

    def decode_request(self, data: dict[str, Any]) -> hub.Request:
        raise _edge_only("request is read in it")

    def encode_request(
        self, request: hub.Request, model: str, lost: list[hub.Loss]
    ) -> dict[str, Any]:
        return encode_request(request, lost)

    def decode_response(self, data: dict[str, Any]) -> hub.Response:
        return decode_response(data)

    def encode_response(self, response: hub.Response, model: str) -> dict[str, Any]:
        raise _edge_only("is answered in it")

    def stream_decoder(self) -> Decoder:
        return Decoder()

    def stream_encoder(self, model: str, request: hub.Request) -> StreamEncoder:
        raise _edge_only("is answered in it")

    def same_wire_body(self, request: ParsedRequest, model: str) -> bytes:
        raise _edge_only("request is read in it")

    def passthrough(self, data: Mapping[str, Any]) -> StreamRelay:
        raise _edge_only("is answered in it")

    def carries_content(self, event: Event) -> bool:
        return event.name in CONTENT_EVENTS or event.name == "messageStop"

    def is_error_event(self, event: Event) -> bool:
        return event.name == "exception"

    def usage(self, data: dict[str, Any], current: hub.Usage) -> hub.Usage | None:
        block = data.get("usage")
        return read_usage(block) if isinstance(block, dict) else None


CONVERSE = ConverseCodec()
