"""What the ledger says about spending and failures: the queries behind `turnout usage`.

Pure functions over a `Database`: no printing, no config. The SQL is plain enough to run the
same on SQLite and PostgreSQL. Sums are the database's (GROUP BY): a report reads one row per
group, and per quarter hour for days, however many requests the ledger holds, so the dashboard
can ask every second. Calendar days, which the engines share no function for, are folded in
Python from those quarter hours. The median latency needs every request's latency: only the
command-line report, read once, asks for it (`latencies=True`).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from turnout.diagnosis.messages import advice_for
from turnout.diagnosis.taxonomy import CODES, Category
from turnout.ledger.record import AttemptRecord
from turnout.ledger.store import Database

__all__ = [
    "GROUPINGS",
    "FailedRequest",
    "UsageGroup",
    "UsageReport",
    "failed_requests",
    "parse_since",
    "usage_report",
]

#: `--since` units, in seconds.
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")

_FROM = "FROM requests r LEFT JOIN gateway_keys k ON k.id = r.key_id WHERE r.ts >= ?"
#: `--by` choice -> the SQL naming a request's group ("day" is computed in Python from ts).
_LABEL_SQL = {
    "key": "COALESCE(k.name, r.key_id, '(no key)')",
    "path": "COALESCE(r.path, '(none)')",
    "model": "r.model",
    "category": "CASE WHEN r.outcome = 'ok' THEN 'ok' ELSE COALESCE(r.category, 'unknown') END",
}
GROUPINGS = ("day", *_LABEL_SQL)
_CATEGORIES = frozenset(category.value for category in Category)
#: Days are folded from sums per quarter hour: every local offset in use (and every daylight
#: saving shift) is a whole number of quarter hours, so none straddles a local midnight.
QUARTER_S = 900
_QUARTER_SQL = {
    "sqlite": f"CAST(r.ts AS INTEGER) / {QUARTER_S}",  # integers: both divisions truncate
    "postgresql": f"FLOOR(r.ts / {QUARTER_S})",
}
# Input tokens are reported whole (uncached + cached), as a person reading a bill expects.
_SUMS_SQL = (
    "COUNT(*), SUM(CASE WHEN r.outcome <> 'ok' THEN 1 ELSE 0 END), "
    "SUM(r.tokens_in + r.tokens_cached), SUM(r.tokens_out), SUM(r.tokens_cached), "
    "SUM(r.cost_usd)"
)


@dataclass(slots=True)
class UsageGroup:
    """One row of the report. `tokens_in` counts all input, cached included."""

    label: str
    requests: int = 0
    failed: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached: int = 0
    cost_usd: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def p50_latency_ms(self) -> float | None:
        return statistics.median(self.latencies_ms) if self.latencies_ms else None

    def add(self, other: UsageGroup) -> None:
        self.requests += other.requests
        self.failed += other.failed
        self.tokens_in += other.tokens_in
        self.tokens_out += other.tokens_out
        self.tokens_cached += other.tokens_cached
        self.cost_usd += other.cost_usd
        self.latencies_ms.extend(other.latencies_ms)

    def to_dict(self) -> dict[str, Any]:
        p50 = self.p50_latency_ms
        return {
            "group": self.label,
            "requests": self.requests,
            "failed": self.failed,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "tokens_cached": self.tokens_cached,
            "cost_usd": round(self.cost_usd, 6),
            "p50_latency_ms": None if p50 is None else round(p50, 1),
        }


@dataclass(slots=True)
class UsageReport:
    since: float
    by: str
    groups: list[UsageGroup]
    totals: UsageGroup

    def to_dict(self) -> dict[str, Any]:
        totals = self.totals.to_dict()
        del totals["group"]
        return {
            "since": _iso(self.since),
            "by": self.by,
            "groups": [group.to_dict() for group in self.groups],
            "totals": totals,
        }


@dataclass(slots=True)
class FailedRequest:
    """A request that did not end "ok", with the paths it tried and what to do about it."""

    id: str
    ts: float
    model: str
    status: int
    code: str
    category: str | None
    attempts: list[AttemptRecord]
    title: str = ""
    action: str = ""

    @property
    def trail(self) -> str:
        return " -> ".join(f"{a.path}:{a.outcome}" for a in self.attempts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": _iso(self.ts),
            "model": self.model,
            "status": self.status,
            "category": self.category,
            "code": self.code,
            "trail": self.trail,
            "attempts": [
                {"path": a.path, "outcome": a.outcome, "code": a.code} for a in self.attempts
            ],
            "title": self.title,
            "action": self.action,
        }


def parse_since(text: str, now: float) -> float:
    """`30m`, `12h`, `7d`, `4w` before `now`, or an ISO date/time (local time unless it says).

    Raises ValueError on anything else, so the command can say what it accepts.
    """
    match = _RELATIVE.match(text)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    return datetime.fromisoformat(text.strip()).timestamp()


def usage_report(db: Database, since: float, by: str, *, latencies: bool = True) -> UsageReport:
    """Requests since `since`, grouped by `by` (one of GROUPINGS), with a totals row.

    Days are listed in order; other groups by cost, then requests, most first. Without
    `latencies` the median latency is left out (None) and no request is read one by one.
    """
    if by == "day":
        groups = sorted(
            _sql_groups(db, _QUARTER_SQL[db.engine], since, latencies, _day_of).values(),
            key=lambda g: g.label,
        )
    else:
        groups = sorted(
            _sql_groups(db, _LABEL_SQL[by], since, latencies).values(),
            key=lambda g: (-g.cost_usd, -g.requests, g.label),
        )
    totals = UsageGroup("total")
    for group in groups:
        totals.add(group)
    return UsageReport(since, by, groups, totals)


def _sql_groups(
    db: Database,
    label_sql: str,
    since: float,
    latencies: bool,
    label_of: Callable[[Any], str] = str,
) -> dict[str, UsageGroup]:
    """Sums by SQL GROUP BY on `label_sql`, whose values `label_of` names (several may name
    one group); with `latencies`, every request's latency fetched beside them."""
    groups: dict[str, UsageGroup] = {}
    for row in db.query(f"SELECT {label_sql}, {_SUMS_SQL} {_FROM} GROUP BY 1", (since,)):
        label = label_of(row[0])
        groups.setdefault(label, UsageGroup(label)).add(_group(label, row[1:]))
    if latencies:
        for value, latency in db.query(f"SELECT {label_sql}, r.latency_ms {_FROM}", (since,)):
            groups[label_of(value)].latencies_ms.append(float(latency))
    return groups


