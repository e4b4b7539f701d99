"""Bounded chaos load through a real `turnout serve`, and the checks on what came back.

    report = run_chaos(ChaosPlan(requests=600, seconds=120))
    print(report.summary())  # chaos: 600 requests, 0 failed, 0 truncated, 0 duplicated, ledger matches

Three upstreams on 127.0.0.1 (`chaos1` anthropic-kind and `chaos2` openai-kind roll faults,
`healthy` never does) behind one route `m: [chaos1, chaos2, healthy]`. Several threads send
requests with the real OpenAI and Anthropic SDKs (no SDK retries), streamed or not, each with a
fresh nonce, until the count or the time runs out. Then the checks:

- no client request fails, and every answer is exactly `answer_text(nonce)`: never truncated
  but presented as complete, never someone else's or doubled;
- x-request-ids are unique, and the ledger holds one row per request with the status the client
  saw and as many `ok` rows as complete answers;
- a retry after a 429 with Retry-After R reaches the same upstream at least R later, and no
  request makes more than `retries + 1` attempts at one path (upstream arrivals, ledger
  attempts and the `x-turnout-attempts` header all say so).
"""

from __future__ import annotations

import functools
import itertools
import os
import random
import sqlite3
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import openai
import yaml

from tests.chaos.farm_process import FarmProcess, FarmResult
from tests.chaos.full_disk import FLAG_ENV
from tests.chaos.upstream import SPACED, WHOLE, Arrival, Mix, answer_text
from tests.serving import GatewayProcess
from turnout.edge.resume import MAX_CONTINUATIONS

KEY = "${CHAOS_UPSTREAM_KEY}"  # keys in a config come from the environment
KEY_ENV = {"CHAOS_UPSTREAM_KEY": "sk-chaos-upstream"}
RETRY_AFTER_SLACK_S = 0.005  # timer granularity; a retry sooner than R minus this breaks R
#: Settings that are deadlines: stretched, with the faults' timings, on a slower machine.
DEADLINES = ("connect_timeout_s", "headers_timeout_s", "first_event_timeout_s", "read_timeout_s")
#: The most a busy machine stretches the deadlines (and the faults' timings) by.
MAX_PACE = 3.0
REPO = Path(__file__).resolve().parents[2]


def machine_pace() -> float:
    """How much slower than an idle machine this one runs now: runnable tasks per core (the
    one-minute load average), between 1 and MAX_PACE. Every deadline of the run and every
    timing of its faults is multiplied by it, so a fault that must beat a deadline (a slow
    answer) or miss it (a stall) still does, and a healthy upstream is never late by the
    machine's doing alone."""
    cores = os.cpu_count() or 1
    return max(1.0, min(MAX_PACE, os.getloadavg()[0] / cores))


@dataclass(frozen=True)
class ChaosPlan:
    requests: int = 600
    seconds: float = 120.0
    threads: int = 12
    seed: int = 1
    fault_scale: float = 1.0
    pace: float = 1.0  # see machine_pace()
    #: Every `disk_cycle` requests the ledger's disk is full for the middle third of them.
    disk_cycle: int = 300
    settings: dict[str, Any] = field(
        default_factory=lambda: {
            "retries": 2,
            "backoff_s": 0.02,
            "backoff_max_s": 0.1,
            "retry_after_max_s": 3,
            "cooldown_s": 0.5,
            "gate_s": 1,
            "connect_timeout_s": 2,
            "headers_timeout_s": 1,
            "first_event_timeout_s": 1,
            "read_timeout_s": 0.5,
            # Caps far above any honest answer here, far below what a hostile body sends.
            "max_response_bytes": 256 * 1024,
            "max_stream_bytes": 256 * 1024,
            "max_event_bytes": 64 * 1024,
        }
    )

    def gateway_settings(self) -> dict[str, Any]:
        return {
            name: value * self.pace if name in DEADLINES else value
            for name, value in self.settings.items()
        }

    def disk_full_at(self, request_no: int) -> bool:
        third = self.disk_cycle // 3
        return third <= request_no % self.disk_cycle < 2 * third


