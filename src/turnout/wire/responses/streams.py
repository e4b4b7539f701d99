"""Responses API streams: typed events, each with a `sequence_number`, from `response.created`
to `response.completed` (or `.incomplete`, `.failed`); items open with `output_item.added`,
grow by deltas and close with `output_item.done`. There is no `[DONE]`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from turnout.wire import hub
from turnout.wire._json import as_dict, as_text, new_id, prefixed
from turnout.wire.codec import UpstreamStreamError
from turnout.wire.responses.whole import (
    call_item,
    decode_reasoning,
    message_item,
    read_usage,
    reasoning_item,
    response_object,
    status_of,
)
from turnout.wire.sse import Event
from turnout.wire.streams import check_readable, load_event

#: The events that end a response, and those that are the answer itself. Lifecycle and
#: handshake events (created, in_progress, an item or part added empty) are not content.
TERMINAL = frozenset({"response.completed", "response.incomplete"})
CONTENT_EVENTS = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
        "response.output_item.done",
        *TERMINAL,
    }
)
ERROR_EVENTS = frozenset({"error", "response.failed"})


def event_name(event: Event) -> str:
    if event.name:
        return event.name
    try:
        return as_text(as_dict(orjson.loads(event.data)).get("type"))
    except orjson.JSONDecodeError:
        return ""


def is_error_event(event: Event) -> bool:
    return event_name(event) in ERROR_EVENTS


def carries_content(event: Event) -> bool:
    return event_name(event) in CONTENT_EVENTS


def error_message(payload: dict[str, Any]) -> str:
    error = as_dict(payload.get("error")) or as_dict(as_dict(payload.get("response")).get("error"))
    return as_text(payload.get("message")) or as_text(error.get("message")) or "upstream error"


class Passthrough:
    """Responses to Responses: `response.completed` (or `.incomplete`) ends it."""

    def __init__(self) -> None:
        self.finished = False

    def feed(self, event: Event) -> list[bytes]:
        check_readable(event)
        name = event_name(event)
        if name in ERROR_EVENTS:
            raise UpstreamStreamError(error_message(load_event(event.data)), event.data)
        if name in TERMINAL:
            self.finished = True
        return [event.raw]

    def finish(self) -> list[bytes]:
        return []


class Decoder:
    """A Responses upstream's events in, hub events out."""

    def __init__(self) -> None:
        self._open: str | None = None  # the open part's item type
        self._saw_tool = False

    def feed(self, event: Event) -> list[hub.Event]:
        payload = load_event(event.data)
        name = event.name or as_text(payload.get("type"))
        if name in ERROR_EVENTS:
            raise UpstreamStreamError(error_message(payload), event.data)
        handler = _DECODERS.get(name)
        return handler(self, payload) if handler is not None else []

    def _created(self, payload: dict[str, Any]) -> list[hub.Event]:
        response = as_dict(payload.get("response"))
        return [hub.Started(as_text(response.get("id")), as_text(response.get("model")))]

    def _item_added(self, payload: dict[str, Any]) -> list[hub.Event]:
        item = as_dict(payload.get("item"))
        kind = as_text(item.get("type"))
        if kind == "function_call":
            self._saw_tool, self._open = True, kind
            call_id = as_text(item.get("call_id")) or as_text(item.get("id"))
            return [hub.Opened("tool_call", call_id, as_text(item.get("name")))]
        if kind == "reasoning":
            self._open = kind
            return [hub.Opened("reasoning", as_text(item.get("id")))]
        return []

    def _part_added(self, payload: dict[str, Any]) -> list[hub.Event]:
        if as_dict(payload.get("part")).get("type") not in ("output_text", "refusal"):
            return []
        self._open = "message"
        return [hub.Opened("text", as_text(payload.get("item_id")))]

    def _delta(self, payload: dict[str, Any]) -> list[hub.Event]:
        text = as_text(payload.get("delta"))
        return [hub.Delta(text)] if text and self._open else []

    def _part_done(self, payload: dict[str, Any]) -> list[hub.Event]:
        if self._open != "message":
            return []
        self._open = None
        return [hub.Closed()]

    def _item_done(self, payload: dict[str, Any]) -> list[hub.Event]:
        item = as_dict(payload.get("item"))
        kind = as_text(item.get("type"))
        if kind not in ("function_call", "reasoning") or self._open != kind:
            return []
        self._open = None
        if kind == "reasoning":
            part = decode_reasoning(item)
            return [hub.Signed(part.signature, part.origin), hub.Closed()]
        return [hub.Closed()]

    def _completed(self, payload: dict[str, Any]) -> list[hub.Event]:
        response = as_dict(payload.get("response"))
        stop: hub.Stop = "tool_use" if self._saw_tool else "end_turn"
        if response.get("status") == "incomplete":
            stop = "max_tokens"
        usage = read_usage(response.get("usage"))
        return [hub.UsageSeen(usage), hub.Stopped(stop), hub.Ended()]


