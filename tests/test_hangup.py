"""A client that hangs up is noticed: the upstream call is cancelled where it stands, its
connection let go, and the ledger records `client_gone` with what was used so far.

A real gateway, a client on a raw socket that closes mid-answer, and an upstream on 127.0.0.1
that answers slowly and notes when the gateway let go of it. Bounded: the upstream's answer
ends by itself, long after the test would have seen it stopped.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import yaml

from tests.fakes.hostile import HostileUpstream
from tests.fakes.slow import EVENTS, Upstream, read_events, slow_upstream
from tests.gateway import RunningGateway, running_gateway
from tests.waiting import wait_until
from turnout.edge.asgi import ClientGone
from turnout.edge.hangup import CONNECTION_WATCH, ConnectionWatch, HangUp
from turnout.ledger.record import RequestRecord


@contextmanager
def gateway_over_slow() -> Iterator[tuple[RunningGateway, Upstream, list[RequestRecord]]]:
    seen = Upstream()
    with HostileUpstream(slow_upstream(seen)) as up:
        config = {
            "defaults": {"retries": 0},
            "providers": {"slow": {"kind": "openai", "base_url": up.url + "/v1"}},
            "routes": {"m": ["slow/model-a"]},
        }
        with running_gateway(yaml.safe_dump(config)) as gw:
            records: list[RequestRecord] = []
            gw.gateway.shared.records.subscribe(records.append)
            yield gw, seen, records


def send_chat(gw: RunningGateway, stream: bool) -> socket.socket:
    body = json.dumps(
        {"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    port = int(gw.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(head + body)
    return sock


def test_a_stream_whose_client_hangs_up_is_cancelled_and_recorded_as_client_gone() -> None:
    with gateway_over_slow() as (gw, seen, records):
        sock = send_chat(gw, stream=True)
        read_events(sock, 3)
        sock.close()  # the client hangs up three events in
        wait_until(lambda: records, what="the request's record")
        wait_until(seen.let_go.is_set, what="the gateway letting go of the upstream")
        record = records[0]
        assert (record.status, record.outcome) == (499, "client_gone")
        assert record.path == "slow/model-a"
        assert [a.outcome for a in record.attempts] == ["ok"]
        assert record.tokens_out >= 1  # what was sent before the hang-up is counted
        assert seen.sent < EVENTS // 2


def test_a_client_that_hangs_up_before_the_answer_cancels_the_upstream_call() -> None:
    with gateway_over_slow() as (gw, seen, records):
        sock = send_chat(gw, stream=False)
        assert seen.answered.wait(30), "the request never reached the upstream"
        sock.close()
        wait_until(lambda: records, what="the request's record")
        wait_until(seen.let_go.is_set, what="the gateway letting go of the upstream")
        record = records[0]
        assert (record.status, record.outcome) == (499, "client_gone")
        assert record.path is None  # nothing was served
        assert record.cost_usd == 0


def test_after_a_hang_up_the_gateway_serves_the_next_client() -> None:
    with gateway_over_slow() as (gw, _, records):
        sock = send_chat(gw, stream=True)
        read_events(sock, 1)
        sock.close()
        wait_until(lambda: len(records) == 1, what="the first record")
        sock = send_chat(gw, stream=True)
        assert b"word" in read_events(sock, 2)
        sock.close()
        wait_until(lambda: len(records) == 2, what="the second record")
        assert [r.outcome for r in records] == ["client_gone", "client_gone"]
        assert gw.gateway.active == 0


async def _work_until_cancelled(hang_up: HangUp, started: asyncio.Event) -> None:
    async with hang_up:
        started.set()
        await asyncio.Event().wait()  # an upstream call that never ends by itself


@pytest.mark.parametrize("server", ["watches the connection", "only says so through receive"])
def test_a_hang_up_cancels_the_work_under_either_kind_of_server(server: str) -> None:
    """turnout's own protocol hands each request a ConnectionWatch; under another ASGI server
    a task watches receive() instead. Either way the work ends as ClientGone."""

    async def scenario() -> None:
        gone = asyncio.Event()

        async def receive() -> dict[str, str]:
            await gone.wait()
            return {"type": "http.disconnect"}

        watch = ConnectionWatch()
        scope = {"extensions": {CONNECTION_WATCH: watch}} if server.startswith("watches") else {}
        started = asyncio.Event()
        work = asyncio.ensure_future(
            _work_until_cancelled(HangUp(receive, lambda: False, scope), started)
        )
        await started.wait()
        watch.close()
        gone.set()
        with pytest.raises(ClientGone):
            await asyncio.wait_for(work, 10)

    asyncio.run(scenario())


def test_a_connection_lost_after_the_response_is_no_hang_up() -> None:
    async def scenario() -> None:
        watch = ConnectionWatch()
        started = asyncio.Event()
        hang_up = HangUp(_never, lambda: True, {"extensions": {CONNECTION_WATCH: watch}})
        work = asyncio.ensure_future(_work_until_cancelled(hang_up, started))
        await started.wait()
        watch.close()  # the response was complete: the work goes on
        await asyncio.sleep(0)
        assert not work.done()
        work.cancel()
        with pytest.raises(asyncio.CancelledError):
            await work  # an outside cancellation stays one

    asyncio.run(scenario())


async def _never() -> dict[str, str]:
    await asyncio.Event().wait()
    return {}
