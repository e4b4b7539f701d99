"""Chat Completions streams: `chat.completion.chunk` deltas, a last chunk with `usage` and
empty `choices` when asked for, then `data: [DONE]`."""

from __future__ import annotations

import re
import time
from typing import Any

import orjson

from turnout.wire import hub
from turnout.wire._json import as_dict, as_list, as_text, new_id, prefixed
from turnout.wire.chat.whole import finish_reason, read_usage, stop_of, write_usage
from turnout.wire.codec import UpstreamStreamError
from turnout.wire.sse import Event
from turnout.wire.streams import check_readable, load_event

DONE = b"data: [DONE]\n\n"
_FINISH_REASON = re.compile(r'"finish_reason"\s*:\s*"')
_EMPTY_CHOICES = re.compile(r'"choices"\s*:\s*\[\s*\]')
#: Delta fields that are the answer itself (text, reasoning, tool calls).
CONTENT_FIELDS = ("content", "reasoning_content", "reasoning", "tool_calls")


def is_error_event(event: Event) -> bool:
    return event.name == "error" or event.data.startswith('{"error"')


def carries_content(event: Event) -> bool:
    """A role chunk with empty content is framing; a delta with text, reasoning or a tool
    call, a finish reason, the usage chunk or [DONE] is the answer."""
    if event.data == "[DONE]":
        return True
    try:
        chunk = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(chunk, dict):
        return False
    if chunk.get("usage") and not chunk.get("choices"):
        return True
    for choice in as_list(chunk.get("choices")):
        delta = as_dict(as_dict(choice).get("delta"))
        if as_dict(choice).get("finish_reason") or any(delta.get(f) for f in CONTENT_FIELDS):
            return True
    return False


class Passthrough:
    """Chat to Chat: `[DONE]` ends it; a finish reason without `[DONE]` is still whole.

    With `hide_usage`, the usage-only chunk the gateway asked for (for its ledger) is kept
    from a client that did not ask for it.
    """

    def __init__(self, hide_usage: bool = False) -> None:
        self.finished = False
        self._saw_finish_reason = False
        self._hide_usage = hide_usage

    def feed(self, event: Event) -> list[bytes]:
        check_readable(event)
        if is_error_event(event):
            raise UpstreamStreamError("error event", event.data)
        if event.data == "[DONE]":
            self.finished = True
        elif not self._saw_finish_reason and _FINISH_REASON.search(event.data):
            self._saw_finish_reason = True
        if self._hide_usage and '"usage"' in event.data and _EMPTY_CHOICES.search(event.data):
            return []
        return [event.raw]

    def finish(self) -> list[bytes]:
        if self.finished or not self._saw_finish_reason:
            return []
        self.finished = True
        return [DONE]


class Decoder:
    """Chunks in, hub events out: one part open at a time, as the chunks interleave them."""

    def __init__(self) -> None:
        self._started = False
        self._open: str | None = None  # the open part's kind
        self._open_call: int | None = None  # the open tool call's index
        self._tool_ids: dict[int, str] = {}  # tool call index -> its call id
        self.saw_finish_reason = False

    def feed(self, event: Event) -> list[hub.Event]:
        if event.data.strip() == "[DONE]":
            return [*self._close(), hub.Ended()]
        chunk = load_event(event.data)
        if chunk.get("error"):  # a null `error` field is no error
            raise UpstreamStreamError(_error_message(chunk["error"]), event.data)
        events: list[hub.Event] = []
        if not self._started:
            self._started = True
            events.append(hub.Started(as_text(chunk.get("id")), as_text(chunk.get("model"))))
        if chunk.get("usage"):
            events.append(hub.UsageSeen(read_usage(chunk["usage"])))
        for choice in as_list(chunk.get("choices")):
            if as_dict(choice).get("index", 0) == 0:  # n > 1 is refused before the request
                events += self._choice(as_dict(choice))
        return events

    def _choice(self, choice: dict[str, Any]) -> list[hub.Event]:
        delta = as_dict(choice.get("delta"))
        events: list[hub.Event] = []
        reasoning = as_text(delta.get("reasoning_content")) or as_text(delta.get("reasoning"))
        if reasoning:
            events += self._text("reasoning", reasoning)
        content = as_text(delta.get("content"))
        if content:
            events += self._text("text", content)
        for call in as_list(delta.get("tool_calls")):
            events += self._tool_call(as_dict(call))
        finish = choice.get("finish_reason")
        if finish:
            self.saw_finish_reason = True
            events.append(hub.Stopped(stop_of(finish, saw_tool_call=bool(self._tool_ids))))
            events += self._close()
        return events

    def _text(self, kind: hub.PartKind, text: str) -> list[hub.Event]:
        if self._open == kind:
            return [hub.Delta(text)]
        events = self._close()
        self._open = kind
        return [*events, hub.Opened(kind), hub.Delta(text)]

    def _tool_call(self, call: dict[str, Any]) -> list[hub.Event]:
        index = call["index"] if isinstance(call.get("index"), int) else 0
        upstream_id = as_text(call.get("id"))
        function = as_dict(call.get("function"))
        events: list[hub.Event] = []
        # Some servers (Ollama) reuse index 0 for every call and tell them apart by id.
        if index not in self._tool_ids or upstream_id not in ("", self._tool_ids[index]):
            self._tool_ids[index] = upstream_id or new_id("toolu_")
            events = self._close()
            self._open, self._open_call = "tool_call", index
            name = as_text(function.get("name"))
            events.append(hub.Opened("tool_call", self._tool_ids[index], name))
        arguments = as_text(function.get("arguments"))
        if not arguments:
            return events
        if self._open_call != index:
            raise UpstreamStreamError(
                f"arguments for tool call {index} arrived after its block was closed",
                orjson.dumps(call).decode(),
            )
        return [*events, hub.Delta(arguments)]

    def _close(self) -> list[hub.Event]:
        if self._open is None:
            return []
        self._open = self._open_call = None
        return [hub.Closed()]


