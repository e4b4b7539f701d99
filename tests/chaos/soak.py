"""A soak: a long bounded run through `turnout serve`, watching its memory and descriptors.

    report = run_soak(SoakPlan(seconds=45, warmup_s=10))
    print(report.summary())

The gateway (one child process) routes `m: [flaky, healthy]`: `flaky` rolls the chaos faults
at a third of the chaos run's rates (so error paths, cuts, stalls and resets are exercised, and
whatever they leak shows), `healthy` never fails. Plain HTTP clients (a new connection per
request, so accept and close are exercised too) send both dialects, streamed or not.

A hostile tenant invents model names on the pattern route `x-*: [relay/*]`: `plan.model_names`
distinct ones, half during the warm-up (or `plan.warmup_names`) and the rest after, nine in ten unknown to the relay (a
404 that gates the path `relay/<name>` for an hour, so its mark stays) and one in ten
answered. A dashboard stays open all along (its event stream, and its state polled every
second). The bounds of docs/security.md must hold whatever the names: path marks, metric
series and dashboard rows reach their bound during the warm-up and stay there.

After the warm-up and again at the end the load is paused until the gateway is idle, then
VmRSS, the count of /proc/PID/fd, metric series, path marks and dashboard rows are read, so
in-flight connections do not count as growth.
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
from typing import Any

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
    model_names: int = 10_000  # distinct model names invented on the pattern route (0: none)
    dashboard: bool = True  # keep a dashboard open throughout
    warmup_names: int | None = None  # of them, sent during the warm-up (half if not given)
    inventors: int = 4  # client threads that send them, each on its own connection
    #: A phase lasts its time and until its half of the names is sent, but never this long.
    phase_cap_s: float = 900.0


@dataclass(frozen=True)
class Reading:
    at_s: float
    rss_kb: int
    fds: int
    sockets: int = 0  # of `fds`
    series: int = 0  # metric series (lines of /metrics)
    invented_series: int = 0  # of them, those about paths of the pattern route
    marks: int = 0  # paths kept out of service (/turnout/paths)
    rows: int = 0  # dashboard rows (paths of routes, and of traffic)


@dataclass
class SoakReport:
    plan: SoakPlan
    start: Reading
    end: Reading
    samples: list[Reading] = field(default_factory=list)
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    upstreams: int = 3  # distinct upstream servers the gateway connects to
    names_sent: int = 0
    name_statuses: dict[int, int] = field(default_factory=dict)
    snapshots: int = 0  # snapshots the open dashboard received
    measured_s: float = 0.0  # how long the measured phase took (its time, or its names)

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
        took = self.measured_s or self.plan.seconds
        rate = self.requests / took
        peak = max((s.rss_kb for s in self.samples), default=self.end.rss_kb) / 1024
        return (
            f"soak: {self.requests} requests in {took:.0f} s ({rate:.0f}/s), "
            f"{self.errors} client errors; RSS {self.start.rss_kb / 1024:.1f} -> "
            f"{self.end.rss_kb / 1024:.1f} MB ({self.rss_growth_mb:+.1f} MB, peak {peak:.1f}), "
            f"fds {self.start.fds} -> {self.end.fds} ({self.fd_growth:+d}: "
            f"{self.socket_growth:+d} sockets, pool may hold {self.pool_bound}); "
            f"{self.names_sent} invented names: series {self.start.series} -> "
            f"{self.end.series} (pattern route {self.start.invented_series} -> "
            f"{self.end.invented_series}), marks {self.start.marks} -> {self.end.marks}, "
            f"dashboard rows {self.start.rows} -> {self.end.rows}, "
            f"{self.snapshots} snapshots to the open dashboard"
        )


def run_soak(plan: SoakPlan) -> SoakReport:
    mixes = {"flaky": Mix.hostile(plan.fault_scale), "healthy": Mix.none(), "relay": Mix.none()}
    with (
        tempfile.TemporaryDirectory(prefix="turnout-soak-") as scratch,
        ChaosFarm(mixes, seed=plan.seed) as farm,
    ):
        config_path = Path(scratch) / "turnout.yaml"
        config_path.write_text(yaml.safe_dump(_config(farm, Path(scratch)), sort_keys=False))
        with (
            GatewayProcess(config_path, env=KEY_ENV) as gateway,
            Dashboard(gateway.port, plan.dashboard) as seen,
        ):
            half = plan.model_names // 2 if plan.warmup_names is None else plan.warmup_names
            names = Tally()
            _load(gateway.url, plan, plan.warmup_s, Tally(), names=(0, half, names))
            start = _idle_reading(gateway, 0.0)
            tally = Tally()
            began = time.monotonic()
            samples = _load(
                gateway.url,
                plan,
                plan.seconds,
                tally,
                gateway,
                names=(half, plan.model_names, names),
            )
            measured = time.monotonic() - began
            end = _idle_reading(gateway, measured)
            # Farm arrivals are kept in memory; they are not what is measured, but bound them.
            for upstream in farm.upstreams.values():
                upstream.arrivals.clear()
    return SoakReport(
        plan, start, end, samples, tally.requests, tally.statuses, tally.errors,
        upstreams=len(farm.upstreams), names_sent=names.requests,
        name_statuses=names.statuses, snapshots=seen.snapshots, measured_s=measured,
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
            # A model it does not have gates that model's path for an hour: every invented
            # name's mark stays, so the bound on marks is what keeps them in check.
            "relay": {
                "kind": "openai",
                "base_url": farm.url("relay") + "/v1",
                "api_key": "${SOAK_UPSTREAM_KEY}",
                "gate_s": 3600,
            },
        },
        "routes": {"m": ["flaky/model-a", "healthy/model-b"], "x-*": ["relay/*"]},
    }


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
    url: str,
    plan: SoakPlan,
    seconds: float,
    tally: Tally,
    gateway: GatewayProcess | None = None,
    names: tuple[int, int, Tally] | None = None,
) -> list[Reading]:
    """Load for `seconds` (or up to `plan.max_requests`), while invented names `names[0]` to
    `names[1]` are sent (the phase lasts until they all are, within `plan.phase_cap_s`);
    then wait for every client thread."""
    port = int(url.rsplit(":", 1)[1])
    started = time.monotonic()
    deadline = started + seconds
    cap = started + plan.phase_cap_s
    inventing = threading.Event()
    busy = [0]  # inventors still sending
    lock = threading.Lock()

    def worker(index: int) -> None:
        rng = random.Random(f"{plan.seed}:{index}")
        while (
            (time.monotonic() < deadline or inventing.is_set())
            and tally.requests < plan.max_requests
            and time.monotonic() < cap
        ):
            tally.add(_one(port, rng))

    def inventor(numbers: range, sent: Tally) -> None:
        try:
            _invent(port, numbers, sent, cap)
        finally:
            with lock:
                busy[0] -= 1
                if not busy[0]:
                    inventing.clear()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(plan.threads)]
    if names is not None:
        first, end, sent = names
        inventing.set()
        busy[0] = plan.inventors
        threads += [
            threading.Thread(
                target=inventor, args=(range(first + k, end, plan.inventors), sent), daemon=True
            )
            for k in range(plan.inventors)
        ]
    for thread in threads:
        thread.start()
    samples = []
    while any(t.is_alive() for t in threads):
        time.sleep(min(5.0, max(0.1, deadline - time.monotonic())))
        if gateway is not None and (time.monotonic() < deadline or inventing.is_set()):
            samples.append(
                Reading(time.monotonic() - started, gateway.rss_kb(), gateway.fd_count())
            )
        if time.monotonic() > cap + 60:
            break
    for thread in threads:
        thread.join(60)
    return samples


def invented_name(i: int) -> str:
    """Nine in ten names the relay does not have; the tenth it answers."""
    return f"x-{i}" if i % 10 == 0 else f"x-no-such-{i}"


def _invent(port: int, numbers: range, sent: Tally, cap: float) -> None:
    """Send the names numbered `numbers` on one keep-alive connection (a new one after an
    error), one request each, non-streamed."""
    connection: http.client.HTTPConnection | None = None
    for i in numbers:
        if time.monotonic() > cap:
            return
        body = {
            "model": invented_name(i),
            "messages": [{"role": "user", "content": f"invented nonce={i:016x}"}],
        }
        connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request(
                "POST", "/v1/chat/completions", json.dumps(body),
                {"content-type": "application/json"},
            )  # fmt: skip
            response = connection.getresponse()
            response.read()
            sent.add(response.status)
        except (OSError, http.client.HTTPException):
            sent.add(None)
            connection.close()
            connection = None
    if connection is not None:
        connection.close()


class Dashboard:
    """An open dashboard: its event stream followed, and its state polled every second, on a
    thread of its own until the `with` ends. `snapshots` counts the snapshot events read."""

    POLL_S = 1.0

    def __init__(self, port: int, open_: bool = True) -> None:
        self.port = port
        self.open = open_  # False: no dashboard at all
        self.snapshots = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._follow, daemon=True),
            threading.Thread(target=self._poll, daemon=True),
        ]

    def __enter__(self) -> Dashboard:
        for thread in self._threads if self.open else []:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads if self.open else []:
            thread.join(30)

    def _follow(self) -> None:
        while not self._stop.is_set():
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
            try:
                connection.request("GET", "/dashboard/events")
                response = connection.getresponse()
                while not self._stop.is_set():
                    line = response.readline()
                    if not line:
                        break
                    if line.startswith(b"event: snapshot"):
                        self.snapshots += 1
            except (OSError, http.client.HTTPException):
                self._stop.wait(self.POLL_S)  # the gateway is busy or stopping: open again
            finally:
                connection.close()

    def _poll(self) -> None:
        while not self._stop.wait(self.POLL_S):
            try:
                _get_json(self.port, "/dashboard/state")
            except (OSError, http.client.HTTPException, ValueError):
                continue


def _get(port: int, path: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise http.client.HTTPException(f"GET {path}: {response.status}")
    return body


def _get_json(port: int, path: str) -> dict[str, Any]:
    data = json.loads(_get(port, path))
    assert isinstance(data, dict)
    return data


def _counts(port: int) -> dict[str, int]:
    """Series, marks and dashboard rows, as the gateway shows them."""
    series = [
        line for line in _get(port, "/metrics").decode().splitlines()
        if line and not line.startswith("#")
    ]  # fmt: skip
    state = _get_json(port, "/dashboard/state")
    rows = sum(len(route["paths"]) for route in state["routes"])
    rows += len(state["traffic"]["paths"])
    return {
        "series": len(series),
        "invented_series": sum('"relay/' in line for line in series),
        "marks": len(_get_json(port, "/turnout/paths")["paths"]),
        "rows": rows,
    }


def _one(port: int, rng: random.Random) -> int | None:
    anthropic = rng.random() < 0.5
    body = {
        "model": "m",
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
    rss, fds, sockets = gateway.rss_kb(), gateway.fd_count(), gateway.socket_count()
    return Reading(at_s, rss, fds, sockets, **_counts(gateway.port))
