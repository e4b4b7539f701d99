"""Run a real turnout gateway (uvicorn, real sockets) on a free loopback port for a test."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
import yaml

from tests.fakes import RunningUpstream
from turnout.config import GatewayConfig, load_config_text
from turnout.edge.app import TurnoutApp
from turnout.edge.protocol import BoundedHttpProtocol
from turnout.ledger.ledger import Ledger
from turnout.runtime.gateway import Gateway, Shared


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningGateway:
    url: str
    gateway: Gateway

    @property
    def openai_base(self) -> str:
        return self.url + "/v1"


@contextmanager
def running_gateway(
    config: GatewayConfig | str, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[RunningGateway]:
    """A gateway on `port` (a free one if not given); its ledger (unless the config says where)
    in a temporary directory, stored when the gateway stops."""
    if isinstance(config, str):
        config = load_config_text(config, "<test>", env or {})
    scratch = tempfile.TemporaryDirectory()
    location = config.ledger or str(Path(scratch.name) / "ledger.sqlite3")
    ledger = None if location == "off" else Ledger(location, "test")
    gateway = Gateway.build(config, Shared.over(config.state, ledger))
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            TurnoutApp(gateway),
            host="127.0.0.1",
            port=port,
            loop="asyncio",
            http=BoundedHttpProtocol,  # as `turnout serve` runs it
            access_log=False,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("gateway did not start")
        time.sleep(0.01)
    try:
        yield RunningGateway(f"http://127.0.0.1:{port}", gateway)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        scratch.cleanup()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def request(
    base_url: str,
    method: str,
    path: str,
    body: bytes | object | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One plain HTTP request (no SDK): for what SDKs would not send."""
    host, port = base_url.removeprefix("http://").split(":")
    payload = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    all_headers = {"content-type": "application/json", **(headers or {})}
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        return Reply(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        connection.close()


@contextmanager
def gateway_over(
    *kinds: str, route: str = "*", models: Sequence[str] | None = None
) -> Iterator[tuple[RunningGateway, list[RunningUpstream]]]:
    """A gateway whose `route` goes over one fake upstream per kind, in order (no retries).
    Each path sends `models[i]`, or by default the name the client asked for."""
    with ExitStack() as stack:
        upstreams = [stack.enter_context(RunningUpstream()) for _ in kinds]
        providers = {
            f"p{i}": {
                "kind": kind,
                "base_url": up.url + ("/v1" if kind == "openai" else ""),
                "api_key": "${KEY}",
            }
            for i, (kind, up) in enumerate(zip(kinds, upstreams, strict=True))
        }
        names = models or ["*"] * len(kinds)
        config = {
            "defaults": {"backoff_s": 0.01, "retries": 0},
            "providers": providers,
            "routes": {route: [f"p{i}/{name}" for i, name in enumerate(names)]},
        }
        gw = stack.enter_context(running_gateway(yaml.safe_dump(config), env={"KEY": "sk-fake"}))
        yield gw, upstreams
