"""One request as the ledger keeps it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(slots=True)
class AttemptRecord:
    path: str
    outcome: str  # "ok", a category, or "skipped"
    code: str | None = None


@dataclass(slots=True)
class RequestRecord:
    """Everything the ledger knows of one client request. Costs are those of the path that
    served it; a failed request costs nothing."""

    id: str
    ts: float  # unix time the request arrived
    model: str  # the name the client asked for
    route: str | None
    client_dialect: str
    stream: bool
    status: int
    outcome: str  # "ok" or the diagnosis code
    category: str | None = None
    key_id: str | None = None
    path: str | None = None  # provider/model that served it
    provider: str | None = None
    upstream_model: str | None = None
    upstream_dialect: str | None = None
    tokens_in: int = 0  # uncached input
    tokens_out: int = 0
    tokens_cached: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    ttfb_ms: float | None = None
    overhead_ms: float = 0.0
    attempts: list[AttemptRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # dropped parameters, continuation, ...

    def to_line(self) -> bytes:
        return orjson.dumps(self, option=orjson.OPT_APPEND_NEWLINE)  # orjson reads dataclasses

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestRecord:
        attempts = [AttemptRecord(**a) for a in data.pop("attempts", [])]
        return cls(**data, attempts=attempts)
