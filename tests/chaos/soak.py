"""A soak: a long bounded run through `turnout serve`, watching its memory and descriptors.

    report = run_soak(SoakPlan(seconds=45, warmup_s=10))
    print(report.summary())

The gateway (one child process) routes `m: [flaky, healthy]`: `flaky` rolls the chaos faults
at a third of the chaos run's rates (so error paths, cuts, stalls and resets are exercised, and
whatever they leak shows), `healthy` never fails. Plain HTTP clients (a new connection per
request, so accept and close are exercised too) send both dialects, streamed or not. After the
warm-up and again at the end the load is paused until the gateway is idle, then VmRSS and the
count of /proc/PID/fd are read, so in-flight connections do not count as growth.

With `model_names`, half the requests ask a pattern route (`*: [healthy/*]`) for one of that
many invented model names, each name once before any repeats; with `dashboard`, one client
keeps `/dashboard/events` open and reads it throughout: memory must stay flat all the same.
"""

from __future__ import annotations

import http.client
import json
import random
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.chaos.upstream import ChaosFarm, Mix
from tests.serving import GatewayProcess

IDLE_WAIT_S = 2.0  # after the load pauses: handlers finish, stalled upstream reads time out
KEY_ENV = {"SOAK_UPSTREAM_KEY": "sk-soak-upstream"}


@dataclass(frozen=True)
class SoakPlan:
    seconds: float = 45.0
    warmup_s: float = 10.0
    threads: int = 8
    seed: int = 3
    fault_scale: float = 0.33
    max_requests: int = 1_000_000  # a bound of its own, besides the time
    model_names: int = 0  # invented model names sent to a pattern route (0: none)
    dashboard: bool = False  # keep a dashboard event stream open throughout


@dataclass(frozen=True)
class Reading:
    at_s: float
    rss_kb: int
    fds: int
    sockets: int = 0  # of `fds`


@dataclass
class SoakReport:
    plan: SoakPlan
    start: Reading
    end: Reading
    samples: list[Reading] = field(default_factory=list)
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    upstreams: int = 2  # distinct upstream servers the gateway connects to

    @property
    def rss_growth_mb(self) -> float:
        return (self.end.rss_kb - self.start.rss_kb) / 1024

    @property
    def fd_growth(self) -> int:
        return self.end.fds - self.start.fds

    @property
    def socket_growth(self) -> int:
        return self.end.sockets - self.start.sockets

    @property
    def other_fd_growth(self) -> int:
        """Descriptors that are not sockets: files, pipes, event fds. None may pile up."""
        return self.fd_growth - self.socket_growth

    @property
    def pool_bound(self) -> int:
        """What the upstream connection pool may hold idle, and so keep open legitimately:
        one keep-alive connection per request in flight at once, per upstream. A request has
        one upstream connection at a time, and there are `threads` clients; the pool keeps
        idle connections for its keep-alive time, longer than the soak's idle wait."""
        return self.upstreams * self.plan.threads

    def summary(self) -> str:
        rate = self.requests / self.plan.seconds
        peak = max((s.rss_kb for s in self.samples), default=self.end.rss_kb) / 1024
        return (
            f"soak: {self.requests} requests in {self.plan.seconds:.0f} s ({rate:.0f}/s), "
            f"{self.errors} client errors; RSS {self.start.rss_kb / 1024:.1f} -> "
            f"{self.end.rss_kb / 1024:.1f} MB ({self.rss_growth_mb:+.1f} MB, peak {peak:.1f}), "
            f"fds {self.start.fds} -> {self.end.fds} ({self.fd_growth:+d}: "
            f"{self.socket_growth:+d} sockets, pool may hold {self.pool_bound})"
        )


def run_soak(plan: SoakPlan) -> SoakReport:
    mixes = {"flaky": Mix.hostile(plan.fault_scale), "healthy": Mix.none()}
    with (
        tempfile.TemporaryDirectory(prefix="turnout-soak-") as scratch,
        ChaosFarm(mixes, seed=plan.seed) as farm,
    ):
        config_path = Path(scratch) / "turnout.yaml"
        config_path.write_text(yaml.safe_dump(_config(farm, Path(scratch)), sort_keys=False))
        with GatewayProcess(config_path, env=KEY_ENV) as gateway:
            watcher = _DashboardWatcher(gateway.url) if plan.dashboard else None
            _load(gateway.url, plan, plan.warmup_s, Tally())
            start = _idle_reading(gateway, 0.0)
            tally = Tally()
            samples = _load(gateway.url, plan, plan.seconds, tally, gateway)
            end = _idle_reading(gateway, plan.seconds)
            if watcher is not None:
                watcher.stop()
            # Farm arrivals are kept in memory; they are not what is measured, but bound them.
            for upstream in farm.upstreams.values():
                upstream.arrivals.clear()
    return SoakReport(
        plan, start, end, samples, tally.requests, tally.statuses, tally.errors,
        upstreams=len(farm.upstreams),
    )  # fmt: skip


