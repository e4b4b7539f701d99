"""How long to wait before the same request can succeed, from headers, body fields or text.

Sources, in order of trust: `retry-after-ms`, `retry-after` (seconds or an HTTP date), the
provider's reset headers for the limit that is exhausted, Gemini's `retryDelay`, then phrases
such as "try again in 9m38s", "retry after 6 seconds", "resets 4pm (UTC)" or Claude's
"usage limit reached|<epoch>".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s)")
_DURATION = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*(?:ms|h|m|s)\s*)+$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

_TEXT_DELAYS = (
    # a Retry-After header pasted with the log as a mapping: "'retry-after': '60'"
    re.compile(r"[\"']retry-after[\"']\s*:\s*[\"'](\d+(?:\.\d+)?)[\"']"),
    # "try again in 9m38s", "Please try again in 7.66s", "your quota will reset after 8h44m7s"
    re.compile(
        r"(?:try again|retry|retrying|resets?) (?:in|after) "
        r"((?:\d+(?:\.\d+)?\s*(?:ms|h|m|s)\s*)+)\b"
    ),
    # "retry after 6 seconds", "try again in 30 seconds", "wait 2 minutes"
    re.compile(
        r"(?:retry after|try again in|try again after|wait|retry in)\s+(\d+(?:\.\d+)?)\s*"
        r"(milliseconds?|seconds?|secs?|minutes?|mins?|hours?)\b"
    ),
    # "请在 20 秒后重试", "请 30 秒后再试"
    re.compile(r"(\d+(?:\.\d+)?)\s*(秒|分钟|小时)\s*后"),
)
_WORD_UNITS = {
    "millisecond": 0.001,
    "milliseconds": 0.001,
    "second": 1.0,
    "seconds": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "minute": 60.0,
    "minutes": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "秒": 1.0,
    "分钟": 60.0,
    "小时": 3600.0,
}
_EPOCH_LIMIT = re.compile(r"limit reached\|(\d{10})")
_RESETS_AT = re.compile(
    r"resets?(?: at)? (\d{1,2})(?::(\d{2}))?\s*(am|pm)?\s*\(([^)]+)\)", re.IGNORECASE
)


def parse_duration(value: str) -> float | None:
    """Seconds in a Go-style duration ("6m0s", "1.5s", "20ms") or a plain number of seconds."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    if not _DURATION.match(value):
        return None
    return sum(float(n) * _UNITS[u] for n, u in _DURATION_PART.findall(value))


def _header_seconds(value: str, now: datetime) -> float | None:
    seconds = parse_duration(value)
    if seconds is not None:
        # Some providers send an epoch timestamp where others send a delay.
        return max(0.0, seconds - now.timestamp()) if seconds > 1e9 else seconds
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _from_reset_headers(headers: Mapping[str, str], now: datetime) -> float | None:
    """The reset time of an exhausted limit (remaining == 0), else of the latest one."""
    exhausted: list[float] = []
    every: list[float] = []
    for name, value in headers.items():
        if not name.endswith("-reset") and "-reset-" not in name:
            continue
        if not (name.startswith("x-ratelimit-") or name.startswith("anthropic-ratelimit-")):
            continue
        seconds = _header_seconds(value, now)
        if seconds is None:
            continue
        every.append(seconds)
        remaining = headers.get(name.replace("-reset", "-remaining"))
        if remaining is not None and remaining.strip() == "0":
            exhausted.append(seconds)
    if exhausted:
        return min(exhausted)
    return max(every) if every else None


def _from_text(text: str, now: datetime) -> float | None:
    for pattern in _TEXT_DELAYS:
        match = pattern.search(text)
        if not match:
            continue
        if match.lastindex == 1:
            return parse_duration(match.group(1).replace(" ", ""))
        return float(match.group(1)) * _WORD_UNITS[match.group(2)]
    epoch = _EPOCH_LIMIT.search(text)
    if epoch:
        return max(0.0, int(epoch.group(1)) - now.timestamp())
    return _from_reset_clock(text, now)


def _from_reset_clock(text: str, now: datetime) -> float | None:
    """ "resets 4pm (UTC)" or "resets 16:30 (Europe/Berlin)": seconds until that wall time."""
    match = _RESETS_AT.search(text)
    if not match:
        return None
    hour, minute, meridiem, zone = match.groups()
    tz = _zone(zone.strip())
    hour_24 = int(hour) % 12 + (12 if (meridiem or "").lower() == "pm" else 0)
    if not meridiem:
        hour_24 = int(hour)
    if hour_24 > 23:
        return None
    local_now = now.astimezone(tz)
    reset = local_now.replace(hour=hour_24, minute=int(minute or 0), second=0, microsecond=0)
    if reset <= local_now:
        reset += timedelta(days=1)
    return (reset - local_now).total_seconds()


@cache
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def _zone(name: str) -> tzinfo:
    """The time zone a message names, in any letter case; UTC when unknown."""
    real = _zone_names().get(name.lower())
    if real is None:
        return UTC
    try:
        return ZoneInfo(real)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def retry_after_seconds(
    headers: Mapping[str, str],
    text: str,
    retry_delay: str | None,
    now: datetime | None = None,
) -> float | None:
    """Seconds to wait, or None when nothing says. `headers` must have lower-case names."""
    now = now or datetime.now(UTC)
    ms = headers.get("retry-after-ms")
    if ms is not None:
        seconds = parse_duration(ms)
        if seconds is not None:
            return seconds / 1000.0
    after = headers.get("retry-after")
    if after is not None:
        seconds = _header_seconds(after, now)
        if seconds is not None:
            return seconds
    seconds = _from_reset_headers(headers, now)
    if seconds is not None:
        return seconds
    if retry_delay:
        seconds = parse_duration(retry_delay)
        if seconds is not None:
            return seconds
    return _from_text(text, now) if text else None
