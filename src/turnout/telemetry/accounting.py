"""From a finished exchange to a ledger record and a log line: tokens, cost, latency, trail.

The record is published on the record bus (the ledger and the counters subscribe); settling
the request's budgets with its cost is access's part (access/admission.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from turnout.catalog.prices import PriceOf
from turnout.config.model import Target
from turnout.ledger.record import AttemptRecord, RequestRecord
from turnout.ledger.usage import Usage, UsageMeter
from turnout.routing.chain import Attempt, Served
from turnout.routing.continuation import ClientStream, Leg
from turnout.telemetry.bus import RecordBus
from turnout.wire.sse import Event

log = logging.getLogger("turnout.relay")


#: Outcome of a request whose client hung up before its answer was complete.
CLIENT_GONE = "client_gone"
#: Outcomes whose tokens the provider charges for and the ledger prices.
BILLED_OUTCOMES = frozenset({"ok", CLIENT_GONE})


def trail(attempts: list[Attempt]) -> str:
    return " -> ".join(a.label() for a in attempts)


@dataclass(slots=True)
class Tally:
    """What one request used and how it went, filled in as the relay learns it."""

    request_id: str
    model: str
    client_dialect: str
    stream: bool
    started: float  # perf_counter at arrival
    arrived: float = field(default_factory=time.time)
    route: str | None = None
    key_id: str | None = None
    notes: list[str] = field(default_factory=list)
    first_byte: float | None = None  # perf_counter when the client got its first byte
    meter: UsageMeter | None = None
    reserved: float = 0.0  # dollars reserved against the key's budget before the call
    client: ClientStream | None = None  # what a streaming client has received
    hold: str = ""  # the reservation's token in the state store ("" for none)
    attempts: list[Attempt] = field(default_factory=list)  # filled by the chain as it walks
    served: Served | None = None  # the path whose answer is being relayed
    legs: list[Leg] = field(default_factory=list)  # a broken stream's attempts, when it broke
    closed: bool = False

    def observe(self, event: Event) -> None:
        if self.meter is not None:
            self.meter.observe(event)

    def mark_first_byte(self) -> None:
        if self.first_byte is None:
            self.first_byte = time.perf_counter()

    def usage_so_far(self) -> Usage:
        """What a request that ended early used: the usage its stream reported, and for output
        the provider had not counted yet, the text the client was sent (about 4 characters a
        token). A client that hangs up before the usage event is billed, not let off."""
        usage = self.meter.usage if self.meter is not None else Usage()
        if usage.tokens_out == 0 and self.client is not None:
            estimate = (len(self.client.so_far) + 3) // 4
            return Usage(usage.tokens_in, estimate, usage.tokens_cached)
        return usage


def close(
    tally: Tally,
    price_of: PriceOf,
    records: RecordBus,
    *,
    status: int,
    outcome: str,
    category: str | None,
    attempts: list[Attempt],
    served: Served | None = None,
    upstream_dialect: str | None = None,
    usage: Usage | None = None,
    upstream_s: float = 0.0,
) -> RequestRecord:
    """Publish the request's record (before its last bytes go out) and log one line."""
    now = time.perf_counter()
    usage = usage or (tally.meter.usage if tally.meter else Usage())
    cost = 0.0
    if tally.legs:
        usage, cost = _legs_total(price_of, tally)
    elif served is not None and outcome in BILLED_OUTCOMES:
        cost = cost_of(served.target, usage, price_of)
    record = RequestRecord(
        id=tally.request_id,
        ts=tally.arrived,
        model=tally.model,
        route=tally.route,
        client_dialect=tally.client_dialect,
        stream=tally.stream,
        status=status,
        outcome=outcome,
        category=category,
        key_id=tally.key_id,
        path=served.target.path if served else None,
        provider=served.target.provider if served else None,
        upstream_model=served.target.model if served else None,
        upstream_dialect=upstream_dialect,
        tokens_in=usage.tokens_in,
        tokens_out=usage.tokens_out,
        tokens_cached=usage.tokens_cached,
        cost_usd=round(cost, 8),
        latency_ms=round((now - tally.started) * 1000, 3),
        ttfb_ms=round((tally.first_byte - tally.started) * 1000, 3) if tally.first_byte else None,
        overhead_ms=round(max(0.0, now - tally.started - upstream_s) * 1000, 3),
        attempts=[
            AttemptRecord(a.target.path, a.outcome, a.diagnosis.code if a.diagnosis else None)
            for a in attempts
        ],
        notes=tally.notes,
    )
    tally.closed = True
    records.publish(record)
    log.info(
        "%s model=%s stream=%s status=%d outcome=%s attempts=%s tokens=%d/%d ms=%.1f",
        record.id,
        record.model,
        record.stream,
        record.status,
        record.outcome,
        trail(attempts),
        record.tokens_in + record.tokens_cached,
        record.tokens_out,
        record.latency_ms,
    )
    return record


def cost_of(target: Target, usage: Usage, price_of: PriceOf) -> float:
    """What `usage` on `target` costs at the configured prices (0 for an unpriced model)."""
    price = price_of(target.provider, target.model)
    if price is None:
        return 0.0
    return price.cost(usage.tokens_in, usage.tokens_out, usage.tokens_cached)


def _legs_total(price_of: PriceOf, tally: Tally) -> tuple[Usage, float]:
    """Every leg's tokens and cost, a broken one's included; estimates are noted."""
    total = Usage()
    for leg in tally.legs:
        total.tokens_in += leg.usage.tokens_in
        total.tokens_out += leg.usage.tokens_out
        total.tokens_cached += leg.usage.tokens_cached
    guessed = [
        f"{leg.target.path} {'+'.join(leg.estimated)}" for leg in tally.legs if leg.estimated
    ]
    if guessed:
        tally.notes.append(f"estimated tokens: {', '.join(guessed)}")
    return total, sum(cost_of(leg.target, leg.usage, price_of) for leg in tally.legs)
