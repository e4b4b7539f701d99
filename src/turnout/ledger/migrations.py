"""The ledger schema, grown by numbered migrations that run the same on SQLite and PostgreSQL.

Only types both engines read alike are used (TEXT, BIGINT, DOUBLE PRECISION); JSON is TEXT.
A migration is never edited once released: a change is a new migration at the end.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "requests_and_attempts",
        (
            """CREATE TABLE requests (
                id TEXT PRIMARY KEY,
                ts DOUBLE PRECISION NOT NULL,
                key_id TEXT,
                model TEXT NOT NULL,
                route TEXT,
                client_dialect TEXT NOT NULL,
                stream BIGINT NOT NULL,
                status BIGINT NOT NULL,
                outcome TEXT NOT NULL,
                category TEXT,
                path TEXT,
                provider TEXT,
                upstream_model TEXT,
                upstream_dialect TEXT,
                tokens_in BIGINT NOT NULL,
                tokens_out BIGINT NOT NULL,
                tokens_cached BIGINT NOT NULL,
                cost_usd DOUBLE PRECISION NOT NULL,
                latency_ms DOUBLE PRECISION NOT NULL,
                ttfb_ms DOUBLE PRECISION,
                overhead_ms DOUBLE PRECISION NOT NULL,
                notes TEXT NOT NULL
            )""",
            "CREATE INDEX requests_ts ON requests (ts)",
            "CREATE INDEX requests_key_ts ON requests (key_id, ts)",
            """CREATE TABLE attempts (
                request_id TEXT NOT NULL,
                seq BIGINT NOT NULL,
                path TEXT NOT NULL,
                outcome TEXT NOT NULL,
                code TEXT,
                PRIMARY KEY (request_id, seq)
            )""",
            """CREATE TABLE journals (
                journal_id TEXT PRIMARY KEY,
                stored_offset BIGINT NOT NULL
            )""",
        ),
    ),
    Migration(
        2,
        "gateway_keys",
        (
            """CREATE TABLE gateway_keys (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                key_hash TEXT NOT NULL UNIQUE,
                prefix TEXT NOT NULL,
                created DOUBLE PRECISION NOT NULL,
                revoked DOUBLE PRECISION,
                routes TEXT NOT NULL,
                budget_usd DOUBLE PRECISION,
                budget_period TEXT,
                rpm BIGINT,
                tpm BIGINT
            )""",
        ),
    ),
)
