"""SIGTERM with requests in flight: a stream that outlives the drain ends with an error event
in its client's dialect and a proper end (never a quiet cut), and a whole request finishes.

The real `turnout serve` as a child process, a slow upstream on 127.0.0.1, raw sockets.
"""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from tests.fakes import Reply, RunningUpstream
from tests.fakes.hostile import HostileUpstream
from tests.fakes.slow import Upstream, read_events, slow_upstream
from tests.serving import STOP_TIMEOUT_S, GatewayProcess
from tests.waiting import wait_until

OPENAI: tuple[str, dict[str, str], bytes] = ("/v1/chat/completions", {}, b"data: ")
ANTHROPIC: tuple[str, dict[str, str], bytes] = (
    "/v1/messages",
    {"anthropic-version": "2023-06-01"},
    b"event: content_block_delta",
)


def write_config(tmp_path: Path, upstream_url: str) -> Path:
    config = {
        "ledger": str(tmp_path / "ledger.sqlite3"),
        "server": {"drain_s": 0},  # streams are told at once; whole requests still finish
        "defaults": {"retries": 0},
        "providers": {"slow": {"kind": "openai", "base_url": upstream_url + "/v1"}},
        "routes": {"m": ["slow/model-a"]},
    }
    path = tmp_path / "turnout.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def post(
    port: int, path: str, headers: dict[str, str], body: Mapping[str, object]
) -> socket.socket:
    raw = json.dumps(body).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"{head}content-length: {len(raw)}\r\n\r\n".encode()
        + raw
    )
    return sock


def read_to_end(sock: socket.socket) -> bytes:
    received = b""
    while piece := sock.recv(65536):
        received += piece
    return received


@pytest.mark.parametrize(
    ("path", "headers", "marker"), [OPENAI, ANTHROPIC], ids=["openai", "anthropic"]
)
def test_sigterm_ends_an_open_stream_with_an_error_event_in_its_dialect(
    tmp_path: Path, path: str, headers: dict[str, str], marker: bytes
) -> None:
    seen = Upstream()
    with HostileUpstream(slow_upstream(seen)) as up:
        gateway = GatewayProcess(write_config(tmp_path, up.url)).wait_ready()
        body = {
            "model": "m",
            "max_tokens": 50,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }
        sock = post(gateway.port, path, headers, body)
        start = read_events(sock, 3)
        assert marker in start
        gateway.proc.send_signal(signal.SIGTERM)
        rest = read_to_end(sock)
        sock.close()
        gateway.proc.wait(STOP_TIMEOUT_S)  # uvicorn ends by re-raising the signal
        gateway.stop()
    stream = start + rest
    assert stream.endswith(b"0\r\n\r\n"), "the chunked body was cut, not ended"
    last = [part for part in stream.split(b"\n\n") if b"data: " in part][-1]
    data = json.loads(last.split(b"data: ", 1)[1].split(b"\r\n", 1)[0])
    if path == OPENAI[0]:
        assert data["error"]["turnout"]["code"] == "gateway_shutting_down"
    else:
        assert b"event: error" in last
        assert data["type"] == "error"
        assert data["error"]["type"] == "api_error"
    assert "shutting down" in json.dumps(data)
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as db:
        rows = db.execute("SELECT outcome, path, tokens_out FROM requests").fetchall()
    assert len(rows) == 1
    outcome, served_by, tokens_out = rows[0]
    assert (outcome, served_by) == ("gateway_shutting_down", "slow/model-a")
    assert tokens_out >= 1


def test_sigterm_lets_a_whole_request_in_flight_finish(tmp_path: Path) -> None:
    with RunningUpstream() as up:
        up.script(Reply(text="finished in the drain", first_byte_delay_s=1.0))
        gateway = GatewayProcess(write_config(tmp_path, up.url)).wait_ready()
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        sock = post(gateway.port, OPENAI[0], {}, body)
        wait_until(lambda: up.requests, what="the request in flight", alive=gateway.running)
        gateway.proc.send_signal(signal.SIGTERM)
        reply = read_to_end(sock)
        sock.close()
        gateway.proc.wait(STOP_TIMEOUT_S)  # uvicorn ends by re-raising the signal
        gateway.stop()
    assert reply.startswith(b"HTTP/1.1 200")
    assert b"finished in the drain" in reply
