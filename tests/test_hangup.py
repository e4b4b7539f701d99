"""A client that hangs up is noticed: the upstream call is cancelled where it stands, its
connection let go, and the ledger records `client_gone` with what was used so far.

A real gateway, a client on a raw socket that closes mid-answer, and an upstream on 127.0.0.1
that answers slowly and notes when the gateway let go of it. Bounded: the upstream's answer
ends by itself, long after the test would have seen it stopped.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import yaml

from tests.fakes.hostile import HostileUpstream
from tests.fakes.slow import EVENTS, Upstream, read_events, slow_upstream
from tests.gateway import RunningGateway, running_gateway
from tests.waiting import wait_until
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
