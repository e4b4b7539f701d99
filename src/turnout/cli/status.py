"""`turnout status`: one table of a running gateway's paths, the terminal's width.

Each path of the config's routes (and each path the gateway has seen or marked) with its
state, why it is out of service, when the provider says it resets, when the gateway will
probe it next (two different clocks), and its headroom per usage window. Read from the
gateway's `GET /turnout/paths`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from turnout.config.model import GatewayConfig
from turnout.doctor.gateway import default_gateway_url
from turnout.runtime.configs import load_for_command

HELP = "a running gateway's paths: state, provider reset, next probe, headroom"
_WINDOW_LABELS = {"five_hour": "5h", "seven_day": "7d", "seven_day_opus": "7d opus",
                  "seven_day_sonnet": "7d sonnet",
                  "seven_day_overage_included": "7d overage incl."}  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gateway", metavar="URL", help="the gateway to ask (default: server.host:port)"
    )
    parser.add_argument(
        "--key", metavar="KEY", help="a gateway key, if it needs one (default: $TURNOUT_KEY)"
    )
    parser.add_argument("--json", action="store_true", help="print what the gateway said")


def fetch_paths(url: str, key: str | None, timeout: float = 5.0) -> dict[str, Any]:
    """The gateway's /turnout/paths, or a CommandError saying why it could not be read."""
    from turnout.cli.main import CommandError

    headers = {"authorization": f"Bearer {key}"} if key else {}
    request = urllib.request.Request(url.rstrip("/") + "/turnout/paths", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        hint = "pass --key or set TURNOUT_KEY" if exc.code == 401 else None
        raise CommandError(f"{url} answered {exc.code}", hint) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise CommandError(f"no gateway answers at {url}", "is `turnout serve` running?") from exc
    if not isinstance(data, dict):
        raise CommandError(f"{url} sent something that is not a path list")
    return data


def _span(seconds: float) -> str:
    seconds = max(0, round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds % 60:02d}s"


def _when(epoch: float | None, now: float) -> str:
    if epoch is None:
        return "-"
    stamp = datetime.fromtimestamp(epoch).strftime("%a %H:%M")
    return f"{stamp} (in {_span(epoch - now)})"


def _headroom(windows: list[dict[str, Any]]) -> str:
    parts = []
    for window in windows:
        name = _WINDOW_LABELS.get(str(window.get("name")), str(window.get("name")))
        left = window.get("left")
        text = f"{name} {float(left):.0%} left" if isinstance(left, int | float) else name
        warning_at = window.get("warning_at")
        if window.get("status") == "rejected":
            text += " (rejected)"
        elif isinstance(warning_at, int | float):  # the provider's own early warning
            text += f" (past the {float(warning_at):.0%} warning)"
        parts.append(text)
    return ", ".join(parts) or "-"


def rows(config: GatewayConfig, data: dict[str, Any], now: float) -> list[tuple[str, ...]]:
    """One row per path: path, state, why, provider reset, next probe, headroom."""
    marks = {m["path"]: m for m in data.get("paths", []) if isinstance(m, dict) and "path" in m}
    headroom: dict[str, Any] = data.get("headroom") or {}
    paths = [t.path for r in config.routes.values() for t in r.targets if "*" not in t.path]
    for path in [*marks, *headroom]:
        if path not in paths and "/" in path:
            paths.append(path)
    out: list[tuple[str, ...]] = []
    for path in paths:
        mark = marks.get(path) or marks.get(path.split("/", 1)[0])
        windows = (headroom.get(path) or {}).get("windows") or []
        if mark is None:
            out.append((path, "ok", "", "-", "-", _headroom(windows)))
            continue
        reset = mark.get("provider_reset_at")
        probe = f"in {_span(float(mark.get('seconds_left') or 0))}"
        why = f"{mark.get('category')}/{mark.get('code')}: {mark.get('title')}"
        out.append((path, str(mark["state"]), why, _when(reset, now), probe, _headroom(windows)))
    return out


def table(config: GatewayConfig, data: dict[str, Any], now: float) -> Table:
    view = Table(title="turnout paths", expand=True)
    for name in ("path", "state", "why", "provider reset", "next probe", "headroom"):
        view.add_column(name, overflow="fold")
    for row in rows(config, data, now):
        style = {"gated": "red", "cooling": "yellow"}.get(row[1], "")
        view.add_row(*row, style=style)
    return view


def run(args: argparse.Namespace) -> int:
    config = load_for_command(args.config)
    url = args.gateway or default_gateway_url(config)
    data = fetch_paths(url, args.key or os.environ.get("TURNOUT_KEY"))
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    Console().print(table(config, data, time.time()))
    return 0
