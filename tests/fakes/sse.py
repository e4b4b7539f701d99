"""Server-sent event framing and the splitting rules shared by both dialects."""

from __future__ import annotations

import re

import orjson

_WORD = re.compile(r"\s*\S+|\s+")


def frame(data: object, event: str | None = None) -> bytes:
    """One SSE event: an optional `event:` line and a single-line JSON `data:`."""
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


def words(text: str) -> list[str]:
    """Split text into word-sized deltas (leading space kept) that join back exactly."""
    return _WORD.findall(text)


def fragments(text: str, size: int = 8) -> list[str]:
    """Split serialized JSON into fixed-size pieces, as providers stream tool arguments."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def truncated(event: bytes) -> bytes:
    """The same event with its JSON cut in half: what a broken upstream emits."""
    head, marker, data = event.partition(b"data: ")
    body = data.rstrip(b"\n")
    return head + marker + body[: len(body) // 2] + b"\n\n"