def _day_of(quarter: Any) -> str:
    """The local calendar day of a quarter hour (a number of QUARTER_S since the epoch)."""
    return datetime.fromtimestamp(int(quarter) * QUARTER_S).date().isoformat()


def _group(label: str, sums: Sequence[Any]) -> UsageGroup:
    """A group from (requests, failed, tokens in, out, cached, cost); PostgreSQL sums are
    Decimal and an empty sum is NULL, hence the conversions."""
    requests, failed, tokens_in, tokens_out, tokens_cached, cost = sums
    return UsageGroup(
        label,
        requests=int(requests or 0),
        failed=int(failed or 0),
        tokens_in=int(tokens_in or 0),
        tokens_out=int(tokens_out or 0),
        tokens_cached=int(tokens_cached or 0),
        cost_usd=float(cost or 0.0),
    )


def failed_requests(db: Database, since: float, limit: int, lang: str) -> list[FailedRequest]:
    """The newest `limit` requests that failed since `since`, each with its attempt trail and
    the diagnosis' title and first action in `lang`."""
    rows = db.query(
        "SELECT id, ts, model, status, outcome, category FROM requests "
        "WHERE outcome <> 'ok' AND ts >= ? ORDER BY ts DESC, id LIMIT ?",
        (since, limit),
    )
    trails = _attempts(db, [str(row[0]) for row in rows])
    failed = []
    for rid, ts, model, status, code, category in rows:
        request = FailedRequest(
            str(rid), float(ts), model, int(status), code, category, trails.get(rid, [])
        )
        advice = advice_for(code, _category(code, category), lang)
        request.title = advice.title
        request.action = advice.actions[0] if advice.actions else ""
        failed.append(request)
    return failed


def _attempts(db: Database, request_ids: Iterable[str]) -> dict[str, list[AttemptRecord]]:
    ids = list(request_ids)
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    trails: dict[str, list[AttemptRecord]] = {}
    for rid, path, outcome, code in db.query(
        f"SELECT request_id, path, outcome, code FROM attempts "
        f"WHERE request_id IN ({marks}) ORDER BY request_id, seq",
        ids,
    ):
        trails.setdefault(str(rid), []).append(AttemptRecord(path, outcome, code))
    return trails


def _category(code: str, recorded: str | None) -> Category:
    """The category to explain under: the recorded one if it is a category at all (gateway-side
    refusals record their own kinds), else the code's, else unknown."""
    if recorded in _CATEGORIES:
        return Category(recorded)
    return CODES.get(code, Category.UNKNOWN)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")
