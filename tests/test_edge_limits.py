"""The edge bounds what a client can hold: head size, head time, body time, header bytes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from tests.gateway import RunningGateway, request, running_gateway
from turnout.edge.asgi import BodyTooSlow, Message, encode_headers, read_body
from turnout.edge.protocol import BoundedHttpProtocol

CONFIG = "providers: {p: {kind: mock}}\nroutes: {m: [p/x]}\nledger: off\n"


@pytest.fixture
def gateway() -> Iterator[RunningGateway]:
    with running_gateway(CONFIG) as running:
        yield running


def connect(gateway: RunningGateway) -> socket.socket:
    host, port = gateway.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def read_all(conn: socket.socket) -> bytes:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_huge_request_head_gets_431_and_the_connection_closes(gateway: RunningGateway) -> None:
    with connect(gateway) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        try:
            for _ in range(4096):  # up to 256 MiB, far more than any limit
                conn.sendall(b"a" * 65536)
        except OSError:
            pass  # the gateway closed while we were still sending
        else:
            pytest.fail("the gateway read 256 MiB of headers")
        reply = read_all(conn)
    assert reply.startswith(b"HTTP/1.1 431 ")
    assert request(gateway.url, "GET", "/healthz").status == 200


def test_a_connection_that_sends_nothing_is_closed(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(BoundedHttpProtocol, "head_timeout_s", 0.2)
    with connect(gateway) as idle, connect(gateway) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\n")  # and never the rest of the head
        assert read_all(idle).startswith(b"HTTP/1.1 408 ")
        assert read_all(slow).startswith(b"HTTP/1.1 408 ")


def test_a_kept_alive_connection_serves_many_requests(gateway: RunningGateway) -> None:
    with connect(gateway) as conn:
        for _ in range(3):
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            reply = b""
            while not reply.endswith(b"\r\n0\r\n\r\n"):  # the end of a chunked body
                reply += conn.recv(65536)
            assert reply.startswith(b"HTTP/1.1 200 "), reply


def test_a_body_that_never_finishes_is_refused() -> None:
    async def scenario() -> None:
        never = asyncio.Event()

        async def receive() -> Message:
            await never.wait()
            return {"type": "http.request", "body": b"", "more_body": False}

        with pytest.raises(BodyTooSlow):
            await read_body(receive, limit=1024, timeout_s=0.01)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("anthropic/claude-sonnet-4-5", b"anthropic/claude-sonnet-4-5"),
        ("p/模型", b"p/%E6%A8%A1%E5%9E%8B"),
        ("p/x\r\nset-cookie: a=b", b"p/x%0D%0Aset-cookie: a=b"),
    ],
)
def test_header_values_are_always_valid_on_the_wire(value: str, wire: bytes) -> None:
    assert encode_headers([("x-turnout-path", value)]) == [(b"x-turnout-path", wire)]
