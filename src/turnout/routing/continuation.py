"""Seamless mid-stream continuation: when a stream breaks after text has reached the client,
ask a path that accepts an assistant prefill to continue from the text so far, and stream only
the remainder into the same answer.

Three parts: `ClientStream` watches what the client has received (text so far, whether a tool
call or thinking block is open, the message id and block index to continue); `prefill_request`
builds the continuation request in the continuing path's dialect; `RemainderReader` reads that
path's stream and `ContinuationWriter` writes the remainder in the client's dialect as the next
deltas of the same message. Never inside a tool call or a thinking block; never to a path that
rejects a prefill.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from turnout.wire import CODECS
from turnout.wire.sse import Event, parse_event
from turnout.wire.translate import translate_request


def _json(data: str) -> dict[str, Any] | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


@dataclass(slots=True)
class ClientStream:
    """What the client has been sent so far, read back from the bytes that went out.

    The bytes are only kept as they go; they are read when a continuation needs them, so a
    stream that never breaks pays for no parsing here.
    """

    dialect: str
    text: list[str] = field(default_factory=list)
    in_tool_call: bool = False
    in_thinking: bool = False
    message_id: str | None = None
    model: str | None = None
    open_block: int | None = None  # Anthropic: the index of the open text block
    _unread: list[bytes] = field(default_factory=list)

    def sent(self, chunk: bytes) -> None:
        self._unread.append(chunk)

    def read(self) -> ClientStream:
        """Bring the fields up to date with everything sent; returns itself."""
        unread, self._unread = self._unread, []
        for raw in b"".join(unread).split(b"\n\n"):
            event = parse_event(raw + b"\n\n") if raw.strip() else None
            if event is not None:
                self._observe(event)
        return self

    def _observe(self, event: Event) -> None:
        data = _json(event.data)
        if data is None:
            return
        if self.dialect == "openai":
            self._openai(data)
        else:
            self._anthropic(event.name or str(data.get("type", "")), data)

    def _openai(self, data: dict[str, Any]) -> None:
        self.message_id = data.get("id") or self.message_id
        self.model = data.get("model") or self.model
        for choice in data.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("tool_calls"):
                self.in_tool_call = True
            if delta.get("reasoning_content") or delta.get("reasoning"):
                self.in_thinking = not delta.get("content")
            if delta.get("content"):
                self.in_thinking = False
                self.text.append(delta["content"])

    def _anthropic(self, name: str, data: dict[str, Any]) -> None:
        if name == "message_start":
            message = data.get("message") or {}
            self.message_id, self.model = message.get("id"), message.get("model")
        elif name == "content_block_start":
            kind = (data.get("content_block") or {}).get("type")
            self.in_tool_call = kind == "tool_use"
            self.in_thinking = kind in ("thinking", "redacted_thinking")
            self.open_block = data.get("index") if kind == "text" else None
        elif name == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta":
                self.text.append(str(delta.get("text", "")))
        elif name == "content_block_stop":
            self.in_tool_call = self.in_thinking = False

    @property
    def continuable(self) -> bool:
        """Text has reached the client, and no tool call or thinking block is half-sent."""
        self.read()
        return bool(self.text) and not self.in_tool_call and not self.in_thinking

    @property
    def so_far(self) -> str:
        return "".join(self.read().text)


def prefill_request(
    client_dialect: str, data: dict[str, Any], model: str, style: str, so_far: str
) -> bytes:
    """The client's request, in the continuing path's dialect, ending with the text so far
    as an assistant message to continue. Trailing whitespace cannot end a prefill (Anthropic
    refuses it): it is left for the model to write again."""
    prefill = so_far.rstrip()
    target = "anthropic" if style == "anthropic" else "openai"
    if target == client_dialect:
        body = {**data, "model": model}
    else:
        body = translate_request(data, CODECS[client_dialect], CODECS[target], model).body
    body["stream"] = True
    assistant: dict[str, Any] = {"role": "assistant", "content": prefill}
    if style == "deepseek":
        assistant["prefix"] = True
    elif style == "vllm":
        body["continue_final_message"] = True
        body["add_generation_prompt"] = False
    body["messages"] = [*body.get("messages", []), assistant]
    if target == "openai":
        body.pop("stream_options", None)
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)


@dataclass(slots=True)
class RemainderReader:
    """Text deltas and the stop reason of the continuing path's stream."""

    dialect: str
    stop_reason: str | None = None
    output_tokens: int = 0
    finished: bool = False
    strayed: bool = False  # it began a tool call or thinking: not a continuation of text

    def read(self, event: Event) -> str:
        data = _json(event.data) if event.data != "[DONE]" else None
        if event.data == "[DONE]" or event.name == "message_stop":
            self.finished = True
        if data is None:
            return ""
        if "error" in data and (self.dialect == "openai" or event.name == "error"):
            raise ValueError(str(data.get("error")))
        return self._openai(data) if self.dialect == "openai" else self._anthropic(event, data)

    def _openai(self, data: dict[str, Any]) -> str:
        text = ""
        for choice in data.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("tool_calls"):
                self.strayed = True
            text += delta.get("content") or ""
            if isinstance(data.get("usage"), dict):
                self.output_tokens = int(data["usage"].get("completion_tokens") or 0)
            if choice.get("finish_reason"):
                self.stop_reason = {"length": "max_tokens"}.get(choice["finish_reason"], "end_turn")
        return text

    def _anthropic(self, event: Event, data: dict[str, Any]) -> str:
        kind = event.name or data.get("type")
        if kind == "content_block_start":
            block = (data.get("content_block") or {}).get("type")
            self.strayed = self.strayed or block in ("tool_use", "thinking")
        elif kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta":
                return str(delta.get("text", ""))
        elif kind == "message_delta":
            self.stop_reason = (data.get("delta") or {}).get("stop_reason") or self.stop_reason
            self.output_tokens = int((data.get("usage") or {}).get("output_tokens") or 0)
        return ""


class ContinuationWriter:
    """The remainder, written as the next deltas of the answer the client is reading."""

    def __init__(self, client: ClientStream, model: str) -> None:
        self._client = client.read()  # its message id and open block, as sent so far
        self._model = model  # the model that writes the remainder, named in its chunks

    def text(self, delta: str) -> bytes:
        if self._client.dialect == "openai":
            return self._openai_chunk({"content": delta}, None)
        payload = {
            "type": "content_block_delta",
            "index": self._client.open_block or 0,
            "delta": {"type": "text_delta", "text": delta},
        }
        return b"event: content_block_delta\ndata: " + orjson.dumps(payload) + b"\n\n"

    def finish(self, stop_reason: str | None, output_tokens: int = 0) -> list[bytes]:
        """Close the answer. The usage is the remainder's: what the broken path wrote before
        it broke was never counted by anyone."""
        reason = stop_reason or "end_turn"
        if self._client.dialect == "openai":
            finish = {"max_tokens": "length", "tool_use": "tool_calls"}.get(reason, "stop")
            chunks = [self._openai_chunk({}, finish)]
            return [*chunks, b"data: [DONE]\n\n"]
        events = []
        if self._client.open_block is not None:
            stop = {"type": "content_block_stop", "index": self._client.open_block}
            events.append(b"event: content_block_stop\ndata: " + orjson.dumps(stop) + b"\n\n")
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        }
        events.append(b"event: message_delta\ndata: " + orjson.dumps(delta) + b"\n\n")
        events.append(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
        return events

    def _openai_chunk(self, delta: dict[str, Any], finish: str | None) -> bytes:
        chunk = {
            "id": self._client.message_id or "chatcmpl-turnout",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"
