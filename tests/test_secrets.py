"""Planted secrets never come out: a provider key and a gateway key, traffic that fails every
way we can arrange (upstream 401 that echoes the key, a gated path, a stream cut, a dead path,
a wrong gateway key, a config error at start and at reload), then every place a secret could
surface is searched for them: the gateway's log, the ledger's bytes, every response, /metrics
and /dashboard/state, `turnout doctor --json`, `turnout usage --json`, `turnout keys list`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes import Cut, Fail, Reply, RunningUpstream
from tests.gateway import free_port, request
from tests.serving import GatewayProcess
from tests.waiting import wait_until

RUN = uuid.uuid4().hex
PROVIDER_KEY = f"sk-ant-PLANTED-{RUN}"
GATEWAY_ADMIN_KEY = f"tk-admin-PLANTED-{RUN[::-1]}"
USAGE_GATE = (
    '{"type":"error","error":{"type":"invalid_request_error","message":"You\'re out of extra '
    'usage. Add more at claude.ai/settings/usage and keep going."}}'
)


def echoing_401() -> Fail:
    """A careless upstream that quotes the whole key back (OpenAI masks it; relays may not)."""
    body = {
        "type": "error",
        "error": {
            "type": "authentication_error",
            "message": f"invalid x-api-key: {PROVIDER_KEY} (Authorization: Bearer {PROVIDER_KEY})",
        },
    }
    return Fail(401, json.dumps(body), {"www-authenticate": f"Bearer realm={PROVIDER_KEY}"})


@dataclass
class Seen:
    """Everything that came out, labelled by where."""

    places: dict[str, bytes] = field(default_factory=dict)

    def add(self, where: str, data: bytes | str) -> None:
        blob = data.encode() if isinstance(data, str) else data
        self.places[where] = self.places.get(where, b"") + blob + b"\n"

    def leaks(self, secret: str) -> list[str]:
        """Places holding the secret, or enough of it to be one (its random part)."""
        needles = [secret.encode(), _random_part(secret).encode()]
        return [where for where, data in self.places.items() if any(n in data for n in needles)]


def _random_part(secret: str) -> str:
    """16 characters from the random part, short of the last four (which masks may show)."""
    return secret[-20:-4]


@dataclass
class World:
    tmp: Path
    config_path: Path
    env: dict[str, str]
    primary: RunningUpstream
    spare: RunningUpstream
    gateway_key: str = ""


def cli(world: World, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "turnout", args[0], "--config", str(world.config_path), *args[1:]],
        capture_output=True,
        env={**os.environ, **world.env},
        timeout=120,
        check=False,
    )
    return f"exit {done.returncode}\n{done.stdout.decode()}\n{done.stderr.decode()}"


def config(world: World, port: int, clear_key: bool = False) -> dict[str, Any]:
    key = PROVIDER_KEY if clear_key else "${PLANTED_PROVIDER_KEY}"
    dead = free_port()  # nothing listens: connection refused
    return {
        "ledger": str(world.tmp / "ledger.sqlite3"),
        # Gates and cooldowns of no length: each request tries the primary again, no waiting.
        "defaults": {"retries": 0, "cooldown_s": 0, "gate_s": 0, "read_timeout_s": 1},
        "server": {"port": port, "admin_key": "${PLANTED_ADMIN_KEY}"},
        "providers": {
            "primary": {"kind": "anthropic", "base_url": world.primary.url, "api_key": key},
            "dead": {"kind": "openai", "base_url": f"http://127.0.0.1:{dead}/v1", "api_key": key},
            "spare": {"kind": "anthropic", "base_url": world.spare.url, "api_key": key},
        },
        "routes": {
            "m": ["primary/model-a", "dead/model-b", "spare/model-c"],
            "lonely": ["primary/model-a"],
        },
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("secrets")
    env = {
        "PLANTED_PROVIDER_KEY": PROVIDER_KEY,
        "PLANTED_ADMIN_KEY": GATEWAY_ADMIN_KEY,
        "XDG_DATA_HOME": str(tmp / "data"),
    }
    with RunningUpstream() as primary, RunningUpstream() as spare:
        yield World(tmp, tmp / "turnout.yaml", env, primary, spare)


@dataclass
class Evidence:
    seen: Seen
    gateway_key: str
    upstream_saw: bytes
    views: dict[str, int]  # operator view -> HTTP status


@pytest.fixture(scope="module")
def evidence(world: World) -> Evidence:
    port = free_port()
    world.config_path.write_text(yaml.safe_dump(config(world, port)))
    seen = Seen()
    created = cli(world, "keys", "create", "planted-client")
    world.gateway_key = next(w for w in created.split() if w.startswith("tk-"))
    log_path = world.tmp / "gateway.log"
    with (
        log_path.open("wb") as log,
        GatewayProcess(world.config_path, env=world.env, log=log, port=port) as gateway,
    ):
        drive_failures(world, gateway, seen)
        reload_with_a_broken_config(world, gateway, log_path)
        views = read_operator_views(world, gateway, seen)
        seen.add("turnout doctor --json", cli(world, "doctor", "--json", "--timeout", "5"))
    seen.add("gateway log", log_path.read_bytes())
    for path in sorted(world.tmp.rglob("*")):
        if path.is_file() and path != log_path and path.suffix != ".yaml":
            seen.add(f"file {path.relative_to(world.tmp)}", path.read_bytes())
    seen.add("turnout usage --json", cli(world, "usage", "--json"))
    seen.add("turnout usage --errors", cli(world, "usage", "--errors"))
    seen.add("turnout keys list", cli(world, "keys", "list"))
    seen.add("serve, key in clear", serve_with_the_key_in_clear(world))
    upstream_saw = b"".join(
        json.dumps(r.headers).encode() + r.body
        for r in [*world.primary.requests, *world.spare.requests]
    )
    return Evidence(seen, world.gateway_key, upstream_saw, views)


SECRETS: dict[str, Callable[[Evidence], str]] = {
    "provider key": lambda e: PROVIDER_KEY,
    "gateway key": lambda e: e.gateway_key,
    "admin key": lambda e: GATEWAY_ADMIN_KEY,
}
PLACES: dict[str, Callable[[str], bool]] = {
    "the gateway's log": lambda where: where == "gateway log",
    "the ledger and journal files": lambda where: where.startswith("file "),
    "responses and error messages": lambda where: (
        " /v1/" in where
        or where.endswith(" fails")
        or "gateway key" in where
        or where == "/v1/models"
    ),
    "turnout doctor, usage and keys output": lambda where: (
        where.startswith("turnout ") or where == "serve, key in clear"
    ),
}


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize("secret", list(SECRETS))
def test_no_planted_secret_comes_out(evidence: Evidence, secret: str, place: str) -> None:
    value = SECRETS[secret](evidence)
    places = [where for where in evidence.seen.places if PLACES[place](where)]
    assert places, f"nothing was gathered from {place}"
    assert [where for where in evidence.seen.leaks(value) if where in places] == []


@pytest.mark.parametrize("view", ["/metrics", "/dashboard/state"])
@pytest.mark.parametrize("secret", list(SECRETS))
def test_no_planted_secret_in_the_operator_views(
    evidence: Evidence, view: str, secret: str
) -> None:
    assert evidence.views[view] == 200
    assert view not in evidence.seen.leaks(SECRETS[secret](evidence))


def test_everything_was_searched(evidence: Evidence) -> None:
    places = " ".join(evidence.seen.places)
    assert "ledger.sqlite3" in places
    assert "journal" in places
    assert evidence.seen.places["gateway log"].count(b"\n") > 5


def test_the_gateway_key_is_never_sent_upstream(evidence: Evidence) -> None:
    assert evidence.gateway_key.encode() not in evidence.upstream_saw
    assert GATEWAY_ADMIN_KEY.encode() not in evidence.upstream_saw
    assert PROVIDER_KEY.encode() in evidence.upstream_saw  # it did go where it belongs


def drive_failures(world: World, gateway: GatewayProcess, seen: Seen) -> None:
    auth = {"authorization": f"Bearer {world.gateway_key}"}
    chat = {"model": "m", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
    steps: list[tuple[str, Any, dict[str, Any]]] = [
        ("upstream 401 echoing the key", echoing_401(), {}),
        ("gated path", Fail(400, USAGE_GATE), {}),
        ("stream cut mid-way", Cut(after_events=5, text="alpha beta gamma"), {"stream": True}),
        ("stream cut at once", Cut(after_events=1), {"stream": True}),
        ("fine", Reply(text="fine"), {}),
        ("fine streamed", Reply(text="fine"), {"stream": True}),
    ]
    world.spare.script(Reply(text=" beta gamma"))
    for label, step, extra in steps:
        world.primary.script(step)
        for path in ("/v1/messages", "/v1/chat/completions"):
            reply = request(gateway.url, "POST", path, {**chat, **extra}, auth)
            seen.add(f"{label} {path}", _dump(reply.status, reply.headers, reply.body))
    world.primary.script(echoing_401())
    for model in ("lonely", "nope"):  # every path fails; no route at all
        reply = request(gateway.url, "POST", "/v1/chat/completions", {**chat, "model": model}, auth)
        seen.add(f"{model} fails", _dump(reply.status, reply.headers, reply.body))
    for label, headers in [
        ("no gateway key", {}),
        ("wrong gateway key", {"authorization": f"Bearer {world.gateway_key[:-4]}xxxx"}),
        ("provider key as gateway key", {"x-api-key": PROVIDER_KEY}),
    ]:
        reply = request(gateway.url, "POST", "/v1/messages", chat, headers)
        assert reply.status == 401, reply.body
        seen.add(label, _dump(reply.status, reply.headers, reply.body))
    models = request(gateway.url, "GET", "/v1/models", None, auth)
    seen.add("/v1/models", _dump(models.status, models.headers, models.body))


def reload_with_a_broken_config(world: World, gateway: GatewayProcess, log: Path) -> None:
    """A config error at reload: the key written in clear (refused, the running one stays)."""
    good = world.config_path.read_text()
    world.config_path.write_text(yaml.safe_dump(config(world, gateway.port, clear_key=True)))
    os.kill(gateway.pid, signal.SIGHUP)
    wait_until(lambda: b"config reload refused" in log.read_bytes(), what="the refusal logged")
    reloads = log.read_bytes().count(b"config reloaded from")
    world.config_path.write_text(good)
    os.kill(gateway.pid, signal.SIGHUP)
    wait_until(
        lambda: log.read_bytes().count(b"config reloaded from") > reloads,
        what="the good config reloaded",
    )
    assert gateway.healthy()


def read_operator_views(world: World, gateway: GatewayProcess, seen: Seen) -> dict[str, int]:
    admin = {"authorization": f"Bearer {GATEWAY_ADMIN_KEY}"}
    statuses = {}
    client = {"authorization": f"Bearer {world.gateway_key}"}
    for path in ("/metrics", "/dashboard/state", "/turnout/paths"):
        reply = request(
            gateway.url, "GET", path, None, client if path == "/turnout/paths" else admin
        )
        statuses[path] = reply.status
        seen.add(path, _dump(reply.status, reply.headers, reply.body))
    return statuses


def serve_with_the_key_in_clear(world: World) -> str:
    """A config error at start: the message names the line, never the key on it."""
    clear = world.tmp / "clear.yaml"
    clear.write_text(yaml.safe_dump(config(world, free_port(), clear_key=True)))
    done = subprocess.run(
        [sys.executable, "-m", "turnout", "serve", "--config", str(clear)],
        capture_output=True,
        env={**os.environ, **world.env},
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    doctor = subprocess.run(
        [sys.executable, "-m", "turnout", "doctor", "--json", "--config", str(clear)],
        capture_output=True,
        env={**os.environ, **world.env},
        timeout=60,
        check=False,
    )
    clear.unlink()
    return (done.stdout + done.stderr + doctor.stdout + doctor.stderr).decode()


def _dump(status: int, headers: dict[str, str], body: bytes) -> bytes:
    return f"{status}\n{json.dumps(headers)}\n".encode() + body
