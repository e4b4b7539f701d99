"""When a provider says a gated path serves again: read from every place providers put it.

Sources, most exact first:

- the body's `resets_at` / `resets_in_seconds` (the ChatGPT/Codex path's `usage_limit_reached`);
- Anthropic's subscription headers: a window whose `anthropic-ratelimit-unified-<w>-status` is
  `rejected` lifts at its `-reset`, with several rejected the latest (every window must have
  room again); when only the overall status is, the representative claim's window's `-reset`,
  else the overall `anthropic-ratelimit-unified-reset`;
- the Codex path's `x-codex-primary-*` / `x-codex-secondary-*` windows at 100%;
- `retry-after-ms` / `retry-after`;
- an exhausted `x-ratelimit-*` / `anthropic-ratelimit-*` limit's `-reset`;
- the words of the message ("resets 9pm (Europe/Berlin)", "limit reached|<epoch>"), as the
  diagnosis read them.

Header values may be epoch seconds, RFC 3339 times, HTTP dates or durations ("6m0s").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from turnout.diagnosis import Diagnosis
from turnout.diagnosis.retry_after import parse_duration
from turnout.routing.health import ProviderReset

__all__ = ["MAX_GATE_S", "ProviderReset", "provider_reset"]

#: The longest gate a stated reset sets (a weekly window, with a day to spare); beyond it the
#: path is probed anyway, in case the time was wrong.
MAX_GATE_S = 8 * 86400.0
UNIFIED = "anthropic-ratelimit-unified-"
#: The window abbreviations Anthropic's subscription headers are known to carry
#: (`anthropic-ratelimit-unified-<abbrev>-utilization`, `-reset`, `-status`), and the name the
#: same window has in the representative claim. Only these four are known as header families;
#: any other `<abbrev>` is still read, under its own spelling (see `unified_windows`).
UNIFIED_WINDOWS = {
    "5h": "five_hour",
    "7d": "seven_day",
    "7d_oi": "seven_day_overage_included",
    "overage": "overage",
}
_CLAIM_PREFIX = {claim: prefix for prefix, claim in UNIFIED_WINDOWS.items()}
#: `<abbrev>` of a per-window header: one token, so the account-wide
#: `overage-period-monthly-utilization` and the like are not windows.
_UNIFIED_WINDOW = re.compile(
    r"^" + UNIFIED + r"([a-z0-9_]{1,32})-(?:utilization|status|surpassed-threshold)$"
)
_CLAIM = re.compile(r"^[a-z0-9_]{1,40}$")
#: Windows that concern one model family, not the whole credential. The weekly Opus and Sonnet
#: limits are known as representative-claim values only (no header family of their own is
#: publicly known), so their reset is the claim's `anthropic-ratelimit-unified-reset`;
#: Claude Code names `seven_day_overage_included` after the one model it limits.
MODEL_FAMILY_WINDOWS = frozenset(
    {"seven_day_opus", "seven_day_sonnet", "seven_day_overage_included"}
)


def unified_windows(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """(abbreviation, window name) of each per-window family the headers carry, the known
    ones first. Read generically: a window Anthropic adds is seen under its own
    abbreviation rather than dropped, and no family is assumed that was never observed."""
    found = {m.group(1) for name in headers if (m := _UNIFIED_WINDOW.match(name))}
    known = [(a, n) for a, n in UNIFIED_WINDOWS.items() if a in found]
    return known + [(a, a) for a in sorted(found - UNIFIED_WINDOWS.keys())]


def instant(value: str, now: float) -> float | None:
    """The epoch time a header value names: epoch seconds, a delay, RFC 3339 or HTTP date."""
    value = value.strip()
    seconds = parse_duration(value)
    if seconds is not None:
        return seconds if seconds > 1e9 else now + seconds
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def window_name(minutes: str | None) -> str:
    """The window a Codex `-window-minutes` header names."""
    return {"300": "five_hour", "10080": "seven_day"}.get((minutes or "").strip(), "")


def provider_reset(
    status: int | None,
    body: str,
    headers: Mapping[str, str],
    diagnosis: Diagnosis,
    now: float,
) -> ProviderReset | None:
    """When the gate a failure shows lifts, by the provider's word; None if it said nothing.
    `headers` have lower-case names; `now` is epoch seconds."""
    for reader in (_from_body, _from_unified, _from_codex, _from_retry_after, _from_limits):
        found = reader(body, headers, now)
        if found is not None and found.at > now:
            return found
    if diagnosis.retry_after_s is not None and diagnosis.retry_after_s > 0:
        return ProviderReset(now + diagnosis.retry_after_s, "the provider's message")
    return None


def _error_object(body: str) -> dict[str, Any]:
    if not body or "resets_" not in body:
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    error = data.get("error")
    return error if isinstance(error, dict) else data


def _from_body(body: str, headers: Mapping[str, str], now: float) -> ProviderReset | None:
    error = _error_object(body)
    at, seconds = error.get("resets_at"), error.get("resets_in_seconds")
    if isinstance(at, int | float) and not isinstance(at, bool) and at > 1e9:
        return ProviderReset(float(at), "resets_at in the body")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0:
        return ProviderReset(now + float(seconds), "resets_in_seconds in the body")
    return None


def _from_unified(body: str, headers: Mapping[str, str], now: float) -> ProviderReset | None:
    rejected: list[ProviderReset] = []
    for prefix, window in unified_windows(headers):
        if headers.get(f"{UNIFIED}{prefix}-status", "").strip() != "rejected":
            continue
        name = f"{UNIFIED}{prefix}-reset"
        at = instant(headers[name], now) if name in headers else None
        if at is not None:
            rejected.append(ProviderReset(at, name, window))
    if rejected:
        return max(rejected, key=lambda r: r.at)
    if headers.get(f"{UNIFIED}status", "").strip() != "rejected":
        return None
    claim = headers.get(f"{UNIFIED}representative-claim", "").strip()
    claimed = _CLAIM_PREFIX.get(claim)
    window = claim if _CLAIM.match(claim) else ""
    names = [f"{UNIFIED}{claimed}-reset"] if claimed else []
    for header in [*names, f"{UNIFIED}reset"]:
        found = instant(headers[header], now) if header in headers else None
        if found is not None:
            return ProviderReset(found, header, window)
    return None


def _from_codex(body: str, headers: Mapping[str, str], now: float) -> ProviderReset | None:
    full: list[ProviderReset] = []
    for which in ("primary", "secondary"):
        used = headers.get(f"x-codex-{which}-used-percent")
        try:
            if used is None or float(used) < 100:
                continue
        except ValueError:
            continue
        window = window_name(headers.get(f"x-codex-{which}-window-minutes"))
        for suffix in ("reset-at", "reset-after-seconds"):
            name = f"x-codex-{which}-{suffix}"
            at = instant(headers[name], now) if name in headers else None
            if at is not None:
                full.append(ProviderReset(at, name, window))
                break
    return max(full, key=lambda r: r.at) if full else None


def _from_retry_after(body: str, headers: Mapping[str, str], now: float) -> ProviderReset | None:
    ms = parse_duration(headers.get("retry-after-ms", "") or "-")
    if ms is not None:
        return ProviderReset(now + ms / 1000.0, "retry-after-ms")
    value = headers.get("retry-after")
    at = instant(value, now) if value else None
    return ProviderReset(at, "retry-after") if at is not None else None


def _from_limits(body: str, headers: Mapping[str, str], now: float) -> ProviderReset | None:
    """The reset of a limit whose remaining count is 0."""
    found: list[ProviderReset] = []
    for name, value in headers.items():
        if not name.startswith(("x-ratelimit-reset", "anthropic-ratelimit-")):
            continue
        if "-reset" not in name or name.startswith(UNIFIED):
            continue
        remaining = headers.get(name.replace("-reset", "-remaining"))
        at = instant(value, now) if remaining is not None and remaining.strip() == "0" else None
        if at is not None:
            found.append(ProviderReset(at, name))
    return min(found, key=lambda r: r.at) if found else None
