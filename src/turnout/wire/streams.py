"""What every stream translation shares: reading event data, and the translator that joins
an upstream wire's decoder to the client wire's encoder through the hub."""

from __future__ import annotations

from typing import Any

import orjson

from turnout.wire import hub
from turnout.wire.codec import StreamDecoder, StreamEncoder, UpstreamStreamError
from turnout.wire.sse import Event, refuse_unreadable, unreadable


def check_readable(event: Event) -> None:
    """An event whose data is not a JSON object (nor `[DONE]`) raises, never relayed.

    Relaying it would hand the client's SSE parser garbage; skipping it would pass an answer
    with a piece missing off as whole. So the stream ends here as broken, like a cut one.
    """
    if unreadable(event):
        refusal = refuse_unreadable(event)
        raise UpstreamStreamError(refusal.body, refusal.body)


def load_event(data: str) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UpstreamStreamError(f"upstream sent an event that is not JSON: {exc}", data) from exc
    if not isinstance(value, dict):
        raise UpstreamStreamError("upstream sent an event that is not a JSON object", data)
    return value


class StreamTranslator:
    """An upstream stream in one wire, written out in another; knows which part is open
    (a continuation must not start inside a tool call or a thinking block)."""

    def __init__(self, decoder: StreamDecoder, encoder: StreamEncoder) -> None:
        self._decoder = decoder
        self._encoder = encoder
        self._open: str | None = None
        self.stopped = False  # the upstream said why it stopped: the answer can be closed
        self.usage = hub.Usage()

    @property
    def finished(self) -> bool:
        return self._encoder.finished

    @property
    def in_tool_call(self) -> bool:
        return self._open == "tool_call"

    @property
    def in_thinking(self) -> bool:
        return self._open == "reasoning"

    def feed(self, event: Event) -> list[bytes]:
        if self.finished:
            return []
        check_readable(event)
        out: list[bytes] = []
        for item in self._decoder.feed(event):
            if isinstance(item, hub.Opened):
                self._open = item.kind
            elif isinstance(item, hub.Closed):
                self._open = None
            elif isinstance(item, hub.UsageSeen):
                self.usage = item.usage
            elif isinstance(item, hub.Stopped):
                self.stopped = True
            out += self._encoder.encode(item)
        return out

    def finish(self) -> list[bytes]:
        """Close the answer now (the upstream ended without its end marker)."""
        if self.finished:
            return []
        out = self._encoder.encode(hub.Closed()) if self._open else []
        self._open = None
        return out + self._encoder.encode(hub.Ended())
