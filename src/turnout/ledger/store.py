"""The ledger database: SQLite (a file, the default) or PostgreSQL (for teams and replicas).

Both speak through one small `Database` seam; SQL is written once with `?` placeholders. The
drivers' exceptions are translated to `LedgerError` here and nowhere else.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import orjson

from turnout.errors import TurnoutError
from turnout.ledger.migrations import MIGRATIONS
from turnout.ledger.record import RequestRecord

Row = tuple[Any, ...]


class LedgerError(TurnoutError):
    """The ledger database could not be used."""


class Database(Protocol):
    engine: str

    def transaction(self) -> Any: ...  # context manager yielding a cursor-like `run`

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def close(self) -> None: ...


class Runner(Protocol):
    def __call__(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """The same statement for many rows (one driver call: batches are the common case)."""
        ...


class _Runner:
    def __init__(self, execute: Any, executemany: Any, fetch: Any) -> None:
        self._execute, self._executemany, self._fetch = execute, executemany, fetch

    def __call__(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self._fetch(self._execute(sql, params)))

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._executemany(sql, rows)


class SQLiteDatabase:
    engine = "sqlite"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open the ledger {path}: {exc}") from exc
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[Runner]:
        with self._lock:
            run = _Runner(self._conn.execute, self._conn.executemany, lambda c: c.fetchall())
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                yield run
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise LedgerError(f"ledger write failed: {exc}") from exc
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise LedgerError(f"ledger query failed: {exc}") from exc

    def close(self) -> None:
        self._conn.close()


class PostgresDatabase:
    """One connection, made again on the next use after it broke (a database restart, a
    failover, an idle connection cut by a proxy): the failing call raises `LedgerError`, the
    caller's loop tries again, and that try reconnects."""

    engine = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg

        self._psycopg = psycopg
        self._url = url
        self._lock = threading.Lock()
        self._conn = self._connect()

    def _connect(self) -> Any:
        try:
            return self._psycopg.connect(self._url, autocommit=True, connect_timeout=10)
        except self._psycopg.Error as exc:
            raise LedgerError(f"cannot connect to the ledger database: {exc}") from exc

    def _connection(self) -> Any:
        if self._conn.closed or self._conn.broken:
            self._conn.close()
            self._conn = self._connect()
        return self._conn

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    @contextmanager
    def transaction(self) -> Iterator[Runner]:
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction(), conn.cursor() as cursor:

                    def execute(sql: str, params: Sequence[Any]) -> Any:
                        cursor.execute(self._sql(sql), params)
                        return cursor

                    def executemany(sql: str, rows: Sequence[Sequence[Any]]) -> None:
                        cursor.executemany(self._sql(sql), rows)

                    yield _Runner(
                        execute, executemany, lambda c: c.fetchall() if c.description else []
                    )
            except self._psycopg.Error as exc:
                raise LedgerError(f"ledger write failed: {exc}") from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            conn = self._connection()
            try:
                with conn.cursor() as cursor:
                    cursor.execute(self._sql(sql), params)
                    return list(cursor.fetchall())
            except self._psycopg.Error as exc:
                raise LedgerError(f"ledger query failed: {exc}") from exc

    def close(self) -> None:
        self._conn.close()


def open_database(location: str) -> Database:
    """`postgresql://...` or a SQLite file path."""
    if location.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(location)
    return SQLiteDatabase(Path(location).expanduser())


#: Serialises migrations of replicas starting together on one PostgreSQL database.
MIGRATION_LOCK = 7_364_105


def _exclusive(db: Database, run: Runner) -> None:
    """Hold off other migrating processes until this transaction ends (SQLite's BEGIN
    IMMEDIATE already does; PostgreSQL needs an advisory lock)."""
    if db.engine == "postgresql":
        run("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))


def migrate(db: Database) -> list[int]:
    """Apply the migrations not yet applied, in order; returns their versions. Safe when
    several processes start at once: each migration is checked and applied under a lock."""
    with db.transaction() as run:
        _exclusive(db, run)
        run(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied DOUBLE PRECISION NOT NULL)"
        )
    applied = []
    for migration in MIGRATIONS:
        with db.transaction() as run:
            _exclusive(db, run)
            query = "SELECT 1 FROM schema_migrations WHERE version = ?"
            if run(query, (migration.version,)):
                continue
            for statement in migration.statements:
                run(statement)
            run(
                "INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time()),
            )
        applied.append(migration.version)
    return applied


_REQUEST_COLUMNS = (
    "id", "ts", "key_id", "model", "route", "client_dialect", "stream", "status", "outcome",
    "category", "path", "provider", "upstream_model", "upstream_dialect", "tokens_in",
    "tokens_out", "tokens_cached", "cost_usd", "latency_ms", "ttfb_ms", "overhead_ms", "notes",
)  # fmt: skip
_INSERT_REQUEST = (
    f"INSERT INTO requests ({', '.join(_REQUEST_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _REQUEST_COLUMNS)}) ON CONFLICT (id) DO NOTHING"
)
_INSERT_ATTEMPT = (
    "INSERT INTO attempts (request_id, seq, path, outcome, code) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (request_id, seq) DO NOTHING"
)


def _request_row(record: RequestRecord) -> tuple[Any, ...]:
    values = {
        **{name: getattr(record, name) for name in _REQUEST_COLUMNS if name != "notes"},
        "stream": int(record.stream),
        "notes": orjson.dumps(record.notes).decode(),
    }
    return tuple(values[name] for name in _REQUEST_COLUMNS)


class LedgerStore:
    """Storing journaled records, exactly once, and reading them back."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def stored_offset(self, journal_id: str) -> int:
        rows = self.db.query(
            "SELECT stored_offset FROM journals WHERE journal_id = ?", (journal_id,)
        )
        return int(rows[0][0]) if rows else 0

    def store(self, records: list[RequestRecord], journal_id: str, offset: int) -> None:
        """Insert records and move the journal mark in one transaction (replays are no-ops)."""
        attempts = [
            (record.id, seq, attempt.path, attempt.outcome, attempt.code)
            for record in records
            for seq, attempt in enumerate(record.attempts)
        ]
        with self.db.transaction() as run:
            run.many(_INSERT_REQUEST, [_request_row(record) for record in records])
            run.many(_INSERT_ATTEMPT, attempts)
            run(
                "INSERT INTO journals (journal_id, stored_offset) VALUES (?, ?) "
                "ON CONFLICT (journal_id) DO UPDATE SET stored_offset = excluded.stored_offset",
                (journal_id, offset),
            )

    def spent_by_provider(self, provider: str, since: float) -> float:
        rows = self.db.query(
            "SELECT SUM(cost_usd) FROM requests WHERE provider = ? AND ts >= ?", (provider, since)
        )
        return float(rows[0][0] or 0.0) if rows else 0.0

    def spent_since(self, since: float) -> dict[str | None, float]:
        """Dollars spent per gateway key since a time."""
        rows = self.db.query(
            "SELECT key_id, SUM(cost_usd) FROM requests WHERE ts >= ? GROUP BY key_id", (since,)
        )
        return {row[0]: float(row[1] or 0.0) for row in rows}
