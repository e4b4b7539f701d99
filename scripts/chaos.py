"""Chaos run: bounded load with injected faults through a real `turnout serve`.

    python scripts/chaos.py [--requests 12000] [--seconds 900] [--threads 12] [--seed 1]

Three upstreams on 127.0.0.1, two of them rolling faults (429 with and without Retry-After,
5xx, 529, the usage gate, Cloudflare pages, slow and silent headers, stalls, cuts, malformed
JSON and SSE, resets) and one always healthy, behind one route; real OpenAI and Anthropic SDK
clients, streamed and not. Prints the run's figures, then one summary line:

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

from tests.chaos.load import ChaosPlan, run_chaos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=12_000)
    parser.add_argument("--seconds", type=float, default=900.0)
    parser.add_argument("--threads", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    plan = ChaosPlan(args.requests, args.seconds, args.threads, args.seed)
    report = run_chaos(plan)
    print(report.details())
    print(report.summary())
    clean = report.summary().endswith("0 failed, 0 truncated, 0 duplicated, ledger matches")
    return 0 if clean and not report.retry_problems() else 1


if __name__ == "__main__":
    sys.exit(main())
