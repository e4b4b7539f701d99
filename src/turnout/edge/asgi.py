"""Small ASGI helpers: read a bounded body, send a whole response, send a stream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import quote

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyTooLarge(Exception):
    """The client sent more than the configured limit."""


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


class BodyTooSlow(Exception):
    """The client did not finish sending its body within the deadline."""


#: Time a client has to send its whole body once the head arrived: 32 MB at a slow 1 MB/s.
BODY_TIMEOUT_S = 60.0


def header_map(scope: Scope) -> dict[str, str]:
    """Request headers with lower-case names (the last value wins for repeated names)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def read_body(receive: Receive, limit: int, timeout_s: float = BODY_TIMEOUT_S) -> bytes:
    try:
        async with asyncio.timeout(timeout_s):
            return await _read_body(receive, limit)
    except TimeoutError:
        raise BodyTooSlow from None


async def _read_body(receive: Receive, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def header_value(value: str) -> bytes:
    """A header value as bytes that are always valid on the wire. Values can carry what a
    client chose (a model name on a pattern route): anything but printable ASCII is
    percent-encoded as UTF-8, so neither a non-Latin-1 name nor a CR/LF can break the head."""
    if value.isascii() and value.isprintable():
        return value.encode("ascii")
    return quote(value, safe=" !\"#$&'()*+,/:;<=>?@[\\]^`{|}~").encode("ascii")


def encode_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), header_value(v)) for k, v in headers]


async def send_response(
    send: Send, status: int, body: bytes, headers: Iterable[tuple[str, str]] = ()
) -> None:
    head = [("content-type", "application/json"), *headers]
    await send({"type": "http.response.start", "status": status, "headers": encode_headers(head)})
    await send({"type": "http.response.body", "body": body})


async def start_stream(send: Send, headers: Iterable[tuple[str, str]]) -> None:
    head = [
        ("content-type", "text/event-stream; charset=utf-8"),
        ("cache-control", "no-cache"),
        ("x-accel-buffering", "no"),
        *headers,
    ]
    await send({"type": "http.response.start", "status": 200, "headers": encode_headers(head)})


async def send_chunk(send: Send, chunk: bytes) -> None:
    await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def end_stream(send: Send) -> None:
    await send({"type": "http.response.body", "body": b"", "more_body": False})
