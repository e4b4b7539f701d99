"""`/metrics` from a real gateway driven by the real SDKs, and the structured logs beside it."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.clients import Clients
from tests.fakes import Fail, Reply, RunningUpstream
from tests.gateway import RunningGateway, gateway_over, request, running_gateway
from turnout.ledger.keys import KeyStore
from turnout.ledger.ledger import Ledger
from turnout.ledger.record import AttemptRecord, RequestRecord
from turnout.ledger.store import migrate, open_database
from turnout.runtime.gateway import Gateway, Shared
from turnout.telemetry.logs import REQUEST_ID, JsonFormatter, redact, setup_logging
from turnout.telemetry.metrics import Telemetry

PRIMARY_KEY = "sk-planted-primary-5f1c9a7e2b"
BACKUP_KEY = "sk-planted-backup-8d3e6b0a41"
ADMIN_KEY = "admin-planted-3c9f0e7d"
ENV = {"PRIMARY_KEY": PRIMARY_KEY, "BACKUP_KEY": BACKUP_KEY, "ADMIN_KEY": ADMIN_KEY}
QUOTA = '{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}'
BAD_REQUEST = '{"error":{"message":"Unsupported parameter: foo","type":"invalid_request_error","code":"unsupported_parameter"}}'
#: Some relays echo the whole key they were sent; turnout must not pass it on.
ECHOED_KEY = (
    '{"error":{"message":"Incorrect API key provided: '
    + PRIMARY_KEY
    + '","type":"invalid_request_error","code":"invalid_api_key"}}'
)


@dataclass
class Scene:
    gateway: RunningGateway
    primary: RunningUpstream
    backup: RunningUpstream
    strict: RunningUpstream
    ledger: Path
    key: str  # a gateway key's secret


@contextmanager
def scene(tmp_path: Path) -> Iterator[Scene]:
    """Route `m`: primary then backup (backup has a path budget); route `strict`: one path.
    A gateway key with a budget exists, so the operator's views need the admin key."""
    ledger = tmp_path / "ledger.sqlite3"
    db = open_database(str(ledger))
    migrate(db)
    _, secret = KeyStore(db).create("ci-bot", budget_usd=10.0, budget_period="day")
    db.close()
    with gateway_over(
        "openai", "openai", "openai",
        names=["primary", "backup", "strict"], defaults={"read_timeout_s": 2},
        routes={"m": ["primary/gpt-4o", "backup/gpt-4o-mini"], "strict": ["strict/gpt-4o"]},
        per_path=[
            {"api_key": "${PRIMARY_KEY}"},
            {"api_key": "${BACKUP_KEY}", "budget": {"usd": 5, "period": "day"}},
            {"api_key": "${BACKUP_KEY}"},
        ],
        extra={"ledger": str(ledger), "server": {"admin_key": "${ADMIN_KEY}"}},
        env=ENV,
    ) as (gateway, [primary, backup, strict]):  # fmt: skip
        yield Scene(gateway, primary, backup, strict, ledger, secret)


def drive(s: Scene, clients: Clients, first_failure: str = QUOTA) -> None:
    """One failover (primary gated), three more on backup, one request that fails outright."""
    s.primary.script(Fail(429 if first_failure == QUOTA else 401, first_failure))
    s.backup.script(Reply(text="from backup", usage=(20, 7)))
    s.strict.script(Fail(400, BAD_REQUEST))
    openai_client = clients.openai(s.gateway.url, key=s.key)
    messages: Any = [{"role": "user", "content": "hi"}]
    raw = openai_client.chat.completions.with_raw_response.create(model="m", messages=messages)
    assert raw.headers["x-turnout-attempts"].startswith("primary:")
    assert raw.headers["x-turnout-path"] == "backup/gpt-4o-mini"
    for _ in range(2):
        openai_client.chat.completions.create(model="m", messages=messages)
    anthropic_client = clients.anthropic(s.gateway.url, key=s.key)
    anthropic_client.messages.create(model="m", max_tokens=20, messages=messages)
    with pytest.raises(Exception, match="Unsupported parameter"):
        openai_client.chat.completions.create(model="strict", messages=messages)


