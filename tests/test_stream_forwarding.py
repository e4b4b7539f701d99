"""How a stream's events reach the client: what one upstream read brought goes out in one
write, and what came before an event that breaks the stream still goes out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import MutableMapping
from typing import Any

import pytest

from turnout.edge.relay import _forward
from turnout.routing.continuation import ClientStream
from turnout.telemetry.accounting import Tally
from turnout.wire import CHAT, UpstreamStreamError
from turnout.wire.sse import EventSplitter

CONTENT = b'data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n'


def forward(
    read: bytes,
) -> tuple[list[MutableMapping[str, Any]], BaseException | None, ClientStream]:
    """The messages sent to the client for one upstream read, and what was raised."""
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    tally = Tally("r1", "m", CHAT.name, True, time.perf_counter())
    tally.client = ClientStream(CHAT.name)
    events = EventSplitter().feed(read)
    raised: BaseException | None = None
    try:
        asyncio.run(_forward(events, CHAT.passthrough({}), tally, send))
    except UpstreamStreamError as exc:
        raised = exc
    return sent, raised, tally.client


def test_the_events_of_one_read_go_to_the_client_in_one_write() -> None:
    sent, raised, client = forward(CONTENT % b"a" + CONTENT % b"b" + CONTENT % b"c")
    assert raised is None
    assert [m["body"] for m in sent] == [CONTENT % b"a" + CONTENT % b"b" + CONTENT % b"c"]
    assert all(m["more_body"] for m in sent)
    assert client.so_far == "abc"


def test_what_came_before_a_broken_event_still_reaches_the_client() -> None:
    sent, raised, client = forward(CONTENT % b"a" + CONTENT % b"b" + b"data: {not json\n\n")
    assert isinstance(raised, UpstreamStreamError)
    assert [m["body"] for m in sent] == [CONTENT % b"a" + CONTENT % b"b"]
    assert client.so_far == "ab"  # what the client has is what a continuation builds on


def test_a_read_with_nothing_to_forward_writes_nothing() -> None:
    sent, raised, _ = forward(b": keep-alive comment\n\n")
    assert raised is None
    assert sent == []


@pytest.mark.parametrize("count", [1, 50])
def test_every_event_is_forwarded_in_order(count: int) -> None:
    read = b"".join(CONTENT % str(i).encode() for i in range(count))
    sent, _, client = forward(read)
    assert b"".join(m["body"] for m in sent) == read
    assert client.so_far == "".join(str(i) for i in range(count))
