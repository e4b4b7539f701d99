"""The dashboard's snapshot: path states, traffic per path, recent failures, latency, usage.

Pure functions over the gateway's in-memory state (`Telemetry`, `PathHealth`), except
`usage_tables`, which reads the ledger database and so is run off the event loop. Every text a
person reads comes in both languages (`en`, `zh`) from the diagnosis messages, so the page can
switch without asking again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Protocol

from turnout.config.model import GatewayConfig
from turnout.diagnosis.messages import LANGUAGES, advice_for
from turnout.diagnosis.taxonomy import CODES, Category
from turnout.ledger.record import RequestRecord
from turnout.ledger.store import Database
from turnout.ledger.usage_report import usage_report
from turnout.routing.headroom import HeadroomBoard
from turnout.routing.health import PathHealth, PathMark
from turnout.telemetry.labels import PathLabels
from turnout.telemetry.logs import redact
from turnout.telemetry.metrics import Telemetry

__all__ = ["PathView", "path_states", "reset_fields", "snapshot_of", "usage_tables"]

#: Latency percentiles are over requests that arrived this recently.
WINDOW_S = 15 * 60
SERIES_STEP_S = 60
SERIES_STEPS = 30
FAILURES_SHOWN = 20
USAGE_DAYS = 7
_CATEGORIES = frozenset(category.value for category in Category)
#: Path (or provider) -> its mark, as `PathHealth.snapshot()` gives them.
Marks = Mapping[str, PathMark]


class Observed(Protocol):
    """What the page reads of the running gateway (runtime's `Gateway` is one)."""

    @property
    def config(self) -> GatewayConfig: ...
    @property
    def health(self) -> PathHealth: ...
    @property
    def telemetry(self) -> Telemetry: ...
    @property
    def headroom(self) -> HeadroomBoard: ...


@dataclass(frozen=True, slots=True)
class PathView:
    """A path and why it is out of service, if it is."""

    path: str
    state: str  # "ok", "cooling" or "gated" (the keys of metrics.PATH_STATES)
    mark: PathMark | None = None
    scope: str = "path"  # "credential": the mark is on the path's provider, all its models


def route_paths(
    gateway: Observed, marks: Marks, records: Iterable[RequestRecord] | None = None
) -> dict[str, list[str]]:
    """Each route's paths in order; a pattern target (`relay/*`) stands for the concrete
    paths seen or marked that match it, or for itself when none has been."""
    telemetry = gateway.telemetry
    # Only paths shown under their own name: one row per name a client invents would not do.
    seen = _paths_seen(telemetry.recent if records is None else records)
    known = {p for p in set(marks) | seen if telemetry.labels.own(p)}
    routes: dict[str, list[str]] = {}
    for name, route in gateway.config.routes.items():
        paths: list[str] = []
        for target in route.targets:
            pattern = target.path
            matches = sorted(p for p in known if "*" in pattern and fnmatchcase(p, pattern))
            paths.extend(p for p in matches or [pattern] if p not in paths)
        routes[name] = paths
    return routes


def path_states(gateway: Observed, marks: Marks) -> dict[str, PathView]:
    """Every path of every route, with its state; `marks` from `PathHealth.snapshot()`."""
    return {
        path: _view(path, marks)
        for paths in route_paths(gateway, marks).values()
        for path in paths
        if "*" not in path
    }


def _view(path: str, marks: Marks) -> PathView:
    """A mark on the path itself or on its provider (a credential gate covers every model)."""
    provider = path.split("/", 1)[0]
    found = [(mark, "path") for mark in [marks.get(path)] if mark is not None]
    found += [(mark, "credential") for mark in [marks.get(provider)] if mark is not None]
    if not found:
        return PathView(path, "ok")
    mark, scope = max(found, key=lambda pair: (pair[0].gated, pair[0].until))
    return PathView(path, "gated" if mark.gated else "cooling", mark, scope)


def _paths_seen(records: Iterable[RequestRecord]) -> set[str]:
    return {attempt.path for record in records for attempt in record.attempts}


def snapshot_of(
    gateway: Observed,
    marks: Marks,
    now: float,
    records: Sequence[RequestRecord] | None = None,
    counts: Mapping[tuple[str, str, str], int] | None = None,
) -> dict[str, Any]:
    """Everything on the page but the ledger's usage tables. Given copies of the recent
    `records` and the request `counts`, it reads nothing the event loop writes, so it may
    run on a thread of its own."""
    telemetry = gateway.telemetry
    records = list(telemetry.recent) if records is None else records
    counts = dict(telemetry.counts.requests) if counts is None else counts
    return {
        "generated": now,
        # Since this run started; the ledger's usage tables cover days and earlier runs.
        "totals": {
            "requests": sum(counts.values()),
            "failed": sum(n for (_, _, category), n in counts.items() if category != "ok"),
            "since": telemetry.started,
        },
        "routes": _routes(gateway, marks, records),
        "traffic": _traffic(records, now, telemetry.labels),
        "failures": _failures(records),
        "latency": _latency([r for r in records if r.ts >= now - WINDOW_S]),
    }


def _routes(
    gateway: Observed, marks: Marks, records: Sequence[RequestRecord]
) -> list[dict[str, Any]]:
    return [
        {"name": name, "paths": [_path_entry(gateway, _view(path, marks)) for path in paths]}
        for name, paths in route_paths(gateway, marks, records).items()
    ]


def _path_entry(gateway: Observed, view: PathView) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": view.path, "state": view.state}
    windows = gateway.headroom.windows(view.path, time.time())
    if windows:
        entry["headroom"] = [w.to_dict() for w in windows]
    mark = view.mark
    if mark is None:
        return entry
    diagnosis = mark.diagnosis
    entry.update(
        scope=view.scope,
        seconds_left=round(gateway.health.seconds_left(mark), 1),  # the gateway's probe timer
        **reset_fields(mark),
        category=diagnosis.category.value,
        code=diagnosis.code,
        status=diagnosis.status,
        message=redact(diagnosis.message or "")[:300],
        **_texts(diagnosis.code, diagnosis.category),
    )
    return entry


def reset_fields(mark: PathMark) -> dict[str, Any]:
    """The provider's own word on when a gate lifts, apart from the gateway's probe timer."""
    reset = mark.reset
    return {
        "provider_reset_at": reset.at if reset else None,
        "provider_reset_source": reset.source if reset else None,
        "window": reset.window or None if reset else None,
    }


def _texts(code: str, category: Category) -> dict[str, dict[str, str]]:
    """Title, explanation and first action in every language the diagnosis speaks."""
    advice = {lang: advice_for(code, category, lang) for lang in LANGUAGES}
    return {
        "title": {lang: a.title for lang, a in advice.items()},
        "explanation": {lang: a.explanation for lang, a in advice.items()},
        "action": {lang: a.actions[0] if a.actions else "" for lang, a in advice.items()},
    }


def _category(code: str | None, recorded: str | None) -> Category:
    if recorded in _CATEGORIES:
        return Category(recorded)
    return CODES.get(code or "", Category.UNKNOWN)


def _traffic(records: Sequence[RequestRecord], now: float, labels: PathLabels) -> dict[str, Any]:
    """Attempts and failed attempts per path per minute, over the last SERIES_STEPS minutes
    (attempts, not requests: a failover counts as an error on the path that failed)."""
    start = (math.floor(now / SERIES_STEP_S) - SERIES_STEPS + 1) * SERIES_STEP_S
    paths: dict[str, dict[str, list[int]]] = {}
    for record in records:
        step = int((record.ts - start) // SERIES_STEP_S)
        if not 0 <= step < SERIES_STEPS:
            continue
        for attempt in record.attempts:
            if attempt.outcome == "skipped":
                continue
            series = paths.setdefault(
                labels.shown(attempt.path),
                {"requests": [0] * SERIES_STEPS, "errors": [0] * SERIES_STEPS},
            )
            series["requests"][step] += 1
            series["errors"][step] += attempt.outcome != "ok"
    return {"start": start, "step_s": SERIES_STEP_S, "paths": paths}


def _failures(records: Sequence[RequestRecord]) -> list[dict[str, Any]]:
    """The newest failed attempts (and requests that failed before any attempt), newest
    first, each explained."""
    failures: list[dict[str, Any]] = []
    for record in reversed(records):
        failed = [a for a in record.attempts if a.outcome not in ("ok", "skipped", "deferred")]
        if not failed and record.outcome == "ok":
            continue
        served = record.path if record.outcome == "ok" else None
        if not failed:
            failures.append(_failure(record, None, record.outcome, record.category, served))
        for attempt in reversed(failed):
            failures.append(_failure(record, attempt.path, attempt.code, attempt.outcome, served))
        if len(failures) >= FAILURES_SHOWN:
            break
    return failures[:FAILURES_SHOWN]


def _failure(
    record: RequestRecord,
    path: str | None,
    code: str | None,
    category: str | None,
    served_by: str | None,
) -> dict[str, Any]:
    resolved = _category(code, category)
    return {
        "ts": record.ts,
        "request_id": record.id,
        "model": record.model,
        "route": record.route,
        "path": path,
        "category": resolved.value,
        "code": code or resolved.value,
        "status": None if served_by else record.status,
        "served_by": served_by,
        **_texts(code or resolved.value, resolved),
    }


def _latency(records: Sequence[RequestRecord]) -> dict[str, Any]:
    """p50/p95/p99 of the whole latency, turnout's own overhead and the rest (upstream)."""
    total = [r.latency_ms for r in records]
    overhead = [r.overhead_ms for r in records]
    upstream = [max(0.0, r.latency_ms - r.overhead_ms) for r in records]
    return {
        "count": len(records),
        "window_s": WINDOW_S,
        "latency_ms": _percentiles(total),
        "overhead_ms": _percentiles(overhead),
        "upstream_ms": _percentiles(upstream),
    }


def _percentiles(values: list[float]) -> dict[str, float | None]:
    """Nearest-rank percentiles: each is a value that was actually observed."""
    ordered = sorted(values)
    out: dict[str, float | None] = {}
    for p in (50, 95, 99):
        rank = math.ceil(p / 100 * len(ordered)) - 1
        out[f"p{p}"] = round(ordered[max(0, rank)], 3) if ordered else None
    return out


def usage_tables(db: Database, now: float) -> dict[str, Any]:
    """Tokens and cost over the last USAGE_DAYS days, per day, per key name and per path
    (blocking: run it in a thread). Sums only, no median latency (the page shows none): read
    about once a second, it must not read every request of the week each time."""
    since = now - USAGE_DAYS * 86400
    tables: dict[str, Any] = {"ledger": True, "days": USAGE_DAYS}
    for by in ("day", "key", "path"):
        report = usage_report(db, since, by, latencies=False)
        tables[f"by_{by}"] = [group.to_dict() for group in report.groups]
        tables["totals"] = report.to_dict()["totals"]
    return tables
