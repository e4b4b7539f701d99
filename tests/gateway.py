"""Run a real turnout gateway (uvicorn, real sockets) on a free loopback port for a test."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from tests.clock import FakeClock
from tests.fakes import RunningUpstream
from tests.waiting import wait_until
from turnout.access.limits import Budgets
from turnout.config import GatewayConfig
from turnout.edge.app import TurnoutApp
from turnout.edge.protocol import BoundedHttpProtocol
from turnout.ledger.ledger import Ledger
from turnout.routing.health import PathHealth
from turnout.runtime.configs import load_config_text
from turnout.runtime.gateway import Gateway, Shared
from turnout.state import MemoryState


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


def _shared(config: GatewayConfig, ledger: Ledger | None, clock: FakeClock | None) -> Shared:
    if clock is None:
        return Shared.over(config.state, ledger)
    assert config.state is None, "a fake clock drives the in-memory state only"
    state = MemoryState(clock)
    health = PathHealth(state, clock)
    return Shared(health, ledger, budgets=Budgets(state), state=state, sleep=clock.sleep)


@contextmanager
def running_gateway(
    config: GatewayConfig | str,
    env: dict[str, str] | None = None,
    port: int | None = None,
    clock: FakeClock | None = None,
) -> Iterator[RunningGateway]:
    """A gateway on `port` (a free one if not given); its ledger (unless the config says where)
    in a temporary directory, stored when the gateway stops. With `clock`, gates, cooldowns
    and the waits between tries run on that clock: a test moves it instead of sleeping."""
    if isinstance(config, str):
        config = load_config_text(config, "<test>", env or {})
    scratch = tempfile.TemporaryDirectory()
    location = config.ledger or str(Path(scratch.name) / "ledger.sqlite3")
    ledger = None if location == "off" else Ledger(location, "test")
    gateway = Gateway.build(config, _shared(config, ledger, clock))
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
    wait_until(lambda: server.started, what="the gateway listening", alive=thread.is_alive)
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


#: The key every fake path is configured with (`api_key: ${KEY}`); upstreams see it.
PATH_KEY = "sk-fake"


def provider_entry(kind: str, url: str) -> dict[str, str]:
    """A provider of `kind` at a fake upstream; "responses" is an OpenAI path on that wire."""
    entry = {"kind": kind, "base_url": url, "api_key": "${KEY}"}
    if kind == "responses":
        entry |= {"kind": "openai", "wire": "responses"}
    if entry["kind"] == "openai":
        entry["base_url"] = url + "/v1"
    return entry


@contextmanager
def gateway_over(
    *kinds: str,
    route: str = "*",
    models: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    defaults: dict[str, Any] | None = None,
    routes: dict[str, list[str]] | None = None,
    clock: FakeClock | None = None,
    per_path: Sequence[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[RunningGateway, list[RunningUpstream]]]:
    """A gateway over one fake upstream per kind: the one helper for "a gateway over fake
    upstreams". A kind is "openai", "anthropic", "gemini" or "responses" (an OpenAI path on the
    Responses wire). Route `route` goes over them in order; path i is provider `names[i]` (p0,
    p1, ... by default) sending `models[i]` (by default the name the client asked for).

    `defaults` are the config's retry and timeout settings (quick backoff unless given);
    `routes` replaces the route table; `per_path[i]` adds to provider i's entry (its own
    `api_key`, a `budget`, `prefill`...); `extra` adds top-level sections (`ledger`,
    `server`); `env` adds variables (every path's key is `${KEY}` unless replaced);
    `clock` is passed to `running_gateway`."""
    with ExitStack() as stack:
        upstreams = [stack.enter_context(RunningUpstream()) for _ in kinds]
        names = names or [f"p{i}" for i in range(len(kinds))]
        additions = per_path or [{} for _ in kinds]
        providers = {
            name: {**provider_entry(kind, up.url), **added}
            for name, kind, up, added in zip(names, kinds, upstreams, additions, strict=True)
        }
        sent = models or ["*"] * len(kinds)
        config = {
            "defaults": {"backoff_s": 0.01, "backoff_max_s": 0.02, **(defaults or {})},
            "providers": providers,
            "routes": routes
            or {route: [f"{name}/{model}" for name, model in zip(names, sent, strict=True)]},
            **(extra or {}),
        }
        text = yaml.safe_dump(config, sort_keys=False)
        variables = {"KEY": PATH_KEY, **(env or {})}
        gw = stack.enter_context(running_gateway(text, env=variables, clock=clock))
        yield gw, upstreams
