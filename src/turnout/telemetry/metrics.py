"""What the gateway has seen since it started, for `/metrics` and the dashboard.

`Telemetry` subscribes to the record bus, as the ledger does, so it counts exactly what the
ledger records, and counts with the ledger off too. Recording runs on the request path, so it
only bumps plain dicts and appends to a bounded window (a few microseconds); Prometheus objects
are built when `/metrics` is scraped.
It lives on `Shared`, so a config reload keeps every count.

Exposed (all prefixed `turnout_`): `requests_total{route,path,category}`,
`attempts_total{route,path,outcome}`, `overhead_seconds{route}` and
`upstream_seconds{route}` histograms, `path_state{path}` (0 ok, 1 cooling, 2 gated),
`tokens_total{path,key,kind}`, `cost_usd_total{path,key}`,
`key_budget_remaining_usd{key}` and `provider_budget_remaining_usd{provider}`.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from turnout.ledger.record import RequestRecord
from turnout.telemetry.labels import PathLabels

__all__ = ["CONTENT_TYPE", "NONE", "PATH_STATES", "Telemetry"]

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
#: The label value for "no route", "no path" or "no key" (Prometheus treats "" as absent).
NONE = "none"
PATH_STATES = {"ok": 0, "cooling": 1, "gated": 2}
#: Requests the dashboard keeps in memory for its recent window.
RECENT_RECORDS = 5000
#: turnout's own work is sub-millisecond when all is well; the upstream takes seconds.
OVERHEAD_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
UPSTREAM_BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Buckets:
    """One histogram series: counts per bucket (not cumulative) and the sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds  # ascending
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        running, out = 0, []
        for bound, count in zip((*map(repr, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, float(running)))
        return out


class LedgerCounts:
    """Counters and histograms from ledger records, keyed by label tuples (paths by their
    bounded label, see `labels.PathLabels`)."""

    def __init__(self, labels: PathLabels | None = None) -> None:
        self.labels = labels or PathLabels()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.attempts: dict[tuple[str, str, str], int] = {}
        self.overhead: dict[str, Buckets] = {}
        self.upstream: dict[str, Buckets] = {}
        #: (path, key id) -> [tokens in, out, cached, cost in dollars]
        self.usage: dict[tuple[str, str], list[float]] = {}

    def add(self, record: RequestRecord) -> None:
        route = record.route or NONE
        category = "ok" if record.outcome == "ok" else record.category or "unknown"
        path = self.labels(record.path) if record.path is not None else None
        labels = (route, path or NONE, category)
        self.requests[labels] = self.requests.get(labels, 0) + 1
        for attempt in record.attempts:
            key = (route, self.labels(attempt.path), attempt.outcome)
            self.attempts[key] = self.attempts.get(key, 0) + 1
        overhead = record.overhead_ms / 1000.0
        self._series(self.overhead, route, OVERHEAD_BOUNDS).observe(overhead)
        upstream = max(0.0, record.latency_ms / 1000.0 - overhead)
        self._series(self.upstream, route, UPSTREAM_BOUNDS).observe(upstream)
        if path is not None:
            usage_key = (path, record.key_id or NONE)
            usage = self.usage.get(usage_key)
            if usage is None:
                usage = self.usage[usage_key] = [0, 0, 0, 0.0]
            usage[0] += record.tokens_in
            usage[1] += record.tokens_out
            usage[2] += record.tokens_cached
            usage[3] += record.cost_usd

    @staticmethod
    def _series(table: dict[str, Buckets], route: str, bounds: tuple[float, ...]) -> Buckets:
        series = table.get(route)
        if series is None:
            series = table[route] = Buckets(bounds)
        return series


class _CountsCollector:
    """Turns `LedgerCounts` into metric families at scrape time (on the event loop, where
    the counts are written, so no lock is needed)."""

    def __init__(self, counts: LedgerCounts, key_names: dict[str, str]) -> None:
        self._counts = counts
        self._key_names = key_names

    def collect(self) -> Iterator[Metric]:
        counts = self._counts
        yield _counter(
            "turnout_requests",
            "Requests by route, serving path and outcome category",
            ["route", "path", "category"],
            counts.requests,
        )
        yield _counter(
            "turnout_attempts",
            "Attempts at a path, by route, path and outcome",
            ["route", "path", "outcome"],
            counts.attempts,
        )
        yield _histogram(
            "turnout_overhead_seconds", "Time turnout itself spent on a request", counts.overhead
        )
        yield _histogram(
            "turnout_upstream_seconds", "Latency less turnout's own overhead", counts.upstream
        )
        yield from self._usage()

    def _usage(self) -> Iterator[Metric]:
        tokens = CounterMetricFamily(
            "turnout_tokens",
            "Tokens by serving path, gateway key and kind",
            labels=["path", "key", "kind"],
        )
        cost = CounterMetricFamily(
            "turnout_cost_usd",
            "Dollars spent by serving path and gateway key",
            labels=["path", "key"],
        )
        for (path, key_id), (tokens_in, tokens_out, cached, dollars) in self._counts.usage.items():
            key = self._key_names.get(key_id, key_id)
            tokens.add_metric([path, key, "in"], tokens_in)
            tokens.add_metric([path, key, "out"], tokens_out)
            tokens.add_metric([path, key, "cached"], cached)
            cost.add_metric([path, key], dollars)
        yield tokens
        yield cost


def _counter(
    name: str, doc: str, labels: list[str], values: Mapping[tuple[str, str, str], int]
) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)
    for label_values, value in values.items():
        family.add_metric(list(label_values), value)
    return family


