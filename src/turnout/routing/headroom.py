"""Headroom: how much of each usage window a path has left, read from every response's headers.

Providers report it on successes as well as failures:

- Anthropic subscriptions: `anthropic-ratelimit-unified-<window>-utilization` (the share
  used, 0 to 1), `-reset` and `-status` per window, and `-surpassed-threshold` once the
  window's use has passed a warning threshold (the share named, such as 0.9: the provider's
  early warning, which Claude Code shows as "approaching ... limit"). `5h`, `7d`, `7d_oi` and
  `overage` are the windows known to appear; any other `<window>` is read the same way, under
  its own spelling, since no public source lists them all (see `resets.unified_windows`);
- Anthropic API keys: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
  {limit,remaining,reset}`;
- OpenAI-compatible paths: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`;
- the ChatGPT/Codex path: `x-codex-{primary,secondary}-used-percent`, `-window-minutes`,
  `-reset-at`.

The board keeps the latest reading per path in memory (it is renewed by the next response),
bounded in the number of paths it remembers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from turnout.routing.resets import UNIFIED, instant, unified_windows, window_name

__all__ = ["HeadroomBoard", "Window", "read_windows"]

#: The most paths remembered (the oldest reading is dropped first).
MAX_PATHS = 1024
_COUNTED = ("requests", "tokens", "input-tokens", "output-tokens")


@dataclass(frozen=True, slots=True)
class Window:
    """One usage window of a path: the share used (0 to 1), when it resets (epoch s)."""

    name: str
    used: float
    resets_at: float | None = None
    status: str = ""  # Anthropic's "allowed", "allowed_warning", "rejected"; else ""
    #: The warning threshold the provider says this window's use has passed (0 to 1), if any.
    warning_at: float | None = None

    @property
    def left(self) -> float:
        return max(0.0, 1.0 - self.used)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "used": round(self.used, 4),
            "left": round(self.left, 4),
            "resets_at": self.resets_at,
            "status": self.status or None,
            "warning_at": self.warning_at,
        }


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _share(value: str | None) -> float | None:
    """A share of a window, 0 to 1 (a percentage, if ever sent as one, is read as such)."""
    number = _number(value)
    if number is None or number < 0:
        return None
    return number / 100.0 if number > 1.0 else number


def _unified(headers: Mapping[str, str], now: float) -> list[Window]:
    found = []
    for prefix, name in unified_windows(headers):
        warning_at = _share(headers.get(f"{UNIFIED}{prefix}-surpassed-threshold"))
        used = _share(headers.get(f"{UNIFIED}{prefix}-utilization"))
        if used is None:
            if warning_at is None:
                continue
            used = warning_at  # past the threshold: at least that much is used
        reset = headers.get(f"{UNIFIED}{prefix}-reset")
        status = headers.get(f"{UNIFIED}{prefix}-status", "").strip()
        at = instant(reset, now) if reset else None
        found.append(Window(name, used, at, status, warning_at))
    return found


def _counted(headers: Mapping[str, str], now: float) -> list[Window]:
    """Limit/remaining pairs in OpenAI's (`x-ratelimit-limit-requests`) and Anthropic's
    (`anthropic-ratelimit-requests-limit`) spellings."""
    found = []
    for what in _COUNTED:
        for limit_h, left_h, reset_h in (
            (f"x-ratelimit-limit-{what}", f"x-ratelimit-remaining-{what}",
             f"x-ratelimit-reset-{what}"),
            (f"anthropic-ratelimit-{what}-limit", f"anthropic-ratelimit-{what}-remaining",
             f"anthropic-ratelimit-{what}-reset"),
        ):  # fmt: skip
            limit, left = _number(headers.get(limit_h)), _number(headers.get(left_h))
            if limit is None or left is None or limit <= 0:
                continue
            reset = headers.get(reset_h)
            at = instant(reset, now) if reset else None
            found.append(Window(what, min(1.0, max(0.0, 1.0 - left / limit)), at))
    return found


def _codex(headers: Mapping[str, str], now: float) -> list[Window]:
    found = []
    for which in ("primary", "secondary"):
        used = _number(headers.get(f"x-codex-{which}-used-percent"))
        if used is None:
            continue
        name = window_name(headers.get(f"x-codex-{which}-window-minutes")) or which
        reset = headers.get(f"x-codex-{which}-reset-at")
        found.append(Window(name, min(1.0, used / 100.0), instant(reset, now) if reset else None))
    return found


def read_windows(headers: Mapping[str, str], now: float) -> list[Window]:
    """Every window the headers (lower-case names) report; [] when they report none."""
    if not any(
        name.startswith(("anthropic-ratelimit-", "x-ratelimit-", "x-codex-")) for name in headers
    ):
        return []
    return [*_unified(headers, now), *_counted(headers, now), *_codex(headers, now)]


class HeadroomBoard:
    """The latest windows seen per path (`provider/model`, or `provider@client/model`)."""

    def __init__(self, max_paths: int = MAX_PATHS) -> None:
        self._paths: OrderedDict[str, tuple[float, tuple[Window, ...]]] = OrderedDict()
        self._max = max_paths

    def observe(self, path: str, headers: Mapping[str, str], now: float) -> None:
        windows = read_windows(headers, now)
        if not windows:
            return
        self._paths[path] = (now, tuple(windows))
        self._paths.move_to_end(path)
        while len(self._paths) > self._max:
            self._paths.popitem(last=False)

    def windows(self, path: str, now: float) -> tuple[Window, ...]:
        """The path's windows, without those whose reset has passed (they are full again)."""
        seen = self._paths.get(path)
        if seen is None:
            return ()
        return tuple(w for w in seen[1] if w.resets_at is None or w.resets_at > now)

    def least_left(self, path: str, now: float) -> float | None:
        """The smallest share left in any of the path's windows; None when none is known."""
        windows = self.windows(path, now)
        return min(w.left for w in windows) if windows else None

    def shares_left(self, now: float) -> dict[tuple[str, str], float]:
        """(path, window) -> the share left, for /metrics."""
        return {
            (path, window.name): window.left
            for path in self._paths
            for window in self.windows(path, now)
        }

    def snapshot(self, now: float) -> dict[str, dict[str, object]]:
        return {
            path: {
                "observed_at": seen_at,
                "windows": [w.to_dict() for w in self.windows(path, now)],
            }
            for path, (seen_at, _) in self._paths.items()
            if self.windows(path, now)
        }
