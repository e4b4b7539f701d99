"""Incremental server-sent events: split a byte stream into whole events, keeping their bytes.

Pass-through relays each event's original bytes; only the few fields the gateway must see
(event name, data) are decoded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Event:
    raw: bytes  # the event as received, terminator included
    name: str  # "" when the event has no `event:` line
    data: str  # the `data:` lines joined by newlines


class EventSplitter:
    """Feed chunks, get back every event completed so far."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[Event]:
        events: list[Event] = []
        buffer = self._buffer + chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        start = 0
        while True:
            end = buffer.find(b"\n\n", start)
            if end == -1:
                break
            raw = buffer[start : end + 2]
            start = end + 2
            event = parse_event(raw)
            if event is not None:
                events.append(event)
        self._buffer = buffer[start:]
        return events


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
