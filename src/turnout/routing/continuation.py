"""Seamless mid-stream continuation: when a stream breaks after text has reached the client,
ask a path that accepts an assistant prefill to continue from the text so far, and stream only
the remainder into the same answer.

Three parts, each written once against the hub: `ClientStream` reads back what the client has
received (in hub events: the text so far, whether a tool call or reasoning part is open);
`prefill_request` builds the continuation request in the continuing path's wire;
`RemainderReader` reads that path's stream and `ContinuationWriter` writes the remainder in the
client's wire as the next deltas of the same message, by an encoder brought to where the client
stands. Never inside a tool call or a reasoning block; never to a path that rejects a prefill.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from turnout.config.model import Target
from turnout.ledger.usage import Usage
from turnout.wire import CODECS, Codec, UpstreamStreamError, hub
from turnout.wire.sse import Event, EventSplitter
from turnout.wire.translate import encode_for

#: How a path continues a final assistant message: the wire it is asked in.
PREFILL_WIRES = {"anthropic": "anthropic", "deepseek": "openai", "vllm": "openai"}


@dataclass(slots=True)
class ClientStream:
    """What the client has been sent so far, read back from the bytes that went out.

    The bytes are only kept as they go; they are read when a continuation needs them, so a
    stream that never breaks pays for no parsing here.
    """

    dialect: str  # the client's wire
    text: list[str] = field(default_factory=list)
    #: What it was told: each event as it went out, with what it says in hub terms.
    told: list[tuple[Event, list[hub.Event]]] = field(default_factory=list)
    open: str | None = None  # the kind of the part open at the client
    unreadable: bool = False  # what went out could not be read back: never continue it
    _unread: list[bytes] = field(default_factory=list)
    _splitter: EventSplitter = field(default_factory=EventSplitter)
    _decoder: Any = None

    @property
    def codec(self) -> Codec:
        return CODECS[self.dialect]

    def sent(self, chunk: bytes) -> None:
        self._unread.append(chunk)

    def read(self) -> ClientStream:
        """Bring the fields up to date with everything sent; returns itself."""
        unread, self._unread = self._unread, []
        if not unread or self.unreadable:
            return self
        if self._decoder is None:
            self._decoder = self.codec.stream_decoder()
        try:
            for event in self._splitter.feed(b"".join(unread)):
                items = self._decoder.feed(event)
                self.told.append((event, items))
                for item in items:
                    self._observe(item)
        except (UpstreamStreamError, ValueError):
            self.unreadable = True
        return self

    def _observe(self, item: hub.Event) -> None:
        if isinstance(item, hub.Opened):
            self.open = item.kind
            if item.kind == "text" and item.text:
                self.text.append(item.text)
        elif isinstance(item, hub.Closed):
            self.open = None
        elif isinstance(item, hub.Delta) and self.open == "text":
            self.text.append(item.text)

    @property
    def in_tool_call(self) -> bool:
        return self.read().open == "tool_call"

    @property
    def in_thinking(self) -> bool:
        return self.read().open == "reasoning"

    @property
    def continuable(self) -> bool:
        """Text has reached the client, and no tool call or reasoning block is half-sent."""
        self.read()
        return bool(self.text) and not self.unreadable and self.open in (None, "text")

    @property
    def events(self) -> list[Event]:
        """Every event the client was sent, as it went out."""
        return [event for event, _ in self.read().told]

    @property
    def so_far(self) -> str:
        return "".join(self.read().text)


@dataclass(slots=True)
class Leg:
    """One upstream attempt that wrote part of a streamed answer (the stream that broke, each
    continuation), with its tokens; `estimated` names the counts the upstream never said."""

    target: Target
    usage: Usage
    estimated: list[str] = field(default_factory=list)


def prefill_wire(style: str) -> Codec:
    return CODECS[PREFILL_WIRES.get(style, "openai")]


def prefill_request(
    client_dialect: str, data: dict[str, Any], model: str, style: str, so_far: str
) -> bytes:
    """The client's request, in the continuing path's wire, ending with the text so far as an
    assistant message to continue. Trailing whitespace cannot end a prefill (Anthropic refuses
    it): it is left for the model to write again."""
    prefill = so_far.rstrip()
    source, target = CODECS[client_dialect], prefill_wire(style)
    request = source.decode_request(data)
    request.stream = True
    request.messages.append(hub.Message("assistant", [hub.Text(prefill)], plain=True))
    body = encode_for(request, target, model).body
    if target is source:  # same wire: everything else the client sent goes as it came
        options = {"stream_options": body["stream_options"]} if "stream_options" in body else {}
        body = {**data, "model": model, "stream": True, "messages": body["messages"], **options}
    if style == "deepseek":
        body["messages"][-1]["prefix"] = True
    elif style == "vllm":
        body["continue_final_message"] = True
        body["add_generation_prompt"] = False
    return orjson.dumps(body)


@dataclass(slots=True)
class RemainderReader:
    """Text deltas and the stop reason of the continuing path's stream, in any wire."""

    dialect: str
    stop_reason: str | None = None
    output_tokens: int = 0
    finished: bool = False
    strayed: bool = False  # it began a tool call or reasoning: not a continuation of text
    _decoder: Any = None
    _open: str | None = None

    def read(self, event: Any) -> str:
        """The text an upstream event adds; raises UpstreamStreamError on an error event."""
        if self._decoder is None:
            self._decoder = CODECS[self.dialect].stream_decoder()
        text = ""
        for item in self._decoder.feed(event):
            if isinstance(item, hub.Opened):
                self._open = item.kind
                self.strayed = self.strayed or item.kind != "text"
                text += item.text
            elif isinstance(item, hub.Delta) and self._open == "text":
                text += item.text
            elif isinstance(item, hub.Stopped):
                self.stop_reason = item.reason
            elif isinstance(item, hub.UsageSeen):
                self.output_tokens = item.usage.output
            elif isinstance(item, hub.Ended):
                self.finished = True
        return text


