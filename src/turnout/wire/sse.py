"""Incremental server-sent events: split a byte stream into whole events, keeping their bytes.

Pass-through relays each event's original bytes; only the few fields the gateway must see
(event name, data) are decoded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson

from turnout.errors import ResponseRefused


@dataclass(frozen=True, slots=True)
class Event:
    raw: bytes  # the event as received, terminator included
    name: str  # "" when the event has no `event:` line
    data: str  # the `data:` lines joined by newlines


#: The longest event accepted when the caller sets no bound.
MAX_EVENT_BYTES = 8 * 1024 * 1024


def _unchanged(raw: bytes) -> bytes:
    return raw


class EventSplitter:
    """Feed chunks, get back every event completed so far.

    Bounded and linear: an event longer than `max_event_bytes` raises `ResponseRefused`
    rather than growing a buffer without end, and bytes waiting for an event's end are joined
    once, when it comes. `redact` masks secrets in each whole event before it is read.
    """

    __slots__ = ("_cr", "_pending", "_size", "max_event_bytes", "redact")

    def __init__(
        self,
        max_event_bytes: int = MAX_EVENT_BYTES,
        redact: Callable[[bytes], bytes] = _unchanged,
    ) -> None:
        self._pending: list[bytes] = []
        self._size = 0
        self._cr = False  # the last chunk ended in "\r": its "\n" may come next
        self.max_event_bytes = max_event_bytes
        self.redact = redact

    def feed(self, chunk: bytes) -> list[Event]:
        chunk = self._normalized(chunk)
        tail = self._pending[-1][-1:] if self._pending else b""
        if (tail + chunk).find(b"\n\n") == -1:
            if chunk:
                self._pending.append(chunk)
                self._size += len(chunk)
            self._check()
            return []
        buffer = b"".join(self._pending) + chunk
        events: list[Event] = []
        start = 0
        while True:
            end = buffer.find(b"\n\n", start)
            if end == -1:
                break
            raw = self.redact(buffer[start : end + 2])
            start = end + 2
            event = parse_event(raw)
            if event is not None:
                events.append(event)
        rest = buffer[start:]
        self._pending = [rest] if rest else []
        self._size = len(rest)
        self._check()
        return events

    def _normalized(self, chunk: bytes) -> bytes:
        """Line ends as "\n"; a "\r\n" split between two chunks stays one line end."""
        if self._cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._cr = chunk.endswith(b"\r")
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        return chunk

    def _check(self) -> None:
        if self._size > self.max_event_bytes:
            raise ResponseRefused.because(
                f"a stream event longer than the max_event_bytes bound of "
                f"{self.max_event_bytes} bytes"
            )


def parse_event(raw: bytes) -> Event | None:
    name = ""
    data: list[str] = []
    for line in raw.decode("utf-8", errors="replace").split("\n"):
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if not name and not data:
        return None  # a comment or keep-alive only
    return Event(raw, name, "\n".join(data))


def unreadable(event: Event) -> bool:
    """Whether an event's data is neither a JSON object nor `[DONE]`: a corrupt stream, since
    both dialects send only those. Events without data (a bare `event:` line) are framing."""
    data = event.data
    if not data or data == "[DONE]":
        return False
    if data[0] != "{":
        return True
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return True
    return False


def refuse_unreadable(event: Event) -> ResponseRefused:
    """The refusal of a corrupt event, quoting its start so a person can see what came."""
    return ResponseRefused.because(f"a stream event that is not JSON: {event.data[:120]!r}")