def scrape(url: str) -> tuple[str, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    reply = request(url, "GET", "/metrics", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert reply.headers["x-request-id"]
    text = reply.body.decode()
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return text, samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_what_was_sent(tmp_path: Path, clients: Clients) -> None:
    with scene(tmp_path) as s:
        drive(s, clients)
        text, samples = scrape(s.gateway.url)
        refused = request(s.gateway.url, "GET", "/metrics", headers={"x-api-key": s.key})
    assert refused.status == 401
    assert refused.headers["x-request-id"]
    requests = "turnout_requests_total"
    assert value(samples, requests, route="m", path="backup/gpt-4o-mini", category="ok") == 4
    assert value(samples, requests, route="strict", path="none", category="invalid_request") == 1
    assert sum(v for (name, _), v in samples.items() if name == requests) == 5
    attempts = "turnout_attempts_total"
    assert value(samples, attempts, route="m", path="primary/gpt-4o", outcome="quota") == 1
    assert value(samples, attempts, route="m", path="primary/gpt-4o", outcome="skipped") == 3
    assert value(samples, attempts, route="m", path="backup/gpt-4o-mini", outcome="ok") == 4
    assert value(samples, "turnout_overhead_seconds_count", route="m") == 4
    assert value(samples, "turnout_upstream_seconds_count", route="m") == 4
    assert value(samples, "turnout_overhead_seconds_bucket", route="m", le="+Inf") == 4
    assert value(samples, "turnout_path_state", path="primary/gpt-4o") == 2
    assert value(samples, "turnout_path_state", path="backup/gpt-4o-mini") == 0
    assert value(samples, "turnout_path_state", path="strict/gpt-4o") == 0
    assert_usage_matches_ledger(samples, s.ledger)
    for secret in (PRIMARY_KEY, BACKUP_KEY, ADMIN_KEY, s.key):
        assert secret not in text


def assert_usage_matches_ledger(samples: dict[Any, float], ledger: Path) -> None:
    """Tokens and dollars per path and key name equal the ledger's sums; budgets left too."""
    with sqlite3.connect(ledger) as db:
        rows = db.execute(
            "SELECT r.path, k.name, SUM(tokens_in), SUM(tokens_out), SUM(tokens_cached), "
            "SUM(cost_usd) FROM requests r JOIN gateway_keys k ON k.id = r.key_id "
            "WHERE r.path IS NOT NULL GROUP BY 1, 2"
        ).fetchall()
    assert rows == [("backup/gpt-4o-mini", "ci-bot", 80, 28, 0, pytest.approx(rows[0][5]))]
    path, key, tokens_in, tokens_out, cached, cost = rows[0]
    assert cost > 0
    for kind, expected in (("in", tokens_in), ("out", tokens_out), ("cached", cached)):
        assert value(samples, "turnout_tokens_total", path=path, key=key, kind=kind) == expected
    assert value(samples, "turnout_cost_usd_total", path=path, key=key) == pytest.approx(cost)
    left = value(samples, "turnout_key_budget_remaining_usd", key="ci-bot")
    assert left == pytest.approx(10.0 - cost)
    left = value(samples, "turnout_provider_budget_remaining_usd", provider="backup")
    assert left == pytest.approx(5.0 - cost)


def test_secrets_stay_out_of_logs_metrics_and_the_dashboard(
    tmp_path: Path, clients: Clients
) -> None:
    """The primary answers with an error that echoes its key; nothing turnout shows or logs
    may carry it, nor the gateway key or the admin key."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = setup_logging("debug", stream)
    try:
        with scene(tmp_path) as s:
            drive(s, clients, first_failure=ECHOED_KEY)
            text, _ = scrape(s.gateway.url)
            state = request(
                s.gateway.url, "GET", "/dashboard/state", headers={"x-api-key": ADMIN_KEY}
            )
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert state.status == 200
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    served = [line for line in lines if line["logger"] == "turnout.relay"]
    assert served
    assert all(line["request_id"] for line in served)
    ours = [line for line in lines if line["logger"].startswith(("turnout", "uvicorn"))]
    shown = "\n".join([text, state.body.decode(), json.dumps(ours)])
    for secret in (PRIMARY_KEY, BACKUP_KEY, ADMIN_KEY, s.key):
        assert secret not in shown


def test_the_json_formatter_writes_one_object_per_line() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord(
        "turnout.relay", logging.WARNING, __file__, 1, "%s done", ("r1",), None
    )
    record.path = "primary/gpt-4o"  # as `extra=` would set it
    token = REQUEST_ID.set("req-42")
    try:
        line = formatter.format(record)
    finally:
        REQUEST_ID.reset(token)
    entry = json.loads(line)
    assert "\n" not in line
    assert set(entry) == {"ts", "level", "logger", "message", "request_id", "path"}
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "warning",
        "turnout.relay",
        "r1 done",
    )
    assert entry["request_id"] == "req-42"
    assert entry["path"] == "primary/gpt-4o"
    assert entry["ts"].endswith("+00:00")


def test_an_exception_and_a_key_in_a_message_are_masked() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError(f"upstream said: bad key {PRIMARY_KEY}")
    except ValueError:
        record = logging.LogRecord(
            "turnout.server",
            logging.ERROR,
            __file__,
            1,
            "failed with Bearer %s",
            (BACKUP_KEY,),
            sys.exc_info(),
        )
    entry = json.loads(formatter.format(record))
    assert PRIMARY_KEY not in entry["exc"]
    assert "ValueError" in entry["exc"]
    assert BACKUP_KEY not in entry["message"]
    assert entry["request_id"] is None
    assert redact("key tk-AbCdEf0123456789xyz") == "key tk-AbCdE****"


def test_the_human_format_is_used_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    root, level = logging.getLogger(), logging.getLogger().level
    handler = setup_logging("info", stream)
    try:
        logging.getLogger("turnout.test").info("hello %s", PRIMARY_KEY)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    line = stream.getvalue().strip()
    assert " INFO turnout.test hello sk-plant****" in line
    assert not line.startswith("{")


def _record(i: int) -> RequestRecord:
    return RequestRecord(
        id=f"r{i}", ts=time.time(), model="m", route="m", client_dialect="openai", stream=False,
        status=200, outcome="ok", key_id="k1", path="backup/gpt-4o-mini", provider="backup",
        tokens_in=100, tokens_out=20, tokens_cached=5, cost_usd=0.001, latency_ms=120.0,
        overhead_ms=0.4,
        attempts=[AttemptRecord("primary/gpt-4o", "quota", "insufficient_quota"),
                  AttemptRecord("backup/gpt-4o-mini", "ok")],
    )  # fmt: skip


def test_an_open_dashboard_is_woken_by_each_record_and_every_record_counts() -> None:
    telemetry = Telemetry()
    listener = telemetry.listen()  # a dashboard is open
    for i in range(5000):
        telemetry.observe(_record(i))
    assert listener.is_set()
    assert telemetry.counts.requests[("m", "backup/gpt-4o-mini", "ok")] == 5000
    assert len(telemetry.recent) == 5000


def test_metrics_count_with_the_ledger_off(clients: Clients) -> None:
    """The counters hear the record bus, not the ledger: `ledger: off` still counts."""
    with RunningUpstream() as upstream:
        config = {
            "ledger": "off",
            "providers": {
                "p": {
                    "kind": "openai",
                    "base_url": upstream.url + "/v1",
                    "api_key": "${PRIMARY_KEY}",
                }
            },
            "routes": {"m": ["p/gpt-4o"]},
        }
        upstream.script(Reply(text="hello", usage=(11, 3)))
        with running_gateway(yaml.safe_dump(config), env=ENV) as gateway:
            assert gateway.gateway.ledger is None
            messages: Any = [{"role": "user", "content": "hi"}]
            clients.openai(gateway.url).chat.completions.create(model="m", messages=messages)
            _, samples = scrape(gateway.url)
    assert value(samples, "turnout_requests_total", route="m", path="p/gpt-4o", category="ok") == 1
    assert value(samples, "turnout_tokens_total", path="p/gpt-4o", key="none", kind="in") == 11


def test_counts_survive_a_config_reload(tmp_path: Path) -> None:
    """A reload builds a new Gateway over the same Shared: the counts carry over."""
    from turnout.runtime.configs import load_config_text

    config = load_config_text("providers: {p: {kind: mock}}\nroutes: {m: [p/x]}\n", "<test>", {})
    ledger = Ledger(str(tmp_path / "ledger.sqlite3"), "test")
    first = Gateway.build(config, Shared(ledger=ledger))
    first.shared.records.publish(_record(1))
    second = Gateway.build(config, shared=first.shared)
    second.shared.records.publish(_record(2))
    assert second.shared.telemetry is first.shared.telemetry
    assert sum(second.shared.telemetry.counts.requests.values()) == 2
    ledger.journal.close()
    ledger.store.db.close()
