"""Gemini streams (`streamGenerateContent?alt=sse`): `data:` events, each a whole
`GenerateContentResponse` holding the next parts. Text comes in pieces, a function call whole
in one part; the last event has the `finishReason` (usage may come on any). There is no end
marker: the answer is whole when the body ends after a finish reason. A failure mid-stream is
an event whose data is `{"error": {...}}`.
"""

from __future__ import annotations

from typing import Any

import orjson

from turnout.wire import hub
from turnout.wire._json import as_dict, as_list, as_text, new_id
from turnout.wire.codec import UpstreamStreamError
from turnout.wire.gemini.requests import field
from turnout.wire.gemini.whole import (
    candidate_of,
    decode_parts,
    encode_part,
    finish_reason,
    read_usage,
    stop_of,
    write_usage,
)
from turnout.wire.sse import Event
from turnout.wire.streams import check_readable, load_event


def is_error_event(event: Event) -> bool:
    return event.data.startswith('{"error"')


def carries_content(event: Event) -> bool:
    """Every event with parts or a finish reason is the answer; one with only usage frames it."""
    try:
        chunk = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(chunk, dict):
        return False
    candidate = candidate_of(chunk)
    parts = as_list(as_dict(candidate.get("content")).get("parts"))
    return bool(parts) or bool(candidate.get("finishReason"))


def _finished(data: str) -> bool:
    return '"finishReason"' in data


class Passthrough:
    """Gemini to Gemini: whole when the body ends after an event with a finish reason."""

    def __init__(self) -> None:
        self.finished = False
        self._saw_finish_reason = False

    def feed(self, event: Event) -> list[bytes]:
        check_readable(event)
        if is_error_event(event):
            raise UpstreamStreamError("error event", event.data)
        if not self._saw_finish_reason and _finished(event.data):
            self._saw_finish_reason = True
        return [event.raw]

    def finish(self) -> list[bytes]:
        self.finished = self._saw_finish_reason
        return []


def _error_message(chunk: dict[str, Any]) -> str:
    error = as_dict(chunk.get("error"))
    return as_text(error.get("message")) or "upstream stream error"


class Decoder:
    """Events in, hub events out. The stop is said at the finish reason; the end, when the
    body ends (`StreamTranslator.finish`), so usage sent after it still counts."""

    def __init__(self) -> None:
        self._started = False
        self._open: hub.PartKind | None = None
        self._saw_tool = False

    def feed(self, event: Event) -> list[hub.Event]:
        chunk = load_event(event.data)
        if chunk.get("error"):
            raise UpstreamStreamError(_error_message(chunk), event.data)
        events: list[hub.Event] = []
        usage = field(chunk, "usageMetadata")
        if not self._started:
            self._started = True
            ident, model = (
                as_text(field(chunk, "responseId")),
                as_text(field(chunk, "modelVersion")),
            )
            events.append(hub.Started(ident, model, read_usage(usage) if usage else None))
        candidate = candidate_of(chunk)
        for part in decode_parts(as_list(as_dict(candidate.get("content")).get("parts"))):
            events += self._part(part)
        if isinstance(usage, dict):
            events.append(hub.UsageSeen(read_usage(usage)))
        reason = candidate.get("finishReason")
        if not candidate and as_dict(field(chunk, "promptFeedback")).get("blockReason"):
            reason = "SAFETY"
        if reason:
            events += self._close()
            events.append(hub.Stopped(stop_of(reason, saw_tool_call=self._saw_tool)))
        return events

    def _part(self, part: hub.Part) -> list[hub.Event]:
        if isinstance(part, hub.ToolCall):
            self._saw_tool = True
            events = [*self._close(), hub.Opened("tool_call", part.id, part.name)]
            events.append(hub.Delta(part.arguments))
            if part.signature:
                events.append(hub.Signed(part.signature, "gemini"))
            return [*events, hub.Closed()]
        if isinstance(part, hub.Reasoning):
            kind: hub.PartKind = "reasoning"
            text, signature = part.text, part.signature
        elif isinstance(part, hub.Text):
            kind, text, signature = "text", part.text, part.signature
        else:
            return []
        events = []
        if text and self._open != kind:
            events += [*self._close(), hub.Opened(kind)]
            self._open = kind
        if text:
            events.append(hub.Delta(text))
        if signature and self._open is not None:
            events.append(hub.Signed(signature, "gemini"))
        elif signature:  # a signature with no part open to take it: an empty one of its own
            events += [hub.Opened(kind), hub.Signed(signature, "gemini"), hub.Closed()]
        return events

    def _close(self) -> list[hub.Event]:
        if self._open is None:
            return []
        self._open = None
        return [hub.Closed()]


