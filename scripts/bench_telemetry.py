"""Measure what recording one request in the telemetry costs, with a dashboard listening.

    python scripts/bench_telemetry.py [--records 5000] [--rounds 5]

The observer runs on the request path for every request; prints the best round's cost per
request in microseconds, and that cost as a share of a 1 ms gateway overhead budget.
"""

from __future__ import annotations

import argparse
import time

from turnout.ledger.record import AttemptRecord, RequestRecord
from turnout.telemetry.metrics import Telemetry


def record(i: int) -> RequestRecord:
    return RequestRecord(
        id=f"r{i}", ts=time.time(), model="m", route="m", client_dialect="openai", stream=False,
        status=200, outcome="ok", key_id="k1", path="backup/gpt-4o-mini", provider="backup",
        tokens_in=100, tokens_out=20, tokens_cached=5, cost_usd=0.001, latency_ms=120.0,
        overhead_ms=0.4,
        attempts=[AttemptRecord("primary/gpt-4o", "quota", "insufficient_quota"),
                  AttemptRecord("backup/gpt-4o-mini", "ok")],
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    telemetry = Telemetry()
    telemetry.listen()  # a dashboard is open
    records = [record(i) for i in range(args.records)]
    best = float("inf")
    for _ in range(args.rounds):
        started = time.perf_counter()
        for one in records:
            telemetry.observe(one)
        best = min(best, (time.perf_counter() - started) / len(records))
    print(f"recording cost: {best * 1e6:.2f} µs per request ({best / 1e-3:.2%} of 1 ms)")


if __name__ == "__main__":
    main()
