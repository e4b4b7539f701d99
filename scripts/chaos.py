"""Chaos run: bounded load with injected faults through a real `turnout serve`.

    python scripts/chaos.py [--requests 12000] [--seconds 900] [--threads 12] [--seed 1] [--pace P]

Three upstreams on 127.0.0.1 (in a process of their own), two of them rolling faults (429 with
and without Retry-After, 5xx, 529, the usage gate, Cloudflare pages, slow and silent headers,
stalls, cuts, malformed JSON and SSE, resets, oversized bodies and streams, gzip bombs, sound
gzip answers) and one always healthy, behind one route; real OpenAI and Anthropic SDK
clients, streamed and not, 3% of streams hung up mid-answer; the ledger's disk fills and frees
over and over. Deadlines and fault timings are stretched by the machine's pace (its load per
core at the start, 1 to 3; `--pace` sets it). Prints the run's figures, then one summary line:

    chaos: 12000 requests, 0 failed, 0 truncated, 0 duplicated, ledger matches

Exits 1 if any request failed, came back truncated, doubled or garbled, the ledger disagrees
with the clients, or a retry broke Retry-After or the retry budget. Stops by itself: the count
or the time, whichever comes first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.chaos.load import ChaosPlan, machine_pace, run_chaos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=12_000)
    parser.add_argument("--seconds", type=float, default=900.0)
    parser.add_argument("--threads", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--pace", type=float, default=None, help="stretch deadlines and fault timings (measured)"
    )
    args = parser.parse_args()
    pace = args.pace if args.pace is not None else machine_pace()
    plan = ChaosPlan(args.requests, args.seconds, args.threads, args.seed, pace=pace)
    report = run_chaos(plan)
    print(report.details())
    print(report.summary())
    clean = report.summary().endswith("0 failed, 0 truncated, 0 duplicated, ledger matches")
    return 0 if clean and not report.retry_problems() else 1


if __name__ == "__main__":
    sys.exit(main())