class Encoder:
    """Hub events in, Gemini events out: each delta its own event; a tool call once whole."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._id = new_id("", 22)
        self._open: str | None = None
        self._call: hub.ToolCall | None = None
        self._arguments: list[str] = []
        self._usage = hub.Usage()
        self._stop: str | None = None
        self._saw_tool = False
        self.finished = False

    def follow(self, event: Event) -> None:
        """A chunk the client had from elsewhere: the next ones carry its response id (Gemini
        numbers nothing else; each chunk stands alone)."""
        try:
            chunk = as_dict(orjson.loads(event.data))
        except orjson.JSONDecodeError:
            return
        self._id = as_text(field(chunk, "responseId")) or self._id

    def encode(self, event: hub.Event) -> list[bytes]:
        if self.finished:
            return []
        match event:
            case hub.Started():
                self._id = event.id or self._id
                if event.usage is not None:
                    self._usage = event.usage
            case hub.Opened():
                out = self._close()
                self._open = event.kind
                if event.kind == "tool_call":
                    self._saw_tool = True
                    self._call = hub.ToolCall(event.id, event.name, "")
                    self._arguments = [event.text]
                    return out
                return out + self._delta(event.text)
            case hub.Delta():
                return self._delta(event.text)
            case hub.Signed():
                return self._signed(event)
            case hub.Closed():
                return self._close()
            case hub.UsageSeen():
                self._usage = event.usage
            case hub.Stopped():
                self._stop = event.reason
            case hub.Ended():
                return self._end()
        return []

    def _delta(self, text: str) -> list[bytes]:
        if not text or self._open is None:
            return []
        if self._open == "tool_call":
            self._arguments.append(text)
            return []
        part = hub.Reasoning(text, origin="gemini") if self._open == "reasoning" else hub.Text(text)
        return [self._chunk([part])]

    def _signed(self, event: hub.Signed) -> list[bytes]:
        if event.origin != "gemini" or self._open is None:
            return []
        if self._call is not None:
            self._call.signature = event.signature
            return []
        part: hub.Part
        if self._open == "reasoning":
            part = hub.Reasoning("", origin="gemini", signature=event.signature)
        else:
            part = hub.Text("", signature=event.signature)
        return [self._chunk([part])]

    def _close(self) -> list[bytes]:
        self._open = None
        call, self._call = self._call, None
        if call is None:
            return []
        call.arguments = "".join(self._arguments) or "{}"
        return [self._chunk([call])]

    def _end(self) -> list[bytes]:
        out = self._close()
        stop = self._stop or ("tool_use" if self._saw_tool else "end_turn")
        out.append(self._chunk([hub.Text("")], finish_reason(stop)))
        self.finished = True
        return out

    def _chunk(self, parts: list[hub.Part], finish: str | None = None) -> bytes:
        encoded = [e for part in parts if (e := encode_part(part)) is not None]
        if finish is not None and not encoded:
            encoded = [{"text": ""}]
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": encoded}, "index": 0}
        if finish is not None:
            candidate["finishReason"] = finish
        chunk = {
            "candidates": [candidate],
            "usageMetadata": write_usage(self._usage),
            "modelVersion": self._model,
            "responseId": self._id,
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"
