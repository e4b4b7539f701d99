"""`turnout doctor`: send one tiny real request down every path and say which routes work."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from turnout.config.load import ConfigError
from turnout.config.model import GatewayConfig
from turnout.doctor import (
    DEFAULT_TIMEOUT_S,
    DoctorReport,
    PathResult,
    default_gateway_url,
    plan_paths,
    run_doctor,
)
from turnout.doctor.report import render_report, report_json
from turnout.runtime.configs import load_for_command

HELP = "probe every configured path with a one-token request and show which routes work"
#: Width of the table when stdout is not a terminal (a file or a pipe): wide enough to stay
#: one row per line instead of rich's 80-column default.
PIPE_WIDTH = 200


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--route", metavar="NAME", help="probe only this route's paths")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"seconds each probe may take (default {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--gateway",
        metavar="URL",
        help="a running gateway to ask which paths it gates (default: server.host:port)",
    )


def run(args: argparse.Namespace) -> int:
    config = _load(args)
    gateway_url = args.gateway or default_gateway_url(config)
    total = len(plan_paths(config, args.route))
    with progress_display(total) as on_done:
        report = asyncio.run(
            run_doctor(
                config,
                gateway_url=gateway_url,
                route=args.route,
                timeout=args.timeout,
                on_done=on_done,
            )
        )
    _print(report, as_json=args.json)
    return report.exit_code


def _load(args: argparse.Namespace) -> GatewayConfig:
    """The config, with the command's mistakes turned into one line and a hint."""
    from turnout.cli.main import CommandError

    if args.timeout <= 0:
        raise CommandError("--timeout must be more than 0 seconds")
    try:
        config = load_for_command(args.config)
    except ConfigError as exc:
        raise CommandError(str(exc), exc.hint) from exc
    if not config.routes:
        raise CommandError(
            f"nothing to probe: {config.source} has no routes",
            "write a config with turnout init, or set a provider key such as ANTHROPIC_API_KEY",
        )
    if args.route is not None and args.route not in config.routes:
        known = ", ".join(config.routes) or "none"
        raise CommandError(f"no route named {args.route!r}", f"configured routes: {known}")
    return config


def _print(report: DoctorReport, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report_json(report), ensure_ascii=False, indent=2))
        return
    render_report(report, Console(width=table_width()))


def table_width() -> int | None:
    """The terminal's width (None: rich asks it); off a terminal `COLUMNS` if set, else wide."""
    if sys.stdout.isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else PIPE_WIDTH


@contextmanager
def progress_display(total: int) -> Iterator[Callable[[PathResult], None]]:
    """A live bar on a terminal's stderr; one plain line per finished probe otherwise."""
    if not sys.stderr.isatty():
        print(f"probing {total} path(s)...", file=sys.stderr, flush=True)
        yield lambda result: print(f"  {_outcome(result)}", file=sys.stderr, flush=True)
        return
    columns = (SpinnerColumn(), TextColumn("probing paths"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("probe", total=total)
        yield lambda _result: progress.advance(task)


def _outcome(result: PathResult) -> str:
    """One line for the plain progress: the path and how it did."""
    if result.plan.skip_reason is not None:
        return f"{result.plan.path}: not probed"
    if result.diagnosis is None:
        return f"{result.plan.path}: ok ({result.latency_ms} ms)"
    d = result.diagnosis
    return f"{result.plan.path}: {d.category.value}/{d.code} ({result.latency_ms} ms)"
