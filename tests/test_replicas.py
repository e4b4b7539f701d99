"""Three `turnout serve` replicas sharing Redis and a PostgreSQL ledger, as behind a load
balancer: a path one gates is skipped by all, one probes it, a budget holds across them, a
kill -9 loses no recorded request, and a Redis outage fails no client request.

Every load here is bounded in count and time, and stays on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml

import tests.test_ledger
from tests.fakes import Fail, Reply, RunningUpstream
from tests.gateway import Reply as HttpReply
from tests.gateway import free_port, request
from tests.redis_servers import (
    PrivateRedis,
    private_redis_fixture,  # noqa: F401  (registers `private_redis`)
    redis_url_fixture,  # noqa: F401  (registers `redis_url`)
)
from tests.serving import GatewayProcess
from tests.waiting import wait_until
from turnout.catalog import price_of
from turnout.ledger.store import open_database

postgres_url = tests.test_ledger.postgres_url  # the fixture: one schema per test

EXTRA_USAGE = Fail(
    400,
    '{"type":"error","error":{"type":"invalid_request_error","message":"You\'re out of extra usage. Add more at claude.ai/settings/usage and keep going."}}',
)
MESSAGE = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
TURNOUT = (sys.executable, "-m", "turnout")
CHAT = {"model": "m", "max_tokens": 500, "messages": [{"role": "user", "content": "hello"}]}


class Replica:
    """One `turnout serve` on its own port, which it keeps across a restart; its log goes to
    a file of the test's."""

    def __init__(self, config: Path, log: Path, port: int | None = None) -> None:
        self.config, self.log_path = config, log
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: GatewayProcess | None = None

    def start(self) -> Replica:
        with self.log_path.open("ab") as log:
            self.process = GatewayProcess(self.config, log=log, port=self.port)
        return self

    @property
    def running(self) -> GatewayProcess:
        assert self.process is not None, "not started"
        return self.process

    def wait_ready(self) -> None:
        self.running.wait_ready()

    def healthz(self) -> dict[str, Any] | None:
        return self.running.healthz()

    def kill(self) -> None:
        self.running.kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@contextmanager
def replicas(tmp_path: Path, config: dict[str, Any], count: int = 3) -> Iterator[list[Replica]]:
    path = tmp_path / "turnout.yaml"
    path.write_text(yaml.safe_dump(config))
    started = [Replica(path, tmp_path / "replica-0.log").start()]
    try:
        # The first one migrates the fresh ledger alone: replicas that start at the same
        # instant on an empty PostgreSQL database race in CREATE TABLE (see the report).
        started[0].wait_ready()
        started += [Replica(path, tmp_path / f"replica-{i}.log").start() for i in range(1, count)]
        for replica in started:
            replica.wait_ready()
        yield started
    finally:
        for replica in started:
            replica.stop()


def anthropic_route(gated: RunningUpstream, backup: RunningUpstream, **defaults: Any) -> Any:
    return {
        "defaults": {"retries": 0, **defaults},
        "providers": {
            "gated": {"kind": "anthropic", "base_url": gated.url},
            "backup": {"kind": "anthropic", "base_url": backup.url},
        },
        "routes": {"m": ["gated/claude-sonnet-4-6", "backup/claude-sonnet-4-6"]},
    }


def ask(replica: Replica, body: Any = MESSAGE, key: str | None = None) -> HttpReply:
    headers = {"x-api-key": key} if key else {}
    return request(replica.url, "POST", "/v1/messages", body, headers)


def test_a_path_gated_through_one_replica_is_skipped_by_the_others(
    tmp_path: Path, redis_url: str, postgres_url: str
) -> None:
    with ExitStack() as stack:
        gated = stack.enter_context(RunningUpstream())
        backup = stack.enter_context(RunningUpstream())
        gated.script(EXTRA_USAGE)
        config = {
            **anthropic_route(gated, backup),
            "state": redis_url,
            "ledger": postgres_url,
        }
        a, b, c = stack.enter_context(replicas(tmp_path, config))
        first = ask(a)
        assert first.status == 200
        assert first.headers["x-turnout-attempts"] == "gated:quota -> backup:ok"
        for replica in (b, c, b, c):
            reply = ask(replica)
            assert reply.status == 200
            assert reply.headers["x-turnout-attempts"] == "gated:skipped(quota) -> backup:ok"
        assert len(gated.requests) == 1
        paths = request(c.url, "GET", "/turnout/paths").json()
        assert isinstance(paths, dict)
        assert [p["path"] for p in paths["paths"]] == ["gated"]
        assert paths["state_backend"]["backend"] == "redis"
        assert paths["state_backend"]["connected"] is True


def test_exactly_one_replica_probes_a_half_open_path(
    tmp_path: Path, redis_url: str, postgres_url: str
) -> None:
    with ExitStack() as stack:
        gated = stack.enter_context(RunningUpstream())
        backup = stack.enter_context(RunningUpstream())
        gated.script(EXTRA_USAGE)
        config = {
            **anthropic_route(gated, backup, gate_s=1.5),
            "state": redis_url,
            "ledger": postgres_url,
        }
        group = stack.enter_context(replicas(tmp_path, config))
        assert ask(group[0]).status == 200
        assert len(gated.requests) == 1
        # The gate (1.5 s on Redis's clock) is over: the next request anywhere is the one probe.
        time.sleep(1.7)  # a lower bound: a sleep never returns early

        with ThreadPoolExecutor(max_workers=30) as pool:
            replies = list(pool.map(lambda i: ask(group[i % 3]), range(30)))
        assert [r.status for r in replies] == [200] * 30
        assert len(gated.requests) == 2
        probes = [r for r in replies if r.headers["x-turnout-attempts"].startswith("gated:quota")]
        assert len(probes) == 1


