"""State in a SQLite file: shared by every gateway process on one machine, kept across restarts.

`state: sqlite:///path/state.sqlite3` gives several workers (`turnout serve --workers N`) one
view of gates, probe leases, rate windows and budgets without a server to run, and a gated
path stays gated when the gateway restarts. Each operation is one `BEGIN IMMEDIATE`
transaction, so it is atomic across processes as the Redis scripts are across replicas. Times
are epoch seconds (a monotonic clock means nothing to another process or after a restart).

The operations run on one thread of their own with its own connection: the event loop never
waits on the file lock another process holds. Should the file fail (a full disk), each
operation falls back on this process's memory and the store says so in /healthz.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from turnout.state.base import (
    HOLD_S,
    MARK_LINGER_S,
    MAX_NOTES,
    PROBE_LEASE_S,
    Admission,
    BudgetHold,
    BudgetRefused,
    Gate,
    RateRefused,
    RateTerms,
    Settlement,
    StateStatus,
)
from turnout.state.memory import MAX_MARKS, WINDOW_S, MemoryState

log = logging.getLogger("turnout.state")

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS marks (
    path TEXT PRIMARY KEY, gated INTEGER NOT NULL, reason TEXT NOT NULL,
    until REAL NOT NULL, probe_until REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS requests (key_id TEXT NOT NULL, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS requests_by_key ON requests (key_id, ts);
CREATE TABLE IF NOT EXISTS tokens (key_id TEXT NOT NULL, ts REAL NOT NULL, n INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tokens_by_key ON tokens (key_id, ts);
CREATE TABLE IF NOT EXISTS counters (
    budget TEXT PRIMARY KEY, spent REAL NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS holds (
    budget TEXT NOT NULL, token TEXT NOT NULL, amount REAL NOT NULL, until REAL NOT NULL,
    PRIMARY KEY (budget, token));
CREATE TABLE IF NOT EXISTS notes (
    topic TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (topic, key));
"""


