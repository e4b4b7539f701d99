"""`turnout usage` as a user runs it: a real process reading a real ledger, SQLite or PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gateway import request, running_gateway
from tests.test_ledger import postgres_url  # noqa: F401  (the fixture, for the PostgreSQL run)
from turnout.ledger.record import AttemptRecord, RequestRecord
from turnout.ledger.store import LedgerStore, migrate, open_database
from turnout.runtime.configs import load_config

RUN_TIMEOUT_S = 60
HOUR = 3600.0
DAY = 86400.0
SONNET = "claude-sonnet-4-6"
GATE_TITLE_EN = "Subscription extra usage used up for this client"
GATE_ACTION_EN = "Enable or buy extra usage at claude.ai/settings/usage"
GATE_TITLE_ZH = "订阅的额外用量(extra usage)已用完"


def ok(now: float, rid: str, ago: float, model: str, path: str, **usage: Any) -> RequestRecord:
    provider = path.split("/")[0]
    return RequestRecord(
        id=rid,
        ts=now - ago,
        model=model,
        route=model,
        client_dialect="openai",
        stream=False,
        status=200,
        outcome="ok",
        path=path,
        provider=provider,
        upstream_model=path.split("/")[1],
        upstream_dialect="openai",
        attempts=usage.pop("attempts", None) or [AttemptRecord(path, "ok")],
        **usage,
    )


def failed(
    now: float, rid: str, ago: float, model: str, status: int, code: str, category: str,
    **rest: Any,
) -> RequestRecord:  # fmt: skip
    return RequestRecord(
        id=rid,
        ts=now - ago,
        model=model,
        route=model,
        client_dialect="anthropic",
        stream=True,
        status=status,
        outcome=code,
        category=category,
        **rest,
    )


def week_of_traffic(now: float) -> list[RequestRecord]:
    """A week of traffic before `now`, plus one request from before it."""
    return [
    ok(
        now, "r1", 1 * HOUR, SONNET, f"backup/{SONNET}", key_id="k1", tokens_in=1000,
        tokens_cached=200, tokens_out=300, cost_usd=0.012, latency_ms=900.0,
        attempts=[
            AttemptRecord(f"claude-sub/{SONNET}", "quota", "subscription_usage_gate"),
            AttemptRecord(f"backup/{SONNET}", "ok"),
        ],
    ),
    failed(
        now, "r2", 2 * HOUR, SONNET, 400, "subscription_usage_gate", "quota", key_id="k1",
        latency_ms=120.0,
        attempts=[AttemptRecord(f"claude-sub/{SONNET}", "quota", "subscription_usage_gate")],
    ),
    ok(
        now, "r3", 1 * DAY + HOUR, "gpt-4o", "openai/gpt-4o", key_id="k2", tokens_in=500,
        tokens_cached=100, tokens_out=50, cost_usd=0.003, latency_ms=400.0,
    ),
    failed(
        now, "r4", 2 * DAY, "gpt-4o", 429, "rate_limited", "rate_limit", latency_ms=2000.0,
        attempts=[
            AttemptRecord("openai/gpt-4o", "rate_limit", "rate_limited"),
            AttemptRecord("relay/gpt-4o", "rate_limit", "rate_limited"),
        ],
    ),
    ok(
        now, "r5", 3 * DAY, SONNET, f"backup/{SONNET}", tokens_in=2000, tokens_out=700,
        cost_usd=0.02, latency_ms=1500.0,
    ),
    ok(
        now, "r6", 10 * DAY, SONNET, f"backup/{SONNET}", key_id="k1", tokens_in=9000,
        tokens_out=900, cost_usd=1.0, latency_ms=700.0,
    ),
]  # fmt: skip


def fill(location: str, records: list[RequestRecord], now: float) -> None:
    """A migrated ledger holding `records` and one named gateway key (k1 is "alice")."""
    db = open_database(location)
    migrate(db)
    LedgerStore(db).store(records, "test", 0)
    with db.transaction() as run:
        run(
            "INSERT INTO gateway_keys (id, name, key_hash, prefix, created, routes) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            ("k1", "alice", "hash-1", "tk-al", now - 30 * DAY, "[]"),
        )
    db.close()


def write_config(tmp_path: Path, ledger: str) -> Path:
    path = tmp_path / "turnout.yaml"
    text = {"ledger": ledger, "providers": {"m": {"kind": "mock"}}, "routes": {"x": ["m/x"]}}
    path.write_text(yaml.safe_dump(text), encoding="utf-8")
    return path


def usage(
    config: Path, *args: str, lang: str = "C.UTF-8", tz: str = "UTC"
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "TURNOUT_"))}
    env.update(TZ=tz, LANG=lang, PYTHONIOENCODING="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "turnout", "usage", "--config", str(config), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def usage_json(config: Path, *args: str, tz: str = "UTC") -> dict[str, Any]:
    done = usage(config, "--json", *args, tz=tz)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def day_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


@dataclass
class Filled:
    """A config whose ledger holds a week of traffic, dated from `now` (when it was filled:
    the report's own "now" comes later, by at most how long the test takes)."""

    config: Path
    now: float
    records: list[RequestRecord]

    @property
    def in_week(self) -> list[RequestRecord]:
        return [r for r in self.records if r.ts >= self.now - 7 * DAY]


@pytest.fixture(params=["sqlite", "postgresql"])
def filled(request: pytest.FixtureRequest, tmp_path: Path) -> Filled:
    """A SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        location = str(tmp_path / "ledger.sqlite3")
    else:
        location = request.getfixturevalue("postgres_url")
    now = time.time()
    records = week_of_traffic(now)
    fill(location, records, now)
    return Filled(write_config(tmp_path, location), now, records)


@pytest.fixture
def config(filled: Filled) -> Path:
    return filled.config


def test_totals_cover_the_last_week_by_default(filled: Filled) -> None:
    before = time.time()
    report = usage_json(filled.config)
    after = time.time()
    in_week = filled.in_week
    assert report["by"] == "day"
    assert report["totals"] == {
        "requests": 5,
        "failed": 2,
        "tokens_in": sum(r.tokens_in + r.tokens_cached for r in in_week),
        "tokens_out": 1050,
        "tokens_cached": 300,
        "cost_usd": pytest.approx(0.035),
        "p50_latency_ms": 900.0,
    }
    # A week before the moment the command ran, whenever that was.
    since = datetime.fromisoformat(report["since"]).timestamp()
    assert before - 7 * DAY - 1 <= since <= after - 7 * DAY + 1  # ISO text keeps whole seconds


def test_groups_by_day_in_order(filled: Filled) -> None:
    groups = usage_json(filled.config, "--by", "day")["groups"]
    days = sorted({day_of(r.ts) for r in filled.in_week})
    assert [g["group"] for g in groups] == days
    for group in groups:
        mine = [r for r in filled.in_week if day_of(r.ts) == group["group"]]
        assert group["requests"] == len(mine)
        assert group["cost_usd"] == pytest.approx(sum(r.cost_usd for r in mine))
    assert set(groups[0]) == {
        "group", "requests", "failed", "tokens_in", "tokens_out", "tokens_cached", "cost_usd",
        "p50_latency_ms",
    }  # fmt: skip


def test_days_are_local_days_in_a_zone_a_quarter_hour_off_the_hour(tmp_path: Path) -> None:
    """Days are folded from quarter hours: 5:45 ahead of UTC, two requests half a second
    apart around local midnight fall on two days, with their own sums."""
    ledger = tmp_path / "ledger.sqlite3"
    now = time.time()
    day = datetime.fromtimestamp(now, UTC).date() - timedelta(days=2)
    midnight = datetime(day.year, day.month, day.day, 18, 15, tzinfo=UTC).timestamp()
    fill(str(ledger), [
        ok(midnight, "before", 0.5, "m", "p/m", cost_usd=0.25, latency_ms=100.0),
        ok(midnight, "after", 0.0, "m", "p/m", cost_usd=0.5, latency_ms=300.0),
    ], now)  # fmt: skip
    report = usage_json(write_config(tmp_path, str(ledger)), "--by", "day", tz="<+0545>-5:45")
    groups = {
        g["group"]: (g["requests"], g["cost_usd"], g["p50_latency_ms"]) for g in report["groups"]
    }
    after = (day + timedelta(days=1)).isoformat()
    assert groups == {day.isoformat(): (1, 0.25, 100.0), after: (1, 0.5, 300.0)}


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("key", {"alice": (2, 1), "k2": (1, 0), "(no key)": (2, 1)}),
        ("path", {f"backup/{SONNET}": (2, 0), "openai/gpt-4o": (1, 0), "(none)": (2, 2)}),
        ("model", {SONNET: (3, 1), "gpt-4o": (2, 1)}),
        ("category", {"ok": (3, 0), "quota": (1, 1), "rate_limit": (1, 1)}),
    ],
)
def test_groups_by_column(config: Path, by: str, expected: dict[str, tuple[int, int]]) -> None:
    report = usage_json(config, "--by", by)
    assert {g["group"]: (g["requests"], g["failed"]) for g in report["groups"]} == expected
    assert report["groups"][0]["cost_usd"] == max(g["cost_usd"] for g in report["groups"])


def test_since_filters_by_duration_and_by_date(config: Path) -> None:
    assert usage_json(config, "--since", "90m")["totals"]["requests"] == 1
    assert usage_json(config, "--since", "4w")["totals"]["requests"] == 6
    old_day = (datetime.now(UTC) - timedelta(days=12)).date().isoformat()
    assert usage_json(config, "--since", old_day)["totals"]["cost_usd"] == pytest.approx(1.035)


def test_table_has_totals_key_names_and_a_chart(config: Path) -> None:
    done = usage(config, "--by", "key")
    assert done.returncode == 0, done.stderr
    total = next(line for line in done.stdout.splitlines() if "total" in line)
    for cell in ("5", "2", "3,800", "1,050", "300", "0.0350", "900"):
        assert cell in total
    assert "alice" in done.stdout
    assert "(no key)" in done.stdout
    assert "cost (USD) by key" in done.stdout
    assert "▇" * 30 + " 0.0200" in done.stdout  # the largest bar is full width


def test_errors_list_newest_first_with_trail_and_advice(config: Path) -> None:
    errors = usage_json(config, "--errors")["errors"]
    assert [e["id"] for e in errors] == ["r2", "r4"]
    gate, limited = errors
    assert (gate["status"], gate["category"], gate["code"]) == (
        400,
        "quota",
        "subscription_usage_gate",
    )
    assert gate["trail"] == f"claude-sub/{SONNET}:quota"
    assert limited["trail"] == "openai/gpt-4o:rate_limit -> relay/gpt-4o:rate_limit"
    assert (gate["title"], gate["action"]) == (GATE_TITLE_EN, GATE_ACTION_EN)
    assert usage_json(config, "--errors", "--limit", "1")["errors"][0]["id"] == "r2"

    done = usage(config, "--errors", "--lang", "en")
    assert done.returncode == 0, done.stderr
    for text in ("quota/subscription_usage_gate", "HTTP 429", GATE_TITLE_EN, GATE_ACTION_EN):
        assert text in done.stdout
    assert "openai/gpt-4o:rate_limit -> relay/gpt-4o:rate_limit" in done.stdout


def test_errors_speak_chinese_by_flag_or_locale(config: Path) -> None:
    by_flag = usage(config, "--errors", "--lang", "zh")
    by_locale = usage(config, "--errors", lang="zh_CN.UTF-8")
    for done in (by_flag, by_locale):
        assert done.returncode == 0, done.stderr
        assert GATE_TITLE_ZH in done.stdout
        assert "claude.ai/settings/usage" in done.stdout


def test_chart_counts_requests_when_nothing_cost_anything(tmp_path: Path) -> None:
    ledger = tmp_path / "free.sqlite3"
    now = time.time()
    local = [ok(now, f"f{i}", i * HOUR, "llama3", "ollama/llama3") for i in range(1, 4)]
    fill(str(ledger), local, now)
    done = usage(write_config(tmp_path, str(ledger)), "--by", "model")
    assert done.returncode == 0, done.stderr
    assert "requests by model" in done.stdout
    assert "▇" * 30 + " 3" in done.stdout


def test_missing_ledger_says_when_it_appears(tmp_path: Path) -> None:
    ledger = tmp_path / "nowhere" / "ledger.sqlite3"
    done = usage(write_config(tmp_path, str(ledger)))
    assert done.returncode == 1
    assert f"no ledger yet at {ledger}; it is created when turnout serve" in done.stderr
    assert not ledger.exists()  # reading must not create an empty ledger


def test_ledger_off_is_said_plainly(tmp_path: Path) -> None:
    done = usage(write_config(tmp_path, "off"))
    assert done.returncode == 1
    assert "ledger is off" in done.stderr


def test_bad_since_is_one_line_and_a_hint(tmp_path: Path) -> None:
    done = usage(write_config(tmp_path, str(tmp_path / "l.sqlite3")), "--since", "yesterday")
    assert done.returncode == 2
    assert "bad --since 'yesterday'" in done.stderr
    assert "hint: write it as 30m, 12h, 7d, 4w" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_model_with_no_route_is_explained_as_the_gateways_not_a_providers(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    config = write_config(tmp_path, str(ledger))
    with running_gateway(load_config(config)) as gw:
        body = {"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}
        assert request(gw.url, "POST", "/v1/chat/completions", body).status == 404
    [failure] = usage_json(config, "--errors", "--lang", "en")["errors"]
    assert (failure["status"], failure["category"], failure["code"]) == (
        404,
        "model_not_found",
        "gateway_no_route",
    )
    assert failure["title"] == "The gateway has no route for this model name"
    assert "model names the gateway lists" in usage(config, "--errors", "--lang", "en").stdout