def _config(farm: ChaosFarm, scratch: Path) -> dict[str, object]:
    return {
        "ledger": str(scratch / "ledger.sqlite3"),
        "defaults": {
            "retries": 1,
            "backoff_s": 0.02,
            "backoff_max_s": 0.1,
            "retry_after_max_s": 2,
            "cooldown_s": 0.5,
            "gate_s": 1,
            "headers_timeout_s": 1,
            "first_event_timeout_s": 1,
            "read_timeout_s": 0.5,
        },
        "providers": {
            "flaky": {
                "kind": "anthropic",
                "base_url": farm.url("flaky"),
                "api_key": "${SOAK_UPSTREAM_KEY}",
            },
            "healthy": {
                "kind": "openai",
                "base_url": farm.url("healthy") + "/v1",
                "api_key": "${SOAK_UPSTREAM_KEY}",
            },
        },
        "routes": {"m": ["flaky/model-a", "healthy/model-b"], "*": ["healthy/*"]},
    }


class _DashboardWatcher:
    """One open dashboard: reads `/dashboard/events` on a thread until stopped."""

    def __init__(self, url: str) -> None:
        port = int(url.rsplit(":", 1)[1])
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.connection.request("GET", "/dashboard/events")
        self.response = self.connection.getresponse()
        self.events = 0
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while self.response.readline():
                self.events += 1
        except (OSError, http.client.HTTPException, ValueError):
            return

    def stop(self) -> None:
        self.connection.close()
        self.thread.join(10)


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.errors = 0
        self.statuses: dict[int, int] = {}

    def add(self, status: int | None) -> None:
        with self.lock:
            self.requests += 1
            if status is None:
                self.errors += 1
            else:
                self.statuses[status] = self.statuses.get(status, 0) + 1


def _load(
    url: str, plan: SoakPlan, seconds: float, tally: Tally, gateway: GatewayProcess | None = None
) -> list[Reading]:
    """Load for `seconds` (or up to `plan.max_requests`), then wait for every client thread."""
    port = int(url.rsplit(":", 1)[1])
    deadline = time.monotonic() + seconds
    started = time.monotonic()

    def worker(index: int) -> None:
        rng = random.Random(f"{plan.seed}:{index}")
        while time.monotonic() < deadline and tally.requests < plan.max_requests:
            tally.add(_one(port, rng, _model(plan, tally, rng)))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(plan.threads)]
    for thread in threads:
        thread.start()
    samples = []
    while any(t.is_alive() for t in threads):
        time.sleep(min(5.0, max(0.1, deadline - time.monotonic())))
        if gateway is not None and time.monotonic() < deadline:
            samples.append(
                Reading(time.monotonic() - started, gateway.rss_kb(), gateway.fd_count())
            )
        if time.monotonic() > deadline + 60:
            break
    for thread in threads:
        thread.join(60)
    return samples


def _model(plan: SoakPlan, tally: Tally, rng: random.Random) -> str:
    """The route `m`, or (with `model_names`) half the time an invented name."""
    if plan.model_names and rng.random() < 0.5:
        return f"invented-{tally.requests % plan.model_names}"
    return "m"


def _one(port: int, rng: random.Random, model: str = "m") -> int | None:
    anthropic = rng.random() < 0.5
    body = {
        "model": model,
        "max_tokens": 50,
        "stream": rng.random() < 0.5,
        "messages": [{"role": "user", "content": f"soak nonce={uuid.uuid4().hex[:16]}"}],
    }
    path = "/v1/messages" if anthropic else "/v1/chat/completions"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST", path, json.dumps(body), {"content-type": "application/json", "x-api-key": "x"}
        )
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def _idle_reading(gateway: GatewayProcess, at_s: float) -> Reading:
    time.sleep(IDLE_WAIT_S)
    return Reading(at_s, gateway.rss_kb(), gateway.fd_count(), gateway.socket_count())
