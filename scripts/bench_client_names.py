"""What 10,000 invented model names on a pattern route leave behind: metric series, path marks,
dashboard rows, memory, the time to build one dashboard snapshot and the longest the event loop
stalls meanwhile, with turnout's bounds and with them lifted (and the snapshot built on the
loop, as it was). Each name is recorded and gated as the relay does for a model the provider
does not know.

    .venv/bin/python scripts/bench_client_names.py [--names 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import time
import tracemalloc
from typing import Any

from turnout.diagnosis import diagnose
from turnout.edge.dashboard import AdminViews
from turnout.ledger.record import AttemptRecord, RequestRecord
from turnout.runtime.configs import load_config_text
from turnout.runtime.gateway import Gateway, Shared
from turnout.state import memory
from turnout.telemetry.labels import PathLabels
from turnout.telemetry.snapshot import snapshot_of

CONFIG = "providers:\n  p: {kind: mock}\nroutes:\n  fixed: [p/known-model]\n  '*': [p/*]\n"


def record(i: int, now: float) -> RequestRecord:
    path = f"p/made-up-{i}"
    return RequestRecord(
        id=f"r{i}", ts=now, model=f"made-up-{i}", route="*", client_dialect="openai",
        stream=False, status=404, outcome="model_not_found", category="model_not_found",
        attempts=[AttemptRecord(path, "model_not_found", "model_not_found")],
    )  # fmt: skip


async def run(names: int, bounded: bool) -> dict[str, Any]:
    memory.MAX_MARKS = 4096 if bounded else 10**9
    gateway = Gateway.build(load_config_text(CONFIG, "<bench>", {}), Shared())
    if not bounded:
        telemetry = gateway.shared.telemetry
        telemetry.labels = telemetry.counts.labels = PathLabels(dynamic=10**9)
    not_found = diagnose(status=404, body='{"error": {"code": "model_not_found"}}')
    now = time.time()
    gc.collect()
    tracemalloc.start()
    for i in range(names):
        gateway.shared.records.publish(record(i, now))
        await gateway.health.failed(f"p/made-up-{i}", not_found, 600, gated=True)
    exposition = gateway.shared.telemetry.exposition({}, {}, {})
    marks = await gateway.health.snapshot()
    used, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    started = time.perf_counter()
    snapshot = snapshot_of(gateway, marks, now)
    build_ms = (time.perf_counter() - started) * 1000
    stall_ms = await _longest_stall(gateway, bounded)
    series = [line for line in exposition.decode().splitlines() if line.startswith("turnout_")]
    rows = sum(len(route["paths"]) for route in snapshot["routes"])
    return {
        "series": len(series),
        "marks": len(marks),
        "rows": rows,
        "traffic rows": len(snapshot["traffic"]["paths"]),
        "memory MB": used / 1e6,
        "snapshot ms": build_ms,
        "loop stall ms": stall_ms,
    }


async def _longest_stall(gateway: Gateway, bounded: bool) -> float:
    """The longest gap between 1 ms ticks of the event loop while a dashboard snapshot is
    built: on a thread (as shipped) or on the loop itself (bounds lifted, as it was)."""
    ticks: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    if bounded:
        await AdminViews(lambda: gateway).snapshot()
    else:
        snapshot_of(gateway, await gateway.health.snapshot(), time.time())
    await asyncio.sleep(0.01)
    done.set()
    await task
    return max(b - a for a, b in itertools.pairwise(ticks)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--names", type=int, default=10_000)
    names = parser.parse_args().names
    lifted = asyncio.run(run(names, bounded=False))
    bounded = asyncio.run(run(names, bounded=True))
    print(f"{names} invented model names: bounds lifted -> as shipped (ratio)")
    for what, before in lifted.items():
        after = bounded[what]
        ratio = before / after if after else float("inf")
        print(f"  {what:>13}: {before:10.1f} -> {after:8.1f}  ({ratio:.1f}x)")


if __name__ == "__main__":
    main()
