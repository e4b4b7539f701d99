"""`turnout watch`: `turnout status`, live in the terminal, with the latest failovers.

Refreshes every `--every` seconds until Ctrl-C. The failovers (each with its one-line reason)
come from the dashboard's state, shown when the key given may read it (an admin key, or a
gateway without keys).
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

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from turnout.cli.status import fetch_paths, table
from turnout.config.model import GatewayConfig
from turnout.doctor.gateway import default_gateway_url
from turnout.runtime.configs import load_for_command

HELP = "turnout status, live: routes, path states, reset times, headroom, latest failovers"
FAILOVERS_SHOWN = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gateway", metavar="URL", help="the gateway to watch (default: server.host:port)"
    )
    parser.add_argument(
        "--key", metavar="KEY", help="a gateway or admin key (default: $TURNOUT_KEY)"
    )
    parser.add_argument(
        "--every", type=float, default=2.0, metavar="S", help="seconds between refreshes"
    )


def failovers(url: str, key: str | None) -> list[dict[str, Any]]:
    """The dashboard's latest failures, or [] when this key may not read them."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    request = urllib.request.Request(url.rstrip("/") + "/dashboard/state", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            data = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return []
    found = data.get("failures") if isinstance(data, dict) else None
    return [f for f in found or [] if isinstance(f, dict)][:FAILOVERS_SHOWN]


def failover_table(found: list[dict[str, Any]]) -> Table:
    view = Table(title="latest failures and failovers", expand=True)
    for name in ("time", "path", "reason", "served by"):
        view.add_column(name, overflow="fold")
    for item in found:
        when = datetime.fromtimestamp(float(item.get("ts") or 0)).strftime("%H:%M:%S")
        title = item.get("title")
        reason = title.get("en") if isinstance(title, dict) else str(item.get("code"))
        view.add_row(
            when, str(item.get("path") or "-"), str(reason), str(item.get("served_by") or "-")
        )
    return view


def screen(config: GatewayConfig, url: str, key: str | None) -> Group:
    now = time.time()
    parts: list[Any] = [table(config, fetch_paths(url, key), now)]
    found = failovers(url, key)
    if found:
        parts.append(failover_table(found))
    parts.append(Text(f"{url} at {datetime.fromtimestamp(now):%H:%M:%S}; Ctrl-C to stop", "dim"))
    return Group(*parts)


def run(args: argparse.Namespace) -> int:
    config = load_for_command(args.config)
    url = args.gateway or default_gateway_url(config)
    key = args.key or os.environ.get("TURNOUT_KEY")
    with Live(screen(config, url, key), auto_refresh=False) as live:
        while True:
            time.sleep(max(0.2, args.every))
            live.update(screen(config, url, key), refresh=True)