_DECODERS = {
    "response.created": Decoder._created,
    "response.output_item.added": Decoder._item_added,
    "response.content_part.added": Decoder._part_added,
    "response.output_text.delta": Decoder._delta,
    "response.refusal.delta": Decoder._delta,
    "response.function_call_arguments.delta": Decoder._delta,
    "response.reasoning_summary_text.delta": Decoder._delta,
    "response.reasoning_text.delta": Decoder._delta,
    "response.content_part.done": Decoder._part_done,
    "response.output_item.done": Decoder._item_done,
    "response.completed": Decoder._completed,
    "response.incomplete": Decoder._completed,
}


def told_so_far(told: Sequence[Event]) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    """What a client was told of a response: the next sequence number, the response as last
    described, and the output items it had whole (by index)."""
    sequence, response, output = 0, dict[str, Any](), list[dict[str, Any]]()
    for event in told:
        try:
            payload = as_dict(orjson.loads(event.data))
        except orjson.JSONDecodeError:
            continue
        number = payload.get("sequence_number")
        if isinstance(number, int) and not isinstance(number, bool):
            sequence = number + 1
        if isinstance(payload.get("response"), dict):
            response = payload["response"]
        index = payload.get("output_index")
        if payload.get("type") == "response.output_item.done" and index == len(output):
            output.append(as_dict(payload.get("item")))
    return sequence, response, output


