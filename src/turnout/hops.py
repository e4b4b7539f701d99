"""Hops: how a gateway knows a request has come back to it.

A provider whose base URL leads back to this gateway (`ANTHROPIC_BASE_URL` exported for Claude
Code in the shell that runs turnout, two gateways pointing at each other) would relay each
request to itself until sockets run out. Every upstream request carries a `Via` entry naming
this process, after the entries the client's request arrived with (RFC 9110, section 7.6.3);
a request whose `Via` already names this process, or has passed through `MAX_TURNOUT_HOPS`
turnout gateways, is refused at the edge instead of relayed again.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar

#: This process's name in `Via` headers: unique per process, so replicas chain without alarm.
INSTANCE = f"turnout-{uuid.uuid4().hex[:12]}"
#: More gateways than any sane chain of teams and machines has in a row.
MAX_TURNOUT_HOPS = 8
#: Longest `Via` passed on: a hostile client cannot make the upstream header grow without end.
MAX_VIA_CHARS = 2048

#: The `Via` of the request being served (set by the edge for each request's task).
incoming_via: ContextVar[str] = ContextVar("incoming_via", default="")


def outgoing_via() -> str:
    """The `Via` an upstream request carries: what came in, then this gateway."""
    ours = f"1.1 {INSTANCE}"
    earlier = incoming_via.get()[-MAX_VIA_CHARS:]
    return f"{earlier}, {ours}" if earlier else ours


def loop_reason(via: str) -> str | None:
    """Why a request with this `Via` must not be relayed again, or None when it may be."""
    if INSTANCE in via:
        return "this request has already passed through this gateway"
    if via.count("turnout-") >= MAX_TURNOUT_HOPS:
        return f"this request has passed through {MAX_TURNOUT_HOPS} turnout gateways"
    return None
