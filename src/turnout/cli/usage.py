"""`turnout usage`: what the ledger recorded, as a table and a chart, or the recent failures."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from turnout.config.load import ConfigError
from turnout.diagnosis.messages import normalize_language
from turnout.ledger.ledger import default_location
from turnout.ledger.store import Database, LedgerError, open_database
from turnout.ledger.usage_report import (
    GROUPINGS,
    FailedRequest,
    UsageGroup,
    UsageReport,
    failed_requests,
    parse_since,
    usage_report,
)
from turnout.runtime.configs import load_for_command

HELP = "requests, tokens and cost from the ledger by day, key, path, model or category; or failures"
#: Width when stdout is not a terminal, so rows stay one line each in a file or a pipe.
PIPE_WIDTH = 160
BAR_WIDTH = 30
BAR = "▇"
_HEADERS = ("requests", "failed", "tokens in", "tokens out", "cached", "cost (USD)", "p50 ms")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        default="7d",
        metavar="WHEN",
        help="how far back: 30m, 12h, 7d, 4w or an ISO date (default 7d)",
    )
    parser.add_argument(
        "--by", choices=GROUPINGS, default="day", help="how to group requests (default day)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--errors", action="store_true", help="list recent failed requests")
    parser.add_argument(
        "--limit", type=int, default=20, metavar="N", help="failures to list (default 20)"
    )
    parser.add_argument("--lang", choices=("en", "zh"), help="language (default: from locale)")


def run(args: argparse.Namespace) -> int:
    from turnout.cli.main import CommandError

    since = _since(args.since)
    if args.limit < 1:
        raise CommandError("--limit must be at least 1")
    location = _ledger_location(args.config)
    absent = _absent_reason(location)
    if absent is not None:
        # Not a mistake in the command (exit 2): there is nothing to report yet (exit 1).
        print(f"turnout usage: {absent}", file=sys.stderr)
        return 1
    db = _open(location)
    try:
        if args.errors:
            lang = normalize_language(args.lang)
            _print_failures(failed_requests(db, since, args.limit, lang), as_json=args.json)
        else:
            _print_report(usage_report(db, since, args.by), as_json=args.json)
    except LedgerError as exc:
        raise CommandError(str(exc), "is this a turnout ledger?") from exc
    finally:
        db.close()
    return 0


def _since(text: str) -> float:
    from turnout.cli.main import CommandError

    try:
        return parse_since(text, time.time())
    except ValueError as exc:
        raise CommandError(
            f"bad --since {text!r}", "write it as 30m, 12h, 7d, 4w or an ISO date like 2025-01-31"
        ) from exc


def _ledger_location(explicit: str | None) -> str:
    """The ledger the gateway with this config writes to ("off" when it writes none)."""
    from turnout.cli.main import CommandError

    try:
        config = load_for_command(explicit)
    except ConfigError as exc:
        raise CommandError(str(exc), exc.hint) from exc
    return config.ledger or default_location()


def _absent_reason(location: str) -> str | None:
    """Why there is no ledger to read, or None. Checked before opening, since opening a
    SQLite path would create an empty ledger."""
    if location == "off":
        return "the ledger is off in this config (ledger: off); nothing was recorded"
    if location.startswith(("postgresql://", "postgres://")):
        return None
    path = Path(location).expanduser()
    if not path.is_file():
        return f"no ledger yet at {path}; it is created when turnout serve handles requests"
    return None


def _open(location: str) -> Database:
    from turnout.cli.main import CommandError

    try:
        return open_database(location)
    except LedgerError as exc:
        raise CommandError(str(exc)) from exc


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)


def _print_report(report: UsageReport, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    console = _console()
    if not report.groups:
        console.print(f"no requests since {_local(report.since)}")
        return
    console.print(usage_table(report))
    console.print(usage_chart(report.groups, report.by))


def usage_table(report: UsageReport) -> Table:
    """One row per group, then the totals row."""
    table = Table(title=f"usage since {_local(report.since)}, by {report.by}")
    table.add_column(report.by)
    for header in _HEADERS:
        table.add_column(header, justify="right")
    for group in report.groups:
        table.add_row(group.label, *_cells(group))
    table.add_section()
    table.add_row("total", *_cells(report.totals), style="bold")
    return table


def _cells(group: UsageGroup) -> list[str]:
    p50 = group.p50_latency_ms
    return [
        f"{group.requests:,}",
        f"{group.failed:,}",
        f"{group.tokens_in:,}",
        f"{group.tokens_out:,}",
        f"{group.tokens_cached:,}",
        f"{group.cost_usd:.4f}",
        "-" if p50 is None else f"{p50:,.0f}",
    ]


def usage_chart(groups: list[UsageGroup], by: str) -> Table:
    """A bar per group: cost, or requests when nothing cost anything (local models, mocks)."""
    by_cost = any(group.cost_usd > 0 for group in groups)
    values = [group.cost_usd if by_cost else float(group.requests) for group in groups]
    top = max(values) or 1.0
    chart = Table.grid(padding=(0, 1))
    chart.title = f"{'cost (USD)' if by_cost else 'requests'} by {by}"
    for group, value in zip(groups, values, strict=True):
        bar = BAR * max(1 if value > 0 else 0, round(value / top * BAR_WIDTH))
        shown = f"{value:.4f}" if by_cost else f"{value:,.0f}"
        chart.add_row(Text(group.label), Text(f"{bar} {shown}", style="cyan"))
    return chart


def _print_failures(failures: list[FailedRequest], *, as_json: bool) -> None:
    if as_json:
        payload: dict[str, Any] = {"errors": [failure.to_dict() for failure in failures]}
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    console = _console()
    if not failures:
        console.print("no failed requests in this period")
        return
    for failure in failures:
        console.print(failure_text(failure))


def failure_text(failure: FailedRequest) -> Text:
    """Four lines: when and what, the paths tried, what it means, the first thing to do."""
    text = Text()
    text.append(f"{_local(failure.ts)}  ", style="dim")
    text.append(f"{failure.model}  HTTP {failure.status}  ")
    text.append(f"{failure.category or 'unknown'}/{failure.code}\n", style="bold red")
    text.append(f"  {failure.trail or '(no attempts)'}\n")
    text.append(f"  {failure.title}\n", style="bold")
    if failure.action:
        text.append(f"  → {failure.action}\n")
    return text


def _local(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")