@dataclass
class Outcome:
    """One client request as the client saw it."""

    nonce: str
    dialect: str
    stream: bool
    status: int | None = None
    request_id: str | None = None
    attempts: str | None = None
    text: str = ""
    complete: bool = False  # the SDK saw a normal end (finish/stop reason), no error raised
    error: str | None = None
    elapsed_s: float = 0.0
    hang_up: bool = False  # the client hangs up after its first piece of a streamed answer

    @property
    def verdict(self) -> str:
        """ok | failed | truncated | duplicated | garbled | hung_up."""
        expected = answer_text(self.nonce)
        if self.hang_up and self.error is None and not self.complete:
            return "hung_up" if expected.startswith(self.text) else "garbled"
        if self.error is not None:
            return "failed"
        if self.text == expected and self.complete:
            return "ok"
        if expected.startswith(self.text):
            return "truncated"
        if self.text.count(self.nonce) > expected.count(self.nonce) or expected in self.text:
            return "duplicated"
        return "garbled"


@dataclass
class Report:
    plan: ChaosPlan
    outcomes: list[Outcome]
    arrivals: list[Arrival]
    ledger_rows: list[dict[str, Any]]
    ledger_attempts: list[tuple[str, int, str, str]]
    elapsed_s: float
    gateway_log: str = ""
    farm: FarmResult = field(default_factory=FarmResult)
    disk_fills: int = 0  # times the ledger's disk filled (and was freed again)
    rejected_lines: int = 0  # torn journal lines set aside

    def count(self, verdict: str) -> int:
        return sum(1 for o in self.outcomes if o.verdict == verdict)

    @property
    def duplicated(self) -> int:
        ids = Counter(o.request_id for o in self.outcomes if o.request_id)
        nonces = Counter(o.nonce for o in self.outcomes)
        repeated = sum(n - 1 for n in ids.values() if n > 1) + sum(
            n - 1 for n in nonces.values() if n > 1
        )
        return self.count("duplicated") + repeated

    def summary(self) -> str:
        ledger = "ledger matches" if not self.ledger_problems() else "ledger DIFFERS"
        line = (
            f"chaos: {len(self.outcomes)} requests, {self.count('failed')} failed, "
            f"{self.count('truncated')} truncated, {self.duplicated} duplicated, {ledger}"
        )
        if garbled := self.count("garbled"):
            line += f", {garbled} garbled"
        return line

    def faults(self) -> Counter[str]:
        """What the fault-rolling upstreams rolled (the healthy one only ever answers)."""
        return Counter(a.fault for a in self.arrivals if a.upstream != "healthy")

    def ledger_problems(self) -> list[str]:
        return check_ledger(self.outcomes, self.ledger_rows)

    def retry_problems(self) -> list[str]:
        retries = int(self.plan.settings["retries"])
        limit = float(self.plan.settings["retry_after_max_s"])
        return [
            *check_retry_after(self.arrivals, limit),
            *check_budget(self.arrivals, self.ledger_attempts, self.outcomes, retries),
        ]

    def served_twice(self) -> list[str]:
        """Nonces that upstreams answered whole more than once (first-hand, not continued):
        the gateway paid for an answer it threw away."""
        whole = Counter(
            a.nonce
            for a in self.arrivals
            if a.fault in WHOLE
            and (a.upstream, a.seq) in self.farm.whole
            and not a.continuation
            and a.nonce is not None
        )
        return [nonce for nonce, n in whole.items() if n > 1]

    def healthy_timeouts(self) -> int:
        """Tries at the healthy upstream that the gateway gave up on as too slow: in the
        ledger's attempts, and continuations (which only the log tells of)."""
        tries = sum(
            1
            for _, _, path, outcome in self.ledger_attempts
            if path.startswith("healthy/") and outcome == "timeout"
        )
        continuations = sum(
            "continuation on healthy/" in line and "timeout" in line for line in self.log_lines
        )
        return tries + continuations

    @functools.cached_property
    def log_lines(self) -> list[str]:
        return self.gateway_log.splitlines()

    def internal_errors(self) -> list[str]:
        """Log lines where the gateway reports a fault of its own."""
        return [line for line in self.log_lines if "internal error" in line or "Traceback" in line]

    def story(self, nonce: str, request_id: str | None) -> list[str]:
        """What the upstreams and the gateway's log saw of one request, to read a failure."""
        tries = [a for a in self.arrivals if a.nonce == nonce]
        start = tries[0].at if tries else 0.0
        lines = [
            f"    +{a.at - start:.3f}s {a.upstream} {a.fault}"
            + (" (continuation)" if a.continuation else "")
            for a in tries
        ]
        if request_id:
            lines += [f"    log: {line[:300]}" for line in self.log_lines if request_id in line]
        return lines

    def details(self) -> str:
        rate = len(self.outcomes) / self.elapsed_s if self.elapsed_s else 0.0
        mix = ", ".join(f"{k} {v}" for k, v in self.faults().most_common())
        upstream = Counter(a.upstream for a in self.arrivals)
        continued = sum(1 for a in self.arrivals if a.continuation)
        lines = [
            f"elapsed {self.elapsed_s:.1f} s, {rate:.1f} requests/s, {self.plan.threads} threads",
            f"upstream requests: {len(self.arrivals)} ({dict(upstream)}), {continued} continuations",
            f"fault mix rolled at chaos1 and chaos2: {mix}",
            f"gateway log: {len(self.gateway_log.splitlines())} lines, "
            f"{len(self.internal_errors())} internal errors",
            f"answers served whole twice upstream: {len(self.served_twice())}",
        ]
        gone = sum(1 for row in self.ledger_rows if row["outcome"] == "client_gone")
        lines.append(f"hung up: {self.count('hung_up')} clients, {gone} recorded client_gone")
        refused = sum("ledger journal" in line and "write" in line for line in self.log_lines)
        lines.append(
            f"ledger disk filled and freed {self.disk_fills} times: {refused} journal write "
            f"errors logged, {self.rejected_lines} torn lines set aside"
        )
        lines.append(
            f"the healthy upstream missed a gateway deadline {self.healthy_timeouts()} times "
            "(it never delays on purpose: each is the machine running slower than the deadlines)"
        )
        over = ", ".join(f"{n} over {bound:g} s" for bound, n in self.farm.lag_over.items())
        lines.append(
            f"pace x{self.plan.pace:.2f} (deadlines and fault timings); upstream loop woke "
            f"at worst {self.farm.worst_lag_s:.3f} s late ({over or 'not measured'})"
        )
        for verdict in ("failed", "truncated", "duplicated", "garbled"):
            for outcome in [o for o in self.outcomes if o.verdict == verdict][:5]:
                lines.append(f"  {verdict}: {outcome}")
                lines += self.story(outcome.nonce, outcome.request_id)
        for nonce in self.served_twice()[:5]:
            twice = next((o for o in self.outcomes if o.nonce == nonce), None)
            lines.append(f"  served twice: {twice}")
            lines += self.story(nonce, twice.request_id if twice is not None else None)
        lines += [f"  problem: {p}" for p in (self.ledger_problems() + self.retry_problems())[:20]]
        return "\n".join(lines)


