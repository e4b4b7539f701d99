"""`turnout watch`: `turnout status`, live in the terminal, with the latest failovers.

Refreshes every `--every` seconds until Ctrl-C, or for `--iterations N` frames. In a terminal
each frame redraws the last; written to a pipe or a file the frames follow one another, so a
script (or a test) reads every one. The failovers (each with its one-line reason) come from
the dashboard's state, shown when the key given may read it (an admin key, or a gateway without
keys).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from rich.console import Console, Group
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
    parser.add_argument(
        "--iterations",
        type=_positive,
        metavar="N",
        help="stop after N frames (default: until Ctrl-C)",
    )


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


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


def screen(
    config: GatewayConfig,
    url: str,
    key: str | None,
    clock: Callable[[], float] = time.time,
    hint: str = "Ctrl-C to stop",
) -> Group:
    """One frame; `hint` ends its last line (how the watching ends)."""
    now = clock()
    parts: list[Any] = [table(config, fetch_paths(url, key), now)]
    found = failovers(url, key)
    if found:
        parts.append(failover_table(found))
    parts.append(Text(f"{url} at {datetime.fromtimestamp(now):%H:%M:%S}; {hint}", "dim"))
    return Group(*parts)


def ticks(iterations: int | None, pause: float, wait: Callable[[float], None]) -> Iterator[int]:
    """0, 1, 2, ... one per frame (`iterations` of them, endless with None), `wait(pause)`
    between two."""
    drawn = 0
    while iterations is None or drawn < iterations:
        if drawn:
            wait(pause)
        yield drawn
        drawn += 1


def frame_hint(drawn: int, iterations: int | None) -> str:
    """How watching ends, as the frame says it: Ctrl-C, or the count of frames left to it."""
    if iterations is None:
        return "Ctrl-C to stop"
    return f"frame {drawn + 1} of {iterations}"


def watch(
    config: GatewayConfig,
    url: str,
    key: str | None,
    *,
    every: float,
    iterations: int | None = None,
    console: Console | None = None,
    wait: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> None:
    """Draw the screen once per tick: in place in a terminal, one after another elsewhere."""
    console = console or Console()
    frames = ticks(iterations, max(0.2, every), wait)
    if not console.is_terminal:
        for drawn in frames:
            console.print(screen(config, url, key, clock, frame_hint(drawn, iterations)))
        return
    with Live(Text(""), console=console, auto_refresh=False) as live:
        for drawn in frames:
            hint = frame_hint(drawn, iterations)
            live.update(screen(config, url, key, clock, hint), refresh=True)


def run(args: argparse.Namespace) -> int:
    config = load_for_command(args.config)
    url = args.gateway or default_gateway_url(config)
    key = args.key or os.environ.get("TURNOUT_KEY")
    watch(config, url, key, every=args.every, iterations=args.iterations)
    return 0
