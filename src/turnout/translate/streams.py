"""Streams between the dialects, one upstream event at a time.

Anthropic streams are typed events (`message_start`, a start/delta/stop triple per content
block, `message_delta`, `message_stop`); OpenAI streams are `chat.completion.chunk` deltas,
a last chunk with `usage` and empty `choices` when asked for, then `data: [DONE]`.
An upstream error event is not translated: `UpstreamStreamError` hands it to the gateway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from turnout.translate._shared import (
    as_dict,
    as_list,
    as_text,
    completion_id,
    empty_usage,
    finish_reason,
    merge_anthropic_usage,
    message_id,
    stop_reason,
    tool_call_id,
    usage_from_anthropic,
    usage_from_openai,
)

DONE = b"data: [DONE]\n\n"


class UpstreamStreamError(Exception):
    """The upstream stream carried an error event; `data` is that event's data as sent."""

    def __init__(self, message: str, data: str) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


def _load(data: str) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UpstreamStreamError(f"upstream sent an event that is not JSON: {exc}", data) from exc
    if not isinstance(value, dict):
        raise UpstreamStreamError("upstream sent an event that is not a JSON object", data)
    return value


def _error_message(error: object) -> str:
    return as_text(as_dict(error).get("message")) or as_text(error) or "upstream stream error"


def _anthropic_event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


@dataclass
class _Block:
    kind: str  # "text", "thinking" or "tool_use"
    index: int  # the Anthropic content block index
    tool: int | None = None  # the OpenAI tool call index, for tool_use blocks