def gateway_config(plan: ChaosPlan, farm: FarmProcess, ledger: Path) -> dict[str, Any]:
    return {
        "ledger": str(ledger),
        "defaults": plan.gateway_settings(),
        "providers": {
            "chaos1": {"kind": "anthropic", "base_url": farm.url("chaos1"), "api_key": KEY},
            "chaos2": {"kind": "openai", "base_url": farm.url("chaos2") + "/v1", "api_key": KEY},
            "healthy": {"kind": "anthropic", "base_url": farm.url("healthy"), "api_key": KEY},
        },
        "routes": {"m": ["chaos1/model-a", "chaos2/model-b", "healthy/model-c"]},
    }


@contextmanager
def chaos_gateway(
    plan: ChaosPlan, workdir: Path
) -> Iterator[tuple[FarmProcess, GatewayProcess, Disk]]:
    mixes = {
        "chaos1": Mix.hostile(plan.fault_scale).scaled(plan.pace),
        "chaos2": Mix.hostile(plan.fault_scale).scaled(plan.pace),
        "healthy": Mix.none(),
    }
    disk = Disk(workdir / "disk-full")
    with FarmProcess(mixes, seed=plan.seed) as farm:
        config_path = workdir / "turnout.yaml"
        config = gateway_config(plan, farm, workdir / "ledger.sqlite3")
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        # The real command, its journal on a disk this run fills and frees (tests.chaos.full_disk)
        env = {**KEY_ENV, FLAG_ENV: str(disk.flag), "PYTHONPATH": str(REPO)}
        with (
            (workdir / "gateway.log").open("wb") as log,
            GatewayProcess(
                config_path, env=env, log=log, module="tests.chaos.full_disk"
            ) as gateway,
        ):
            yield farm, gateway, disk