class SqliteState:
    """The StateStore of the processes sharing one file (see `turnout.state.base`)."""

    backend = "sqlite"

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._fallback = MemoryState()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="turnout-state")
        self._db: sqlite3.Connection | None = None
        #: Read on the event loop itself: in WAL mode a reader never waits for a writer.
        self._reader: sqlite3.Connection | None = None
        self._connected = False
        self._since = time.time()

    # Life

    async def start(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            reader = sqlite3.connect(
                self.path, isolation_level=None, timeout=0, check_same_thread=False
            )
        except (sqlite3.Error, OSError) as exc:
            log.error("state file %s cannot be used, keeping state in memory: %s", self.path, exc)
            return
        self._db = db
        self._reader = reader
        self._connected = True

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    def status(self) -> StateStatus:
        return StateStatus(self.backend, self._connected, self._since)

    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def _transaction(self, work: Callable[[sqlite3.Connection, float], T]) -> T | None:
        """`work` in one write transaction; None when the file cannot be used right now."""

        def run() -> T | None:
            db = self._db
            if db is None:
                return None
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    result = work(db, self._clock())
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._connected:
                    log.error(
                        "state file %s failed, using memory until it works: %s", self.path, exc
                    )
                self._connected = False
                return None
            self._connected = True
            return result

        return await self._run(run)

    # Paths

    async def admit(self, *paths: str) -> tuple[Admission, Gate | None]:
        if self._unmarked(paths):
            return Admission.GO, None  # nothing to lease or forget: no transaction, no thread

        def admit(db: sqlite3.Connection, now: float) -> tuple[Admission, Gate | None]:
            for path in paths:
                row = db.execute(
                    "SELECT gated, reason, until, probe_until FROM marks WHERE path = ?", (path,)
                ).fetchone()
                if row is None:
                    continue
                gated, reason, until, probe_until = row
                if until + MARK_LINGER_S <= now:  # long over: forget it, as Redis expires it
                    db.execute("DELETE FROM marks WHERE path = ?", (path,))
                    continue
                if now < until or now < probe_until:
                    return Admission.SKIP, _gate(gated, reason, until, probe_until, now)
                lease = now + PROBE_LEASE_S
                db.execute("UPDATE marks SET probe_until = ? WHERE path = ?", (lease, path))
                return Admission.PROBE, _gate(gated, reason, until, lease, now)
            return Admission.GO, None

        result = await self._transaction(admit)
        return result if result is not None else await self._fallback.admit(*paths)

    def _unmarked(self, paths: tuple[str, ...]) -> bool:
        """Whether none of `paths` has a mark, read outside a transaction: the usual answer
        (every path fine) then costs a read of the file's index, not a write transaction on
        the state thread. Any doubt (the file failing, busy, a mark found) takes the long way."""
        reader = self._reader
        if reader is None or not self._connected:
            return False
        marks = ", ".join("?" * len(paths))
        try:
            found = reader.execute(
                f"SELECT 1 FROM marks WHERE path IN ({marks}) LIMIT 1", paths
            ).fetchone()
        except sqlite3.Error:
            return False
        return found is None

    async def mark(self, path: str, gated: bool, reason: str, seconds: float) -> None:
        def mark(db: sqlite3.Connection, now: float) -> bool:
            _make_room(db, path, now)
            db.execute(
                "INSERT INTO marks (path, gated, reason, until, probe_until) "
                "VALUES (?, ?, ?, ?, 0) ON CONFLICT (path) DO UPDATE SET gated = excluded.gated, "
                "reason = excluded.reason, until = excluded.until, probe_until = 0",
                (path, int(gated), reason, now + seconds),
            )
            return True

        if await self._transaction(mark) is None:
            await self._fallback.mark(path, gated, reason, seconds)

    async def clear(self, path: str) -> None:
        await self._write("DELETE FROM marks WHERE path = ?", (path,))
        await self._fallback.clear(path)

    async def release_probe(self, path: str) -> None:
        await self._write("UPDATE marks SET probe_until = 0 WHERE path = ?", (path,))
        await self._fallback.release_probe(path)

    async def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        def write(db: sqlite3.Connection, now: float) -> bool:
            db.execute(sql, params)
            return True

        await self._transaction(write)

    async def peek(self, path: str) -> Gate | None:
        gates = await self.gates()
        return gates.get(path)

    async def gates(self) -> dict[str, Gate]:
        def gates(db: sqlite3.Connection, now: float) -> dict[str, Gate]:
            rows = db.execute(
                "SELECT path, gated, reason, until, probe_until FROM marks WHERE until + ? > ?",
                (MARK_LINGER_S, now),
            ).fetchall()
            return {row[0]: _gate(row[1], row[2], row[3], row[4], now) for row in rows}

        result = await self._transaction(gates)
        return result if result is not None else await self._fallback.gates()

    # Rate windows and budgets

    async def admit_key(self, terms: RateTerms, hold: BudgetHold | None, now: float) -> float:
        def admit_key(db: sqlite3.Connection, _: float) -> float:
            if terms.limited:
                wait = _rate_wait(db, terms, now)
                if wait is not None:
                    raise RateRefused(wait)
                db.execute("INSERT INTO requests VALUES (?, ?)", (terms.key_id, now))
            if hold is None:
                return 0.0
            spent = _counter(db, hold.budget, hold.seed, hold.expires_at, now)
            db.execute("DELETE FROM holds WHERE budget = ? AND until <= ?", (hold.budget, now))
            (held,) = db.execute(
                "SELECT COALESCE(SUM(amount), 0) FROM holds WHERE budget = ?", (hold.budget,)
            ).fetchone()
            committed = spent + held
            if committed + hold.amount > hold.limit or spent >= hold.limit:
                raise BudgetRefused(committed)
            db.execute(
                "INSERT OR REPLACE INTO holds VALUES (?, ?, ?, ?)",
                (hold.budget, hold.token, hold.amount, now + HOLD_S),
            )
            return float(spent)

        result = await self._transaction(admit_key)
        return result if result is not None else await self._fallback.admit_key(terms, hold, now)

    async def settle(
        self, key_id: str | None, tokens: int, settlements: list[Settlement], now: float
    ) -> list[float]:
        def settle(db: sqlite3.Connection, _: float) -> list[float]:
            if key_id is not None:
                db.execute("INSERT INTO tokens VALUES (?, ?, ?)", (key_id, now, tokens))
            spent = []
            for item in settlements:
                _counter(db, item.budget, item.seed, item.expires_at, now)
                db.execute(
                    "DELETE FROM holds WHERE budget = ? AND token = ?", (item.budget, item.token)
                )
                db.execute(
                    "UPDATE counters SET spent = spent + ? WHERE budget = ?",
                    (item.actual, item.budget),
                )
                (value,) = db.execute(
                    "SELECT spent FROM counters WHERE budget = ?", (item.budget,)
                ).fetchone()
                spent.append(float(value))
            return spent

        result = await self._transaction(settle)
        if result is not None:
            return result
        return await self._fallback.settle(key_id, tokens, settlements, now)

    async def spent(self, budgets: list[str]) -> list[float]:
        def spent(db: sqlite3.Connection, _: float) -> list[float]:
            out = []
            for budget in budgets:
                row = db.execute(
                    "SELECT spent FROM counters WHERE budget = ?", (budget,)
                ).fetchone()
                out.append(float(row[0]) if row else 0.0)
            return out

        result = await self._transaction(spent)
        return result if result is not None else await self._fallback.spent(budgets)

    # Notes

    async def remember(self, topic: str, key: str, value: str) -> None:
        def remember(db: sqlite3.Connection, _: float) -> bool:
            # A replaced row gets a new rowid: rowid order is the order of the last writes.
            db.execute("INSERT OR REPLACE INTO notes VALUES (?, ?, ?)", (topic, key, value))
            (count,) = db.execute("SELECT count(*) FROM notes WHERE topic = ?", (topic,)).fetchone()
            if count > MAX_NOTES:
                db.execute(
                    "DELETE FROM notes WHERE rowid IN (SELECT rowid FROM notes WHERE topic = ? "
                    "ORDER BY rowid LIMIT ?)",
                    (topic, count - MAX_NOTES),
                )
            return True

        if await self._transaction(remember) is None:
            await self._fallback.remember(topic, key, value)

    async def recall(self, topic: str, keys: list[str]) -> list[str | None]:
        """Read on the event loop (WAL: a reader never waits for a writer)."""
        reader = self._reader
        if reader is not None and self._connected and keys:
            wanted = ", ".join("?" * len(keys))
            try:
                rows = reader.execute(
                    f"SELECT key, value FROM notes WHERE topic = ? AND key IN ({wanted})",
                    (topic, *keys),
                ).fetchall()
            except sqlite3.Error:
                pass
            else:
                found = dict(rows)
                return [found.get(key) for key in keys]
        return await self._fallback.recall(topic, keys)


def _gate(gated: int, reason: str, until: float, probe_until: float, now: float) -> Gate:
    return Gate(bool(gated), reason, max(0.0, until - now), now < probe_until)


def _rate_wait(db: sqlite3.Connection, terms: RateTerms, now: float) -> float | None:
    start = now - WINDOW_S
    db.execute("DELETE FROM requests WHERE key_id = ? AND ts <= ?", (terms.key_id, start))
    db.execute("DELETE FROM tokens WHERE key_id = ? AND ts <= ?", (terms.key_id, start))
    if terms.rpm is not None:
        count, oldest = db.execute(
            "SELECT COUNT(*), MIN(ts) FROM requests WHERE key_id = ?", (terms.key_id,)
        ).fetchone()
        if count >= terms.rpm:
            return max(0.0, (oldest or now) + WINDOW_S - now)
    if terms.tpm is not None:
        used, oldest = db.execute(
            "SELECT COALESCE(SUM(n), 0), MIN(ts) FROM tokens WHERE key_id = ?", (terms.key_id,)
        ).fetchone()
        if used >= terms.tpm:
            return max(0.0, (oldest or now) + WINDOW_S - now)
    return None


def _counter(
    db: sqlite3.Connection, budget: str, seed: float, expires_at: float, now: float
) -> float:
    """The budget's settled spend, creating its counter (from `seed`) the first time; a new
    counter is also the moment to drop those of periods that are over."""
    row = db.execute("SELECT spent FROM counters WHERE budget = ?", (budget,)).fetchone()
    if row is not None:
        return float(row[0])
    db.execute("DELETE FROM counters WHERE expires_at <= ?", (now,))
    db.execute("DELETE FROM holds WHERE budget NOT IN (SELECT budget FROM counters)")
    db.execute("INSERT INTO counters VALUES (?, ?, ?)", (budget, seed, expires_at))
    return seed


def _make_room(db: sqlite3.Connection, path: str, now: float) -> None:
    """Keep at most MAX_MARKS marks, as in memory: model names are the client's to invent
    (a pattern route), and each unknown one gates its own path. Before a new mark goes in at
    the bound, marks that are over go first, then the oldest on one model; a credential's
    mark last."""
    if db.execute("SELECT 1 FROM marks WHERE path = ?", (path,)).fetchone() is not None:
        return
    (count,) = db.execute("SELECT count(*) FROM marks").fetchone()
    if count < MAX_MARKS:
        return
    db.execute("DELETE FROM marks WHERE max(until, probe_until) <= ?", (now,))
    (count,) = db.execute("SELECT count(*) FROM marks").fetchone()
    if count >= MAX_MARKS:
        db.execute(
            "DELETE FROM marks WHERE rowid IN (SELECT rowid FROM marks "
            "ORDER BY instr(path, '/') = 0, rowid LIMIT ?)",
            (count - MAX_MARKS + 1,),
        )