class ContinuationWriter:
    """The remainder, written as the next deltas of the answer the client is reading: the
    client wire's encoder, replayed through what the client was told, writes on from there.
    After each event replayed it follows the event itself, as it went out (another writer's,
    the upstream's own bytes on a same-wire path), so its numbering and indexes are the
    client's, not what its own writing of the same would have been."""

    def __init__(self, client: ClientStream, model: str) -> None:
        client.read()
        self._model = model  # the model that writes the remainder, named in its chunks
        request = hub.Request(model=model, messages=[])
        self._encoder = client.codec.stream_encoder(model, request)
        self._usage = hub.Usage()
        for event, items in client.told:
            for item in items:
                seen = item.usage if isinstance(item, hub.Started | hub.UsageSeen) else None
                self._usage = seen or self._usage
                self._encoder.encode(item)
            self._encoder.follow(event)
        self._open = client.open

    def text(self, delta: str) -> bytes:
        out: list[bytes] = []
        if self._open != "text":
            out += self._encoder.encode(hub.Opened("text"))
            self._open = "text"
        out += self._encoder.encode(hub.Delta(delta))
        return b"".join(out)

    def finish(self, stop_reason: str | None, output_tokens: int = 0) -> list[bytes]:
        """Close the answer. The output counted is the remainder's: what the broken path
        wrote before it broke was never counted by anyone."""
        usage = hub.Usage(self._usage.input, output_tokens, self._usage.cache_read)
        stop = stop_reason if stop_reason in _STOPS else "end_turn"
        out: list[bytes] = []
        for item in (
            hub.Closed(),
            hub.UsageSeen(usage),
            hub.Stopped(stop),  # type: ignore[arg-type]
            hub.Ended(),
        ):
            out += self._encoder.encode(item)
        return out


_STOPS = frozenset({"end_turn", "max_tokens", "tool_use", "stop_sequence", "refusal", "pause_turn"})