def _error_message(error: object) -> str:
    return as_text(as_dict(error).get("message")) or as_text(error) or "upstream stream error"


class Encoder:
    """Hub events in, `data:` chunks out."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self._model = model
        self._include_usage = include_usage
        self._id = prefixed(None, "chatcmpl-")
        self._created = int(time.time())
        self._open: str | None = None
        self._tool_index = -1
        self._stop: str | None = None
        self._finish_sent = False
        self._usage = hub.Usage()
        self.finished = False

    def follow(self, event: Event) -> None:
        """A chunk the client had from elsewhere: the next ones carry its id and time."""
        try:
            payload = as_dict(orjson.loads(event.data))
        except orjson.JSONDecodeError:
            return  # `[DONE]`, or what the client could not read either
        if isinstance(payload.get("id"), str) and payload["id"]:
            self._id = payload["id"]
        if isinstance(payload.get("created"), int):
            self._created = payload["created"]

    def encode(self, event: hub.Event) -> list[bytes]:
        if self.finished:
            return []
        match event:
            case hub.Started():
                self._id = prefixed(event.id or None, "chatcmpl-")
                return [self._chunk({"role": "assistant", "content": ""})]
            case hub.Opened():
                return self._opened(event)
            case hub.Delta():
                return self._delta(event.text)
            case hub.Closed():
                self._open = None
            case hub.UsageSeen():
                self._usage = event.usage
            case hub.Stopped():
                self._stop = event.reason
                if not self._finish_sent:
                    self._finish_sent = True
                    return [self._finish_chunk()]
            case hub.Ended():
                return self._end()
        return []

    def _opened(self, event: hub.Opened) -> list[bytes]:
        self._open = event.kind
        if event.kind == "tool_call":
            self._tool_index += 1
            function = {"name": event.name, "arguments": ""}
            call = {"index": self._tool_index, "id": event.id, "type": "function"}
            return [self._chunk({"tool_calls": [{**call, "function": function}]})]
        return self._delta(event.text)

    def _delta(self, text: str) -> list[bytes]:
        if not text or self._open is None:
            return []
        if self._open == "tool_call":
            call = {"index": self._tool_index, "function": {"arguments": text}}
            return [self._chunk({"tool_calls": [call]})]
        field = "content" if self._open == "text" else "reasoning_content"
        return [self._chunk({field: text})]

    def _end(self) -> list[bytes]:
        chunks = [] if self._finish_sent else [self._finish_chunk()]
        if self._include_usage:
            chunks.append(self._encode({"choices": [], "usage": write_usage(self._usage)}))
        self.finished = True
        return [*chunks, DONE]

    def _finish_chunk(self) -> bytes:
        return self._chunk({}, finish_reason(self._stop or "end_turn"))

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return self._encode({"choices": [choice]})

    def _encode(self, fields: dict[str, Any]) -> bytes:
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            **fields,
        }
        if self._include_usage:
            chunk.setdefault("usage", None)  # as OpenAI does: null on every chunk but the last
        return b"data: " + orjson.dumps(chunk) + b"\n\n"
