"""Soak: a long bounded run through `turnout serve`; resident memory and open descriptors.

    python scripts/soak.py [--seconds 600] [--warmup 20] [--threads 8]
                           [--model-names 10000] [--dashboard | --no-dashboard]

While it runs, a tenant invents `--model-names` model names on a pattern route (half in the
warm-up, half after) and a dashboard stays open (unless `--no-dashboard`). Prints one line with
requests, RSS (VmRSS), the count of /proc/PID/fd, metric series, path marks and dashboard rows
after the warm-up and at the end (all read with the gateway idle), plus a sample every five
seconds. Exits 1 if memory grew by 30 MB or more, descriptors by more than 5, or series, marks
or rows at all. Loopback only; stops by itself.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.chaos.soak import SoakPlan, run_soak

from turnout.state.memory import MAX_MARKS

MAX_GROWTH_MB = 30.0
MAX_FD_GROWTH = 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--model-names", type=int, default=10_000, help="invented model names for a pattern route"
    )
    parser.add_argument(
        "--dashboard",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep a dashboard open",
    )
    args = parser.parse_args()
    plan = SoakPlan(
        seconds=args.seconds,
        warmup_s=args.warmup,
        threads=args.threads,
        model_names=args.model_names,
        dashboard=args.dashboard,
    )
    report = run_soak(plan)
    for sample in report.samples:
        print(f"  t={sample.at_s:6.1f} s  RSS {sample.rss_kb / 1024:6.1f} MB  fds {sample.fds}")
    print(f"  statuses: {dict(sorted(report.statuses.items()))}")
    print(f"  invented names: {dict(sorted(report.name_statuses.items()))}")
    print(report.summary())
    start, end = report.start, report.end
    grew = (
        report.rss_growth_mb >= MAX_GROWTH_MB
        or report.fd_growth > MAX_FD_GROWTH
        or end.invented_series > start.invented_series
        or end.marks > MAX_MARKS
        or end.rows > start.rows
    )
    return 1 if grew else 0


if __name__ == "__main__":
    sys.exit(main())