class OpenAIToAnthropicStream:
    """Upstream OpenAI chunks in, Anthropic SSE events out."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._started = False
        self._finished = False
        self._block: _Block | None = None
        self._next_index = 0
        self._tool_ids: dict[int, str] = {}  # OpenAI tool call index -> its call id
        self._stop_reason: str | None = None
        self.usage = empty_usage()

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def in_tool_call(self) -> bool:
        return self._block is not None and self._block.kind == "tool_use"

    @property
    def in_thinking(self) -> bool:
        return self._block is not None and self._block.kind == "thinking"

    def feed(self, data: str) -> list[bytes]:
        if self._finished:
            return []
        if data.strip() == "[DONE]":
            return self.finish()
        chunk = _load(data)
        if chunk.get("error"):  # a null `error` field is no error
            raise UpstreamStreamError(_error_message(chunk["error"]), data)
        if chunk.get("usage"):
            self.usage = usage_from_openai(chunk["usage"])
        events = self._start(chunk.get("id"))
        for choice in as_list(chunk.get("choices")):
            if as_dict(choice).get("index", 0) == 0:  # n > 1 is refused before the request
                events += self._choice(as_dict(choice))
        return events

    def finish(self) -> list[bytes]:
        if self._finished:
            return []
        events = self._start(None) + self._close()
        reason = self._stop_reason or stop_reason(None, saw_tool_call=bool(self._tool_ids))
        delta = {"stop_reason": reason, "stop_sequence": None}
        events.append(
            _anthropic_event(
                "message_delta", {"type": "message_delta", "delta": delta, "usage": self.usage}
            )
        )
        events.append(_anthropic_event("message_stop", {"type": "message_stop"}))
        self._finished = True
        return events

    def _start(self, upstream_id: object) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        message: dict[str, Any] = {
            "id": message_id(upstream_id),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": dict(self.usage),
        }
        return [_anthropic_event("message_start", {"type": "message_start", "message": message})]

    def _choice(self, choice: dict[str, Any]) -> list[bytes]:
        delta = as_dict(choice.get("delta"))
        events: list[bytes] = []
        reasoning = as_text(delta.get("reasoning_content")) or as_text(delta.get("reasoning"))
        if reasoning:
            events += self._text("thinking", reasoning)
        content = as_text(delta.get("content"))
        if content:
            events += self._text("text", content)
        for call in as_list(delta.get("tool_calls")):
            events += self._tool_call(as_dict(call))
        finish = choice.get("finish_reason")
        if finish:
            self._stop_reason = stop_reason(finish, saw_tool_call=bool(self._tool_ids))
            events += self._close()
        return events

    def _text(self, kind: str, text: str) -> list[bytes]:
        events: list[bytes] = []
        if self._block is None or self._block.kind != kind:
            start = {"type": "text", "text": ""}
            if kind == "thinking":
                start = {"type": "thinking", "thinking": "", "signature": ""}
            events = self._open(_Block(kind, self._next_index), start)
        field = "text" if kind == "text" else "thinking"
        return [*events, self._delta({"type": f"{kind}_delta", field: text})]

    def _tool_call(self, call: dict[str, Any]) -> list[bytes]:
        index = call["index"] if isinstance(call.get("index"), int) else 0
        upstream_id = as_text(call.get("id"))
        function = as_dict(call.get("function"))
        events: list[bytes] = []
        # Some servers (Ollama) reuse index 0 for every call and tell them apart by id.
        if index not in self._tool_ids or upstream_id not in ("", self._tool_ids[index]):
            self._tool_ids[index] = upstream_id or tool_call_id()
            block = {"type": "tool_use", "id": self._tool_ids[index], "input": {}}
            block["name"] = as_text(function.get("name"))
            events = self._open(_Block("tool_use", self._next_index, index), block)
        arguments = as_text(function.get("arguments"))
        if not arguments:
            return events
        if self._block is None or self._block.tool != index:
            raise UpstreamStreamError(
                f"arguments for tool call {index} arrived after its block was closed",
                orjson.dumps(call).decode(),
            )
        return [*events, self._delta({"type": "input_json_delta", "partial_json": arguments})]

    def _open(self, block: _Block, content_block: dict[str, Any]) -> list[bytes]:
        events = self._close()
        self._block = block
        self._next_index += 1
        payload = {"type": "content_block_start", "index": block.index}
        payload["content_block"] = content_block
        return [*events, _anthropic_event("content_block_start", payload)]

    def _delta(self, delta: dict[str, Any]) -> bytes:
        assert self._block is not None  # callers open a block first
        payload = {"type": "content_block_delta", "index": self._block.index, "delta": delta}
        return _anthropic_event("content_block_delta", payload)

    def _close(self) -> list[bytes]:
        if self._block is None:
            return []
        payload = {"type": "content_block_stop", "index": self._block.index}
        self._block = None
        return [_anthropic_event("content_block_stop", payload)]


Handler = Callable[["AnthropicToOpenAIStream", dict[str, Any]], list[bytes]]


class AnthropicToOpenAIStream:
    """Upstream Anthropic events in, OpenAI `data:` chunks out."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self._model = model
        self._include_usage = include_usage
        self._id = completion_id(None)
        self._created = int(time.time())
        self._kinds: dict[int, str] = {}  # Anthropic block index -> block type
        self._tools: dict[int, int] = {}  # Anthropic block index -> OpenAI tool call index
        self._open: int | None = None
        self._finish_reason: str | None = None
        self._finish_sent = False
        self._finished = False
        self.usage = empty_usage()

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def in_tool_call(self) -> bool:
        return self._open is not None and self._kinds.get(self._open) == "tool_use"

    @property
    def in_thinking(self) -> bool:
        return self._open is not None and self._kinds.get(self._open) == "thinking"

    def feed(self, event: str, data: str) -> list[bytes]:
        if self._finished:
            return []
        payload = _load(data)
        name = event or as_text(payload.get("type"))
        if name == "error":
            raise UpstreamStreamError(_error_message(payload.get("error")), data)
        handler = self._HANDLERS.get(name)
        return handler(self, payload) if handler else []  # ping and future event types

    def finish(self) -> list[bytes]:
        if self._finished:
            return []
        chunks = [] if self._finish_sent else [self._finish_chunk()]
        if self._include_usage:
            usage = {"choices": [], "usage": usage_from_anthropic(self.usage)}
            chunks.append(self._encode(usage))
        self._finished = True
        return [*chunks, DONE]

    def _message_start(self, payload: dict[str, Any]) -> list[bytes]:
        message = as_dict(payload.get("message"))
        self._id = completion_id(message.get("id"))
        self.usage = merge_anthropic_usage(self.usage, message.get("usage"))
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, payload: dict[str, Any]) -> list[bytes]:
        index = payload.get("index", 0)
        block = as_dict(payload.get("content_block"))
        self._kinds[index] = as_text(block.get("type"))
        self._open = index
        if self._kinds[index] == "tool_use":
            self._tools[index] = len(self._tools)
            function = {"name": as_text(block.get("name")), "arguments": ""}
            call = {"index": self._tools[index], "id": as_text(block.get("id"))}
            return [
                self._chunk({"tool_calls": [{**call, "type": "function", "function": function}]})
            ]
        initial = as_text(block.get("text")) or as_text(block.get("thinking"))
        return self._content(self._kinds[index], initial)

    def _block_delta(self, payload: dict[str, Any]) -> list[bytes]:
        index = payload.get("index", 0)
        delta = as_dict(payload.get("delta"))
        kind = as_text(delta.get("type"))
        if kind == "input_json_delta" and index in self._tools:
            arguments = as_text(delta.get("partial_json"))
            call = {"index": self._tools[index], "function": {"arguments": arguments}}
            return [self._chunk({"tool_calls": [call]})] if arguments else []
        text = as_text(delta.get("text")) if kind == "text_delta" else ""
        thinking = as_text(delta.get("thinking")) if kind == "thinking_delta" else ""
        return self._content("text", text) + self._content("thinking", thinking)

    def _block_stop(self, payload: dict[str, Any]) -> list[bytes]:
        self._open = None
        return []

    def _message_delta(self, payload: dict[str, Any]) -> list[bytes]:
        self.usage = merge_anthropic_usage(self.usage, payload.get("usage"))
        reason = as_dict(payload.get("delta")).get("stop_reason")
        if not reason or self._finish_sent:
            return []
        self._finish_reason = finish_reason(reason)
        self._finish_sent = True
        return [self._finish_chunk()]

    def _message_stop(self, payload: dict[str, Any]) -> list[bytes]:
        return self.finish()

    _HANDLERS: ClassVar[dict[str, Handler]] = {
        "message_start": _message_start,
        "content_block_start": _block_start,
        "content_block_delta": _block_delta,
        "content_block_stop": _block_stop,
        "message_delta": _message_delta,
        "message_stop": _message_stop,
    }

    def _content(self, kind: str, text: str) -> list[bytes]:
        if not text or kind not in ("text", "thinking"):
            return []
        field = "content" if kind == "text" else "reasoning_content"
        return [self._chunk({field: text})]

    def _finish_chunk(self) -> bytes:
        return self._chunk({}, self._finish_reason or "stop")

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
