"""Anthropic streams: typed events (`message_start`, a start/delta/stop triple per content
block, `message_delta`, `message_stop`)."""

from __future__ import annotations

from typing import Any

import orjson

from turnout.wire import hub
from turnout.wire._json import as_dict, as_text, prefixed
from turnout.wire.codec import UpstreamStreamError
from turnout.wire.messages.whole import STOP_REASONS, merge_usage, stop_of, write_usage
from turnout.wire.sse import Event
from turnout.wire.streams import check_readable, load_event

#: Events that carry (or end) the answer; the others only frame it.
CONTENT_EVENTS = frozenset({"content_block_delta", "message_delta", "message_stop"})
_KINDS: dict[str, hub.PartKind] = {
    "text": "text",
    "thinking": "reasoning",
    "redacted_thinking": "reasoning",
    "tool_use": "tool_call",
}


def is_error_event(event: Event) -> bool:
    return event.name == "error" or event.data.startswith('{"error"')


def carries_content(event: Event) -> bool:
    return event.name in CONTENT_EVENTS


def event_bytes(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class Passthrough:
    """Anthropic to Anthropic: `message_stop` ends it."""

    def __init__(self) -> None:
        self.finished = False

    def feed(self, event: Event) -> list[bytes]:
        check_readable(event)
        if is_error_event(event):
            raise UpstreamStreamError("error event", event.data)
        if event.name == "message_stop":
            self.finished = True
        return [event.raw]

    def finish(self) -> list[bytes]:
        return []


class Decoder:
    """Anthropic events in, hub events out."""

    def __init__(self) -> None:
        self._usage = hub.Usage()
        self._parts: set[int] = set()  # block indexes that opened a hub part

    def feed(self, event: Event) -> list[hub.Event]:
        payload = load_event(event.data)
        name = event.name or as_text(payload.get("type"))
        if name == "error":
            error = as_dict(payload.get("error"))
            message = as_text(error.get("message")) or "upstream stream error"
            raise UpstreamStreamError(message, event.data)
        if name == "message_start":
            started = as_dict(payload.get("message"))
            self._usage = merge_usage(self._usage, started.get("usage"))
            ident, model = as_text(started.get("id")), as_text(started.get("model"))
            return [hub.Started(ident, model, self._usage)]
        if name == "content_block_start":
            return self._start(payload)
        if name == "content_block_delta":
            return self._delta(payload)
        if name == "content_block_stop":
            index = payload.get("index", 0)
            return [hub.Closed()] if index in self._parts else []
        if name == "message_delta":
            self._usage = merge_usage(self._usage, payload.get("usage"))
            events: list[hub.Event] = [hub.UsageSeen(self._usage)]
            reason = as_dict(payload.get("delta")).get("stop_reason")
            return [*events, hub.Stopped(stop_of(reason))] if reason else events
        if name == "message_stop":
            return [hub.Ended()]
        return []  # ping and future event types

    def _start(self, payload: dict[str, Any]) -> list[hub.Event]:
        block = as_dict(payload.get("content_block"))
        kind = _KINDS.get(as_text(block.get("type")))
        if kind is None:
            return []  # server tool blocks run at Anthropic: nothing for another wire
        self._parts.add(payload.get("index", 0))
        if kind == "tool_call":
            return [hub.Opened(kind, as_text(block.get("id")), as_text(block.get("name")))]
        if block.get("type") == "redacted_thinking":
            return [hub.Opened(kind), hub.Signed(as_text(block.get("data")), "anthropic")]
        initial = as_text(block.get("text")) or as_text(block.get("thinking"))
        return [hub.Opened(kind, text=initial)]

    def _delta(self, payload: dict[str, Any]) -> list[hub.Event]:
        if payload.get("index", 0) not in self._parts:
            return []
        delta = as_dict(payload.get("delta"))
        kind = delta.get("type")
        text = ""
        if kind == "text_delta":
            text = as_text(delta.get("text"))
        elif kind == "thinking_delta":
            text = as_text(delta.get("thinking"))
        elif kind == "input_json_delta":
            text = as_text(delta.get("partial_json"))
        elif kind == "signature_delta":
            return [hub.Signed(as_text(delta.get("signature")), "anthropic")]
        return [hub.Delta(text)] if text else []


class Encoder:
    """Hub events in, Anthropic SSE events out."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._started = False
        self._open: str | None = None
        self._index = -1
        self._saw_tool = False
        self._stop: str | None = None
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
            case hub.Signed() if self._open == "reasoning" and event.origin == "anthropic":
                delta = {"type": "signature_delta", "signature": event.signature}
                return [self._block_delta(delta)]
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
        """An event the client had from elsewhere: a block it was told of keeps its index (a
        block the hub has no words for still took one), so the next is numbered after it."""
        try:
            payload = as_dict(orjson.loads(event.data))
        except orjson.JSONDecodeError:
            return
        index = payload.get("index")
        if payload.get("type") == "content_block_start" and isinstance(index, int):
            self._index = index

    def _start(self, upstream_id: str) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        message: dict[str, Any] = {
            "id": prefixed(upstream_id or None, "msg_"),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": write_usage(self._usage),
        }
        return [event_bytes("message_start", {"type": "message_start", "message": message})]

    def _opened(self, event: hub.Opened) -> list[bytes]:
        out = self._start("") + self._close()
        self._open = event.kind
        self._index += 1
        block: dict[str, Any]
        if event.kind == "tool_call":
            self._saw_tool = True
            block = {"type": "tool_use", "id": event.id, "input": {}, "name": event.name}
        elif event.kind == "reasoning":
            block = {"type": "thinking", "thinking": "", "signature": ""}
        else:
            block = {"type": "text", "text": ""}
        payload = {"type": "content_block_start", "index": self._index, "content_block": block}
        return [*out, event_bytes("content_block_start", payload), *self._delta(event.text)]

    def _delta(self, text: str) -> list[bytes]:
        if not text or self._open is None:
            return []
        if self._open == "tool_call":
            return [self._block_delta({"type": "input_json_delta", "partial_json": text})]
        if self._open == "reasoning":
            return [self._block_delta({"type": "thinking_delta", "thinking": text})]
        return [self._block_delta({"type": "text_delta", "text": text})]

    def _block_delta(self, delta: dict[str, Any]) -> bytes:
        payload = {"type": "content_block_delta", "index": self._index, "delta": delta}
        return event_bytes("content_block_delta", payload)

    def _close(self) -> list[bytes]:
        if self._open is None:
            return []
        self._open = None
        payload = {"type": "content_block_stop", "index": self._index}
        return [event_bytes("content_block_stop", payload)]

    def _end(self) -> list[bytes]:
        out = self._start("") + self._close()
        stop = self._stop or ("tool_use" if self._saw_tool else "end_turn")
        delta = {"stop_reason": STOP_REASONS.get(stop, "end_turn"), "stop_sequence": None}
        usage = write_usage(self._usage)
        out.append(
            event_bytes("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        )
        out.append(event_bytes("message_stop", {"type": "message_stop"}))
        self.finished = True
        return out