class Encoder:
    """Hub events in, the Responses event sequence out, numbered from 0."""

    def __init__(self, model: str, request: hub.Request) -> None:
        self._model = model
        self._request = request
        self._id = prefixed(None, "resp_")
        self._sequence = 0
        self._started = False
        self._output: list[dict[str, Any]] = []  # the items done so far
        self._open: dict[str, Any] | None = None  # the open item
        self._text: list[str] = []  # what the open item has said so far
        self._signature = ("", "")
        self._stop: str = ""
        self._usage = hub.Usage()
        self.finished = False

    def encode(self, event: hub.Event) -> list[bytes]:
        if self.finished:
            return []
        match event:
            case hub.Started():
                return self._start(event.id)
            case hub.Opened():
                return self._opened(event)
            case hub.Delta():
                return self._delta(event.text)
            case hub.Signed():
                self._signature = (event.signature, event.origin)
            case hub.Closed():
                return self._close()
            case hub.UsageSeen():
                self._usage = event.usage
            case hub.Stopped():
                self._stop = event.reason
            case hub.Ended():
                return self._end()
        return []

    def follow(self, event: Event) -> None:
        """An event the client had from elsewhere (the upstream's own, before a break): the
        next is numbered after it, and an item it closed is the response's at its index, as
        the client was told it (an item the hub has no words for keeps its place too)."""
        try:
            payload = as_dict(orjson.loads(event.data))
        except orjson.JSONDecodeError:
            return
        sequence = payload.get("sequence_number")
        if isinstance(sequence, int) and not isinstance(sequence, bool):
            self._sequence = sequence + 1
        index = payload.get("output_index")
        if payload.get("type") != "response.output_item.done" or not isinstance(index, int):
            return
        item = as_dict(payload.get("item"))
        if index < len(self._output):
            self._output[index] = item
        elif index == len(self._output):
            self._output.append(item)

    def _event(self, kind: str, fields: dict[str, Any]) -> bytes:
        payload = {"type": kind, **fields, "sequence_number": self._sequence}
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def _response(self, status: str, usage: hub.Usage | None = None) -> dict[str, Any]:
        output = list(self._output)
        return response_object(self._id, self._model, status, output, usage, self._request)

    def _start(self, upstream_id: str) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        self._id = prefixed(upstream_id or None, "resp_")
        response = self._response("in_progress")
        return [
            self._event("response.created", {"response": response}),
            self._event("response.in_progress", {"response": response}),
        ]

    @property
    def _where(self) -> dict[str, Any]:
        assert self._open is not None
        return {"item_id": self._open["id"], "output_index": len(self._output)}

    def _opened(self, event: hub.Opened) -> list[bytes]:
        out = self._start("") + self._close()
        self._text = []
        if event.kind == "tool_call":
            call = hub.ToolCall(event.id or new_id("call_"), event.name, "")
            self._open = call_item(call, new_id("fc_", 32), status="in_progress")
            out.append(self._added())
        elif event.kind == "reasoning":
            self._signature = ("", "")
            self._open = {"id": event.id or new_id("rs_", 32), "type": "reasoning", "summary": []}
            out.append(self._added())
            summary: dict[str, Any] = {"type": "summary_text", "text": ""}
            fields = {**self._where, "summary_index": 0, "part": summary}
            out.append(self._event("response.reasoning_summary_part.added", fields))
        else:
            self._open = message_item("", event.id or new_id("msg_", 32), status="in_progress")
            out.append(self._added())
            text: dict[str, Any] = {"type": "output_text", "text": "", "annotations": []}
            fields = {**self._where, "content_index": 0, "part": {**text, "logprobs": []}}
            out.append(self._event("response.content_part.added", fields))
        return out + self._delta(event.text)

    def _added(self) -> bytes:
        assert self._open is not None
        fields = {"output_index": len(self._output), "item": dict(self._open)}
        return self._event("response.output_item.added", fields)

    def _delta(self, text: str) -> list[bytes]:
        if not text or self._open is None:
            return []
        self._text.append(text)
        kind = self._open["type"]
        if kind == "function_call":
            return [
                self._event(
                    "response.function_call_arguments.delta", {**self._where, "delta": text}
                )
            ]
        if kind == "reasoning":
            fields = {**self._where, "summary_index": 0, "delta": text}
            return [self._event("response.reasoning_summary_text.delta", fields)]
        fields = {**self._where, "content_index": 0, "delta": text, "logprobs": []}
        return [self._event("response.output_text.delta", fields)]

    def _close(self) -> list[bytes]:
        if self._open is None:
            return []
        text, kind, where = "".join(self._text), self._open["type"], self._where
        out: list[bytes] = []
        if kind == "function_call":
            item = {**self._open, "status": "completed", "arguments": text or "{}"}
            fields = {**where, "name": item["name"], "arguments": item["arguments"]}
            out.append(self._event("response.function_call_arguments.done", fields))
        elif kind == "reasoning":
            signature, origin = self._signature
            part = hub.Reasoning(text, origin=origin or "openai", signature=signature)
            item = reasoning_item(part, self._open["id"])
            summary = {"type": "summary_text", "text": text}
            done = {**where, "summary_index": 0}
            out.append(self._event("response.reasoning_summary_text.done", {**done, "text": text}))
            out.append(
                self._event("response.reasoning_summary_part.done", {**done, "part": summary})
            )
        else:
            item = message_item(text, self._open["id"])
            part = item["content"][0]
            done = {**where, "content_index": 0}
            out.append(
                self._event("response.output_text.done", {**done, "text": text, "logprobs": []})
            )
            out.append(self._event("response.content_part.done", {**done, "part": part}))
        out.append(
            self._event(
                "response.output_item.done", {"output_index": where["output_index"], "item": item}
            )
        )
        self._output.append(item)
        self._open = None
        return out

    def _end(self) -> list[bytes]:
        out = self._start("") + self._close()
        status = status_of(self._stop)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        out.append(self._event(kind, {"response": self._response(status, self._usage)}))
        self.finished = True
        return out