def test_a_key_budget_holds_across_replicas(
    tmp_path: Path, redis_url: str, postgres_url: str
) -> None:
    price = price_of("gpt-4o")
    assert price is not None
    budget = price.cost(10, 500) * 6.5  # room for six requests, not seven
    with ExitStack() as stack:
        up = stack.enter_context(RunningUpstream())
        up.script(Reply(text="ok", usage=(10, 500), first_byte_delay_s=0.05))
        config = {
            "state": redis_url,
            "ledger": postgres_url,
            "providers": {"paid": {"kind": "openai", "base_url": up.url + "/v1"}},
            "routes": {"m": ["paid/gpt-4o"]},
        }
        group = stack.enter_context(replicas(tmp_path, config))
        secret = create_key(tmp_path / "turnout.yaml", budget)
        for replica in group:  # each has read the new key once it refuses keyless calls
            wait_until(lambda r=replica: models_status(r) == 401)  # type: ignore[misc]

        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(pool.map(lambda i: chat(group[i % 3], secret).status, range(40)))
        for replica in group:
            replica.stop()  # a graceful stop stores the journal's last records
    db = open_database(postgres_url)
    [(spent,)] = db.query("SELECT SUM(cost_usd) FROM requests")
    db.close()
    assert statuses.count(200) >= 1
    assert statuses.count(429) >= 30
    assert set(statuses) <= {200, 429}
    assert spent <= budget
    assert len(up.requests) == statuses.count(200)


def models_status(replica: Replica) -> int:
    return request(replica.url, "GET", "/v1/models").status


def chat(replica: Replica, key: str | None) -> HttpReply:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return request(replica.url, "POST", "/v1/chat/completions", CHAT, headers)


def create_key(config: Path, budget: float) -> str:
    made = subprocess.run(
        [*TURNOUT, "keys", "--config", str(config), "create", "shared", "--budget", repr(budget)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return next(w for w in made.stdout.split() if w.startswith("tk-"))


def test_kill_9_of_one_replica_loses_no_completed_request(
    tmp_path: Path, redis_url: str, postgres_url: str
) -> None:
    config = {
        "state": redis_url,
        "ledger": postgres_url,
        "providers": {"mock": {"kind": "mock", "script": [{"reply": "ok", "delay_s": 0.01}]}},
        "routes": {"m": ["mock/m"]},
    }
    with replicas(tmp_path, config) as group:
        completed = load(group, until=lambda done: len(done) >= 90, kill=group[1])
        group[1].start()  # the restart stores what its journal kept
        group[1].wait_ready()
    db = open_database(postgres_url)
    stored = {row[0] for row in db.query("SELECT id FROM requests")}
    db.close()
    assert len(completed) >= 90
    assert set(completed) <= stored


def load(
    group: list[Replica],
    until: Callable[[list[str]], bool],
    kill: Replica | None = None,
    during: Callable[[], None] = lambda: None,
) -> list[str]:
    """Requests from four threads across the replicas (at most 300 each); `kill` is killed
    with SIGKILL once `until` holds; `during` runs while the load goes on. Returns the ids of
    the completed requests; asserts that any failure came from the killed replica only."""
    completed: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def worker(offset: int) -> None:
        for n in range(300):
            if stop.is_set():
                return
            replica = group[(n + offset) % len(group)]
            try:
                reply = ask(replica, {**MESSAGE, "model": "m"})
            except (OSError, http.client.HTTPException) as exc:  # a killed replica cuts answers
                if replica is not kill:
                    failures.append(f"{replica.url}: {exc}")
                continue
            if reply.status == 200:
                completed.append(reply.headers["x-request-id"])
            elif replica is not kill:
                failures.append(f"{replica.url}: HTTP {reply.status} {reply.body[:200]!r}")

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in workers:
        thread.start()
    try:
        wait_until(lambda: until(completed))
        if kill is not None:
            kill.kill()
        during()
    finally:
        stop.set()
        for thread in workers:
            thread.join(timeout=60)
    assert failures == []
    return completed


def test_a_redis_outage_mid_load_fails_no_client_request(
    tmp_path: Path, private_redis: PrivateRedis, postgres_url: str
) -> None:
    config = {
        "state": private_redis.url + "?prefix=outage",
        "ledger": postgres_url,
        "providers": {"mock": {"kind": "mock", "script": [{"reply": "ok", "delay_s": 0.005}]}},
        "routes": {"m": ["mock/m"]},
    }
    seen: dict[str, list[dict[str, Any]]] = {"down": [], "up": []}

    def outage() -> None:
        private_redis.stop()
        for replica in group:
            wait_until(lambda r=replica: not state_of(r)["connected"])  # type: ignore[misc]
            seen["down"].append(state_of(replica))
        time.sleep(0.5)  # serving on memory for a while
        private_redis.start()
        for replica in group:
            wait_until(lambda r=replica: state_of(r)["connected"])  # type: ignore[misc]
            seen["up"].append(state_of(replica))

    with replicas(tmp_path, config) as group:
        assert all(state_of(r)["connected"] for r in group)
        completed = load(group, until=lambda done: len(done) >= 50, during=outage)
    assert len(completed) >= 50
    assert [s["backend"] for s in seen["down"]] == ["redis"] * 3
    for down, up in zip(seen["down"], seen["up"], strict=True):
        assert up["since"] > down["since"]  # the outage, then the recovery, each with its time
    logs = [(tmp_path / f"replica-{i}.log").read_text() for i in range(3)]
    for text in logs:
        assert text.count("Redis unreachable") == 1  # said once per outage
        assert text.count("Redis reachable again") == 1


def state_of(replica: Replica) -> dict[str, Any]:
    health = replica.healthz()
    assert health is not None
    state: dict[str, Any] = health["state"]
    return state
