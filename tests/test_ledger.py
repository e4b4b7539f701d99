"""The ledger records what clients observed: tokens, cost and outcome, across failovers and
streams; it survives kill -9; its schema is the same on SQLite and PostgreSQL."""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.clients import Clients
from tests.fakes import Fail, Reply, RunningUpstream
from tests.gateway import free_port, request, running_gateway
from tests.serving import GatewayProcess
from tests.waiting import wait_until
from turnout.catalog import price_of
from turnout.ledger.store import LedgerError, SQLiteDatabase, migrate, open_database

QUOTA = Fail(
    429, '{"error":{"message":"You exceeded your current quota","type":"insufficient_quota"}}'
)


def rows(ledger: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(ledger) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM requests ORDER BY ts")]


def attempts(ledger: Path, request_id: str) -> list[tuple[str, str]]:
    with sqlite3.connect(ledger) as conn:
        query = "SELECT path, outcome FROM attempts WHERE request_id = ? ORDER BY seq"
        return [(r[0], r[1]) for r in conn.execute(query, (request_id,))]


def config(
    tmp_path: Path, primary: RunningUpstream, backup: RunningUpstream, kind: str = "openai"
) -> str:
    suffix = "/v1" if kind == "openai" else ""
    return yaml.safe_dump(
        {
            "ledger": str(tmp_path / "ledger.sqlite3"),
            "defaults": {"retries": 0},
            "providers": {
                "primary": {"kind": kind, "base_url": primary.url + suffix},
                "backup": {"kind": "openai", "base_url": backup.url + "/v1"},
            },
            "routes": {"m": ["primary/gpt-4o", "backup/claude-sonnet-4-5"]},
        }
    )


def test_failover_costs_what_the_serving_path_charged(tmp_path: Path, clients: Clients) -> None:
    with RunningUpstream() as primary, RunningUpstream() as backup:
        primary.script(QUOTA)
        backup.script(Reply(text="served", usage=(1200, 300)))
        with running_gateway(config(tmp_path, primary, backup)) as gw:
            raw = clients.openai(gw.url).chat.completions.with_raw_response.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
            observed = raw.parse().usage
            request_id = raw.headers["x-request-id"]
    [row] = rows(tmp_path / "ledger.sqlite3")
    assert observed is not None
    assert (row["tokens_in"], row["tokens_out"]) == (
        observed.prompt_tokens,
        observed.completion_tokens,
    )
    price = price_of("claude-sonnet-4-5")
    assert price is not None
    assert row["cost_usd"] == pytest.approx(price.cost(1200, 300))
    assert (row["id"], row["path"], row["outcome"], row["status"]) == (
        request_id,
        "backup/claude-sonnet-4-5",
        "ok",
        200,
    )
    assert attempts(tmp_path / "ledger.sqlite3", request_id) == [
        ("primary/gpt-4o", "quota"),
        ("backup/claude-sonnet-4-5", "ok"),
    ]


def test_stream_tokens_are_recorded_even_when_the_client_did_not_ask_for_usage(
    tmp_path: Path, clients: Clients
) -> None:
    with RunningUpstream() as primary, RunningUpstream() as backup:
        primary.script(Reply(text="one two three", usage=(40, 3)))
        with running_gateway(config(tmp_path, primary, backup)) as gw:
            stream = clients.openai(gw.url).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            chunks = list(stream)
        assert all(chunk.choices for chunk in chunks)  # the usage chunk stayed hidden
        assert primary.requests[-1].json["stream_options"] == {"include_usage": True}
    [row] = rows(tmp_path / "ledger.sqlite3")
    assert (row["tokens_in"], row["tokens_out"], row["stream"]) == (40, 3, 1)
    assert row["ttfb_ms"] is not None
    assert row["ttfb_ms"] <= row["latency_ms"]


def test_anthropic_stream_usage_and_a_failed_request(tmp_path: Path, clients: Clients) -> None:
    with RunningUpstream() as primary, RunningUpstream() as backup:
        primary.script(Reply(text="hello there", usage=(25, 2)))
        backup.script(Fail(503, "Service Unavailable"))
        with running_gateway(config(tmp_path, primary, backup, kind="anthropic")) as gw:
            client = clients.anthropic(gw.url)
            with client.messages.stream(
                model="m", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
            ) as stream:
                final = stream.get_final_message()
            primary.script(
                Fail(
                    401,
                    '{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}',
                )
            )
            with pytest.raises(Exception, match="no path could serve"):
                client.messages.create(
                    model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
                )
    ok, failed = rows(tmp_path / "ledger.sqlite3")
    assert (ok["tokens_in"], ok["tokens_out"]) == (
        final.usage.input_tokens,
        final.usage.output_tokens,
    )
    assert (failed["outcome"], failed["category"], failed["cost_usd"]) == (
        "service_unavailable",
        "server_error",
        0.0,
    )
    assert failed["status"] == 502


def test_kill_9_loses_no_completed_request(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    config_path = tmp_path / "turnout.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "ledger": str(ledger),
                "providers": {
                    "mock": {"kind": "mock", "script": [{"reply": "ok", "delay_s": 0.01}]}
                },
                "routes": {"m": ["mock/m"]},
            }
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    completed: list[str] = []
    stop = threading.Event()

    def load() -> None:  # bounded: 300 requests per thread at most
        for _ in range(300):
            if stop.is_set():
                return
            try:
                reply = request(
                    url,
                    "POST",
                    "/v1/chat/completions",
                    {"model": "m", "messages": [{"role": "user", "content": "x"}]},
                )
            except (OSError, http.client.HTTPException):  # killed mid-answer: a cut response
                return
            if reply.status == 200:
                completed.append(reply.headers["x-request-id"])

    with GatewayProcess(config_path, port=port) as gateway:
        workers = [threading.Thread(target=load) for _ in range(4)]
        for worker in workers:
            worker.start()
        wait_until(lambda: len(completed) >= 60, what="60 completed requests")
        gateway.kill()
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
    with GatewayProcess(config_path, port=port):
        pass  # the restart stores what the journal kept
    stored = {row["id"] for row in rows(ledger)}
    assert len(completed) >= 60
    assert set(completed) <= stored


def _columns_sqlite(path: Path) -> dict[str, list[tuple[str, str]]]:
    db = SQLiteDatabase(path)
    migrate(db)
    tables = [
        r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    ]
    result = {
        t: [(r[1], _family(r[2])) for r in db.query(f"PRAGMA table_info({t})")] for t in tables
    }
    db.close()
    return result


def _family(sql_type: str) -> str:
    lowered = sql_type.lower()
    for word, family in (
        ("int", "integer"),
        ("double", "float"),
        ("real", "float"),
        ("text", "text"),
        ("char", "text"),
    ):
        if word in lowered:
            return family
    return lowered


@pytest.fixture
def postgres_url() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    base = os.environ.get("TURNOUT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        admin = psycopg.connect(base, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL not reachable at {base}: {exc}")
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def test_migrations_end_in_the_same_schema_on_sqlite_and_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    sqlite_schema = _columns_sqlite(tmp_path / "fresh.sqlite3")
    pg = open_database(postgres_url)
    assert migrate(pg) == [1, 2]
    assert migrate(pg) == []  # idempotent
    pg_schema: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in pg.query(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    ):
        pg_schema.setdefault(table, []).append((column, _family(data_type)))
    pg.close()
    assert pg_schema == sqlite_schema
    assert set(sqlite_schema) == {
        "attempts",
        "gateway_keys",
        "journals",
        "requests",
        "schema_migrations",
    }


def test_postgresql_ledger_stores_through_the_gateway(postgres_url: str, clients: Clients) -> None:
    with RunningUpstream() as up:
        up.script(Reply(text="pg", usage=(7, 1)))
        text = yaml.safe_dump(
            {
                "ledger": postgres_url,
                "providers": {"p": {"kind": "openai", "base_url": up.url + "/v1"}},
                "routes": {"m": ["p/gpt-4o"]},
            }
        )
        with running_gateway(text) as gw:
            raw = clients.openai(gw.url).chat.completions.with_raw_response.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
            request_id = raw.headers["x-request-id"]
    pg = open_database(postgres_url)
    stored = pg.query(
        "SELECT tokens_in, tokens_out, outcome FROM requests WHERE id = ?", (request_id,)
    )
    pg.close()
    assert stored == [(7, 1, "ok")]
    assert json.dumps(stored)


def test_replicas_migrating_at_once_do_not_collide(postgres_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def migrate_once(_: int) -> list[int]:
        db = open_database(postgres_url)
        try:
            return migrate(db)
        finally:
            db.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(migrate_once, range(4)))
    assert sorted(v for applied in results for v in applied) == [1, 2]  # each applied once


def test_the_postgresql_ledger_reconnects_after_its_connection_is_cut(postgres_url: str) -> None:
    import psycopg

    db = open_database(postgres_url)
    migrate(db)
    [(backend,)] = db.query("SELECT pg_backend_pid()")
    with psycopg.connect(postgres_url.split("?")[0], autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
    with pytest.raises(LedgerError):
        db.query("SELECT 1")  # the call that finds the connection gone
    [(again,)] = db.query("SELECT pg_backend_pid()")  # the next one reconnects
    assert again != backend
    with db.transaction() as run:
        run("INSERT INTO journals (journal_id, stored_offset) VALUES (?, ?)", ("after-cut", 7))
    assert db.query("SELECT stored_offset FROM journals WHERE journal_id = ?", ("after-cut",)) == [
        (7,)
    ]
    db.close()