def _histogram(name: str, doc: str, series: Mapping[str, Buckets]) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=["route"])
    for route, buckets in series.items():
        family.add_metric([route], buckets.cumulative(), buckets.total)
    return family


class Telemetry:
    """Counts, a window of recent records and the listeners waiting for the next one."""

    def __init__(self, recent: int = RECENT_RECORDS) -> None:
        self.labels = PathLabels()
        self.counts = LedgerCounts(self.labels)
        self.recent: deque[RequestRecord] = deque(maxlen=recent)
        #: key id -> key name, refreshed before each scrape (names are not on records).
        self.key_names: dict[str, str] = {NONE: NONE}
        self._listeners: set[asyncio.Event] = set()
        self.recorded = 0  # records observed: a snapshot knows what it has seen
        self.closed = False  # the server is stopping: streams that follow this should end
        self.started = time.time()  # the counts cover since then (shown: a wall clock)
        self.ledger_stores = 0  # flushes of the ledger that stored records, seen so far
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_CountsCollector(self.counts, self.key_names))
        self.path_state = Gauge(
            "turnout_path_state", "0 ok, 1 cooling down, 2 gated", ["path"], registry=self.registry
        )
        self.key_budget = Gauge(
            "turnout_key_budget_remaining_usd",
            "Dollars left this period on a gateway key's budget",
            ["key"],
            registry=self.registry,
        )
        self.provider_budget = Gauge(
            "turnout_provider_budget_remaining_usd",
            "Dollars left this period on a provider path's budget",
            ["provider"],
            registry=self.registry,
        )
        self.headroom = Gauge(
            "turnout_path_headroom_ratio",
            "Share of a usage window left on a path (0 to 1), as its last response reported it",
            ["path", "window"],
            registry=self.registry,
        )

    def observe(self, record: RequestRecord) -> None:
        """The bus subscriber: count the record, keep it, wake the dashboard streams."""
        self.counts.add(record)
        self.recent.append(record)
        self.recorded += 1
        for listener in self._listeners:
            listener.set()

    def ledger_stored(self) -> None:
        """The ledger stored records: what its tables show changed, so wake the streams."""
        self.ledger_stores += 1
        for listener in self._listeners:
            listener.set()

    def listen(self) -> asyncio.Event:
        """An event set whenever a request is recorded; `unlisten` it when done."""
        listener = asyncio.Event()
        self._listeners.add(listener)
        return listener

    def unlisten(self, listener: asyncio.Event) -> None:
        self._listeners.discard(listener)

    def close(self) -> None:
        """Wake every listener for the last time (see `closed`)."""
        self.closed = True
        for listener in self._listeners:
            listener.set()

    def exposition(
        self,
        states: Mapping[str, str],
        key_budgets: Mapping[str, float],
        provider_budgets: Mapping[str, float],
        headroom: Mapping[tuple[str, str], float] | None = None,
    ) -> bytes:
        """The Prometheus text, with the gauges set from the state as it is now."""
        _replace(self.path_state, {path: PATH_STATES[state] for path, state in states.items()})
        _replace(self.key_budget, key_budgets)
        _replace(self.provider_budget, provider_budgets)
        self.headroom.clear()
        for (path, window), left in (headroom or {}).items():
            self.headroom.labels(path, window).set(left)
        return generate_latest(self.registry)


def _replace(gauge: Gauge, values: Mapping[str, Any]) -> None:
    """Set the gauge to exactly these series: a path or budget that went away disappears."""
    gauge.clear()
    for label, value in values.items():
        gauge.labels(label).set(float(value))