class Disk:
    """The ledger's disk as the run sees it: full while `flag` exists."""

    def __init__(self, flag: Path) -> None:
        self.flag = flag
        self.fills = 0
        self._lock = threading.Lock()

    def set_full(self, full: bool) -> None:
        with self._lock:
            if full and not self.flag.exists():
                self.flag.touch()
                self.fills += 1
            elif not full:
                self.flag.unlink(missing_ok=True)


def run_chaos(plan: ChaosPlan) -> Report:
    with tempfile.TemporaryDirectory(prefix="turnout-chaos-") as scratch:
        workdir = Path(scratch)
        with chaos_gateway(plan, workdir) as (farm, gateway, disk):
            started = time.monotonic()
            outcomes = drive(gateway.url, plan, disk)
            elapsed = time.monotonic() - started
            disk.set_full(False)
            time.sleep(FREED_GRACE_S)  # the writer finds room and writes what waited
            gateway.stop()  # the graceful stop stores what the ledger journaled
            result = farm.stop()
        rows, attempts = read_ledger(workdir / "ledger.sqlite3")
        log = (workdir / "gateway.log").read_text(errors="replace")
        rejected = sum(len(path.read_bytes().splitlines()) for path in workdir.glob("*.rejected"))
    return Report(
        plan, outcomes, result.arrivals, rows, attempts, elapsed, log, result, disk.fills, rejected
    )


#: After the disk is freed, time for the ledger writer's next round (it runs every 0.25 s);
#: the graceful stop writes whatever still waits in any case.
FREED_GRACE_S = 1.0


