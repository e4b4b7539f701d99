"""The state replicas share: gated paths and probe leases, rate windows, budget spend.

`open_state(None)` keeps it in this process's memory (one gateway);
`open_state("sqlite:///path/state.sqlite3")` keeps it in a file that every gateway process of
one machine shares and that outlives a restart; `open_state("redis://...")` shares it through
Redis across machines, falling back on memory while Redis is away. The URL may carry
`prefix=NAME` (keys start with it; default `turnout`) and `timeout_ms=N` (default 100).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from turnout.state.base import (
    Admission,
    BudgetHold,
    BudgetRefused,
    Gate,
    RateRefused,
    RateTerms,
    Refused,
    Settlement,
    StateStatus,
    StateStore,
)
from turnout.state.memory import MemoryState

__all__ = [
    "Admission",
    "BudgetHold",
    "BudgetRefused",
    "Gate",
    "MemoryState",
    "RateRefused",
    "RateTerms",
    "Refused",
    "Settlement",
    "StateStatus",
    "StateStore",
    "open_state",
    "split_state_url",
]

#: URL schemes of a Redis state store.
DEFAULT_PREFIX = "turnout"
DEFAULT_TIMEOUT_MS = 100


def split_state_url(url: str) -> tuple[str, str, float]:
    """The Redis URL as redis-py takes it, the key prefix, and the socket timeout (s)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    prefix = query.pop("prefix", DEFAULT_PREFIX)
    timeout_ms = float(query.pop("timeout_ms", DEFAULT_TIMEOUT_MS))
    return urlunsplit(parts._replace(query=urlencode(query))), prefix, timeout_ms / 1000


def open_state(url: str | None) -> StateStore:
    """The store a config's `state:` names: memory for None or "memory", a `sqlite:` file,
    else Redis."""
    if url is None or url == "memory":
        return MemoryState()
    if url.startswith("sqlite:"):
        from turnout.state.sqlite_store import SqliteState

        return SqliteState(Path(url.removeprefix("sqlite:").removeprefix("//")).expanduser())
    from turnout.state.redis_store import RedisState  # redis is imported only when used

    redis_url, prefix, timeout_s = split_state_url(url)
    return RedisState(redis_url, prefix, timeout_s=timeout_s)
