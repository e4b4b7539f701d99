"""What a running gateway keeps out of service: its `GET /turnout/paths`, read once.

A gateway that is not running is an ordinary answer here (`reachable=False` with a note),
not an error: doctor works the same with or without one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp

from turnout.config.model import GatewayConfig

#: Listen-on-everything addresses are not addresses to call: ask the loopback instead.
_ANY_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


@dataclass(frozen=True, slots=True)
class GatedPath:
    """One path the gateway skips: `state` is "gated" or "cooling"."""

    path: str
    state: str
    category: str
    code: str
    seconds_left: float  # to the gateway's next probe
    provider_reset_at: float | None = None  # when the provider said it lifts (epoch s)


@dataclass(frozen=True, slots=True)
class GatewayState:
    url: str
    reachable: bool
    note: str = ""
    paths: dict[str, GatedPath] = field(default_factory=dict)

    def gate_for(self, path: str) -> GatedPath | None:
        """The gate on this provider/model path, or on its whole provider (a credential gate)."""
        return self.paths.get(path) or self.paths.get(path.split("/", 1)[0])


def default_gateway_url(config: GatewayConfig) -> str:
    """Where `turnout serve` with this config listens."""
    host = _ANY_HOSTS.get(config.server.host, config.server.host)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{config.server.port}"


def _gated(entry: Any) -> GatedPath | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        return None
    seconds = entry.get("seconds_left")
    reset = entry.get("provider_reset_at")
    return GatedPath(
        path=entry["path"],
        state=str(entry.get("state", "gated")),
        category=str(entry.get("category", "unknown")),
        code=str(entry.get("code", "unknown")),
        seconds_left=float(seconds) if isinstance(seconds, int | float) else 0.0,
        provider_reset_at=float(reset) if isinstance(reset, int | float) else None,
    )


async def _fetch(url: str, key: str | None, timeout: float) -> tuple[int, Any]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    limits = aiohttp.ClientTimeout(total=timeout)
    async with (
        aiohttp.ClientSession(timeout=limits) as session,
        session.get(url + "/turnout/paths", headers=headers) as response,
    ):
        if response.status != 200:
            return response.status, None
        return response.status, await response.json(content_type=None)


async def read_gateway(url: str, key: str | None, timeout: float) -> GatewayState:
    """The gateway's gated and cooling paths, or a note saying why they are unknown."""
    url = url.rstrip("/")
    try:
        status, data = await _fetch(url, key, timeout)
    except (aiohttp.ClientError, OSError, TimeoutError):
        return GatewayState(url, False, "no gateway answering there (not running?)")
    except ValueError:
        return GatewayState(url, False, "the answer was not JSON: is that a turnout gateway?")
    if status == 401:
        return GatewayState(url, False, "the gateway refused the key (server.keys[0])")
    if status != 200 or not isinstance(data, dict):
        return GatewayState(url, False, f"HTTP {status} from /turnout/paths: an older turnout?")
    gated = (_gated(entry) for entry in data.get("paths") or [])
    return GatewayState(url, True, "", {g.path: g for g in gated if g is not None})