def drive(url: str, plan: ChaosPlan, disk: Disk | None = None) -> list[Outcome]:
    """Send up to `plan.requests` requests from `plan.threads` threads, for at most
    `plan.seconds`; every request started is waited for (each has a client timeout). The
    ledger's `disk` fills and frees as the plan says, by the count of requests sent."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    issued = 0
    deadline = time.monotonic() + plan.seconds

    def claim() -> bool:
        nonlocal issued
        with lock:
            if issued >= plan.requests or time.monotonic() > deadline:
                return False
            if disk is not None:
                disk.set_full(plan.disk_full_at(issued))
            issued += 1
            return True

    def worker(index: int) -> None:
        rng = random.Random(f"{plan.seed}:client:{index}")
        with (
            openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=30) as oa,
            anthropic.Anthropic(base_url=url, api_key="x", max_retries=0, timeout=30) as an,
        ):
            while claim():
                dialect, stream = rng.choice(DIALECTS), rng.random() < 0.5
                hang_up = stream and rng.random() < HANG_UP_RATE
                outcome = one_request(oa, an, dialect, stream, hang_up)
                with lock:
                    outcomes.append(outcome)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(plan.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(plan.seconds + 60)
    return outcomes


#: Streamed requests whose client hangs up after the first piece of the answer.
HANG_UP_RATE = 0.03


#: The client wires: Chat and Messages, and Responses (always translated: no chaos upstream
#: speaks it, so its answers and its continuations cross the hub).
DIALECTS = ("openai", "anthropic", "responses")


def one_request(
    oa: openai.OpenAI, an: anthropic.Anthropic, dialect: str, stream: bool, hang_up: bool = False
) -> Outcome:
    outcome = Outcome(uuid.uuid4().hex[:16], dialect, stream, hang_up=hang_up)
    prompt = f"Answer with your token. nonce={outcome.nonce}"
    if hang_up:  # a sound stream is then still being written when the client goes
        prompt += " " + SPACED.decode()
    started = time.monotonic()
    try:
        if dialect == "openai":
            _openai(oa, prompt, outcome)
        elif dialect == "responses":
            _responses(oa, prompt, outcome)
        else:
            _anthropic(an, prompt, outcome)
    except (openai.APIStatusError, anthropic.APIStatusError) as exc:
        outcome.status = exc.status_code
        outcome.request_id = outcome.request_id or exc.response.headers.get("x-request-id")
        outcome.error = f"{type(exc).__name__}: {str(exc)[:300]}"
    except (openai.APIError, anthropic.APIError) as exc:  # an error event or a broken stream
        outcome.error = f"{type(exc).__name__}: {str(exc)[:300]}"
    outcome.elapsed_s = time.monotonic() - started
    return outcome


def _note_headers(outcome: Outcome, status: int, headers: Any) -> None:
    outcome.status = status
    outcome.request_id = headers.get("x-request-id")
    outcome.attempts = headers.get("x-turnout-attempts")


def _openai(client: openai.OpenAI, prompt: str, outcome: Outcome) -> None:
    messages: Any = [{"role": "user", "content": prompt}]
    if not outcome.stream:
        raw = client.chat.completions.with_raw_response.create(model="m", messages=messages)
        _note_headers(outcome, raw.http_response.status_code, raw.headers)
        completion = raw.parse()
        outcome.text = completion.choices[0].message.content or ""
        outcome.complete = completion.choices[0].finish_reason == "stop"
        return
    raw_stream = client.chat.completions.with_raw_response.create(
        model="m", messages=messages, stream=True
    )
    _note_headers(outcome, raw_stream.http_response.status_code, raw_stream.headers)
    chunks = raw_stream.parse()
    for chunk in chunks:
        for choice in chunk.choices:
            outcome.text += choice.delta.content or ""
            if choice.finish_reason is not None:
                outcome.complete = choice.finish_reason == "stop"
        if outcome.hang_up and outcome.text and not outcome.complete:
            chunks.close()  # the client hangs up mid-answer
            return


def _responses(client: openai.OpenAI, prompt: str, outcome: Outcome) -> None:
    if not outcome.stream:
        raw = client.responses.with_raw_response.create(model="m", input=prompt)
        _note_headers(outcome, raw.http_response.status_code, raw.headers)
        response = raw.parse()
        outcome.text = response.output_text
        outcome.complete = response.status == "completed"
        return
    raw_stream = client.responses.with_raw_response.create(model="m", input=prompt, stream=True)
    _note_headers(outcome, raw_stream.http_response.status_code, raw_stream.headers)
    events = raw_stream.parse()
    for event in events:
        if event.type == "response.output_text.delta":
            outcome.text += event.delta
            if outcome.hang_up:
                events.close()  # the client hangs up mid-answer
                return
        elif event.type == "response.completed":
            outcome.complete = event.response.status == "completed"
        elif event.type == "error":  # the SDK yields a stream's error event; it does not raise
            outcome.error = f"error event: {event.code}: {event.message[:300]}"
        elif event.type == "response.failed" and outcome.error is None:
            outcome.error = "response.failed"


def _anthropic(client: anthropic.Anthropic, prompt: str, outcome: Outcome) -> None:
    messages: Any = [{"role": "user", "content": prompt}]
    if not outcome.stream:
        raw = client.messages.with_raw_response.create(model="m", max_tokens=200, messages=messages)
        _note_headers(outcome, raw.http_response.status_code, raw.headers)
        message = raw.parse()
        outcome.text = "".join(b.text for b in message.content if b.type == "text")
        outcome.complete = message.stop_reason == "end_turn"
        return
    raw_stream = client.messages.with_raw_response.create(
        model="m", max_tokens=200, messages=messages, stream=True
    )
    _note_headers(outcome, raw_stream.http_response.status_code, raw_stream.headers)
    stop_reason = None
    events = raw_stream.parse()
    for event in events:
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            outcome.text += event.delta.text
            if outcome.hang_up:
                events.close()  # the client hangs up mid-answer
                return
        elif event.type == "message_delta":
            stop_reason = event.delta.stop_reason
        elif event.type == "message_stop":
            outcome.complete = stop_reason == "end_turn"


def read_ledger(path: Path) -> tuple[list[dict[str, Any]], list[tuple[str, int, str, str]]]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM requests")]
        attempts = [
            (r[0], r[1], r[2], r[3])
            for r in conn.execute("SELECT request_id, seq, path, outcome FROM attempts")
        ]
    return rows, attempts


def check_ledger(outcomes: list[Outcome], rows: list[dict[str, Any]]) -> list[str]:
    problems = []
    if len(rows) != len(outcomes):
        problems.append(f"ledger has {len(rows)} requests, clients made {len(outcomes)}")
    by_id = {row["id"]: row for row in rows}
    for outcome in outcomes:
        row = by_id.get(outcome.request_id or "")
        if row is None:
            problems.append(f"no ledger row for {outcome.request_id} ({outcome.verdict})")
        elif outcome.verdict == "hung_up":
            # Recorded as gone, or as served when the answer was whole before the hang-up
            # reached the gateway; never as failed.
            if row["outcome"] not in ("client_gone", "ok"):
                problems.append(f"{outcome.request_id}: hung up, ledger says {row['outcome']}")
        elif outcome.status is not None and row["status"] != outcome.status:
            problems.append(
                f"{outcome.request_id}: client saw {outcome.status}, ledger says {row['status']}"
            )
        elif outcome.verdict == "ok" and row["outcome"] != "ok":
            problems.append(
                f"{outcome.request_id}: complete answer, ledger outcome {row['outcome']}"
            )
    hung_up = {o.request_id for o in outcomes if o.verdict == "hung_up"}
    ok_rows = sum(1 for row in rows if row["outcome"] == "ok" and row["id"] not in hung_up)
    ok_seen = sum(1 for o in outcomes if o.verdict == "ok")
    if ok_rows != ok_seen:
        problems.append(f"ledger has {ok_rows} ok requests, clients got {ok_seen} complete answers")
    return problems


def check_retry_after(arrivals: list[Arrival], retry_after_max_s: float) -> list[str]:
    """The next try of the same request at the same upstream after a 429 with Retry-After R
    (R within the gateway's `retry_after_max_s`) comes at least R later."""
    problems = []
    for (nonce, upstream), tries in _tries(arrivals).items():
        for first, second in itertools.pairwise(tries):
            wait = first.retry_after_s
            if wait is None or wait > retry_after_max_s:
                continue
            gap = second.at - first.at
            if gap < wait - RETRY_AFTER_SLACK_S:
                problems.append(
                    f"{nonce} at {upstream}: retried {gap:.3f} s after Retry-After {wait}"
                )
    return problems


def check_budget(
    arrivals: list[Arrival],
    ledger_attempts: list[tuple[str, int, str, str]],
    outcomes: list[Outcome],
    retries: int,
) -> list[str]:
    """At most retries + 1 tries of one path per client request, by every account."""
    problems = []
    for (nonce, upstream), tries in _tries(arrivals).items():
        if len(tries) > retries + 1:
            problems.append(f"{nonce}: {len(tries)} requests reached {upstream}")
    trails: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for request_id, seq, path, result in ledger_attempts:
        trails[request_id].append((seq, path, result))
    for request_id, rows in trails.items():
        steps = [(path, result) for _, path, result in sorted(rows)]
        walks = _walks(steps)
        told = " -> ".join(f"{path}:{result}" for path, result in steps)
        if len(walks) > 1 + MAX_CONTINUATIONS:
            problems.append(f"ledger: {request_id} continued {len(walks) - 1} times")
        problems += [
            f"ledger: {request_id} tried {path} {n} times in one walk of the route ({told})"
            for walk in walks
            for path, n in walk.items()
            if n > retries + 1
        ]
    for outcome in outcomes:
        trail = Counter(
            step.split(":")[0]
            for step in (outcome.attempts or "").split(" -> ")
            if step and ":skipped" not in step
        )
        problems += [
            f"header: {outcome.request_id} tried {path} {n} times"
            for path, n in trail.items()
            if n > retries + 1
        ]
    return problems


def _walks(trail: list[tuple[str, str]]) -> list[Counter[str]]:
    """A request's ledger attempts as walks of its route, with the tries of each path: the
    first walk up to the path that served it; after a stream broke, one walk per
    continuation, up to the path that continued it. The path a stream broke on had its try
    in that stream, so it counts once more in the next walk (it continues only with a retry
    left)."""
    walks: list[Counter[str]] = [Counter()]
    for path, outcome in trail:
        if outcome.startswith("skipped") or outcome == "deferred":
            continue  # noted, not tried
        walks[-1][path] += 1
        if outcome == "ok":
            walks.append(Counter({path: 1}))
    if len(walks) > 1 and sum(walks[-1].values()) == 1:
        walks.pop()  # the last path served it and nothing broke after
    return walks


def _tries(arrivals: list[Arrival]) -> dict[tuple[str, str], list[Arrival]]:
    """First-hand tries (not continuations) per (nonce, upstream), in arrival order."""
    grouped: dict[tuple[str, str], list[Arrival]] = defaultdict(list)
    for arrival in arrivals:
        if arrival.nonce is not None and not arrival.continuation:
            grouped[(arrival.nonce, arrival.upstream)].append(arrival)
    return grouped
