"""Gateway keys, stored hashed in the ledger database: shown once at creation, never again."""

from __future__ import annotations

import hashlib
import math
import secrets
import time
import uuid
from dataclasses import dataclass

import orjson

from turnout.ledger.store import Database, LedgerError

PERIODS = ("day", "week", "month")
KEY_PREFIX = "tk-"


def hash_key(secret: str) -> str:
    """Keys are 256 random bits, so one SHA-256 is enough: nothing to guess a preimage from."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class GatewayKey:
    id: str
    name: str
    key_hash: str
    prefix: str  # the first characters, to tell keys apart in listings
    created: float
    revoked: float | None = None
    routes: tuple[str, ...] = ()  # empty: every route
    budget_usd: float | None = None
    budget_period: str | None = None
    rpm: int | None = None
    tpm: int | None = None

    def allows(self, route: str) -> bool:
        return not self.routes or route in self.routes


_COLUMNS = (
    "id, name, key_hash, prefix, created, revoked, routes, budget_usd, budget_period, rpm, tpm"
)


def _from_row(row: tuple[object, ...]) -> GatewayKey:
    values = list(row)
    values[6] = tuple(orjson.loads(str(values[6])))
    return GatewayKey(*values)  # type: ignore[arg-type]


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        name: str,
        *,
        routes: tuple[str, ...] = (),
        budget_usd: float | None = None,
        budget_period: str | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
    ) -> tuple[GatewayKey, str]:
        """A new key and its secret (returned this once, stored only as a hash)."""
        if self.find(name) is not None:
            raise LedgerError(f"a key named {name!r} exists already")
        if budget_usd is not None and budget_period not in PERIODS:
            raise LedgerError(f"a budget needs a period: one of {', '.join(PERIODS)}")
        if budget_usd is not None and not (math.isfinite(budget_usd) and budget_usd >= 0):
            raise LedgerError(f"a budget is a number of dollars, 0 or more, not {budget_usd!r}")
        for limit, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and value < 1:
                raise LedgerError(f"--{limit} is a count of 1 or more, not {value}")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key = GatewayKey(
            id=uuid.uuid4().hex[:12],
            name=name,
            key_hash=hash_key(secret),
            prefix=secret[:8],
            created=time.time(),
            routes=routes,
            budget_usd=budget_usd,
            budget_period=budget_period if budget_usd is not None else None,
            rpm=rpm,
            tpm=tpm,
        )
        with self.db.transaction() as run:
            run(
                f"INSERT INTO gateway_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key.id, key.name, key.key_hash, key.prefix, key.created, None,
                    orjson.dumps(list(routes)).decode(), budget_usd, key.budget_period, rpm, tpm,
                ),
            )  # fmt: skip
        return key, secret

    def all(self) -> list[GatewayKey]:
        rows = self.db.query(f"SELECT {_COLUMNS} FROM gateway_keys ORDER BY created")
        return [_from_row(row) for row in rows]

    def active(self) -> list[GatewayKey]:
        return [key for key in self.all() if key.revoked is None]

    def find(self, name: str) -> GatewayKey | None:
        rows = self.db.query(f"SELECT {_COLUMNS} FROM gateway_keys WHERE name = ?", (name,))
        return _from_row(rows[0]) if rows else None

    def revoke(self, name: str) -> GatewayKey:
        key = self.find(name)
        if key is None:
            raise LedgerError(f"no key named {name!r}")
        if key.revoked is None:
            with self.db.transaction() as run:
                run("UPDATE gateway_keys SET revoked = ? WHERE id = ?", (time.time(), key.id))
        found = self.find(name)
        assert found is not None
        return found
