"""Measure what shared state costs a request: the state operations alone, then whole requests
through `turnout serve` with `state:` in memory and in Redis.

    python scripts/bench_state.py [--redis redis://127.0.0.1:6379/0] [--requests 2000]

Prints p50 and p99 of: one path admission (the healthy path's only state call without a
gateway key), a key's admission (rate window and budget hold) and its settlement; then the
gateway's own overhead (`x-turnout-overhead-ms`) per request, with and without a budgeted key.
Runs on 127.0.0.1 only; every key it writes has its own prefix and is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import redis
import yaml

from turnout.state import BudgetHold, RateTerms, Settlement, StateStore, open_state

BODY = json.dumps(
    {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
).encode()


def quantiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):7.3f} ms   p99 {p99:7.3f} ms"


async def timed(count: int, step: Callable[[int], Awaitable[object]]) -> list[float]:
    samples = []
    for i in range(count):
        began = time.perf_counter()
        await step(i)
        samples.append((time.perf_counter() - began) * 1000)
    return samples


async def bench_store(name: str, store: StateStore, count: int) -> None:
    await store.start()
    terms = RateTerms("bench-key", rpm=1_000_000, tpm=None)
    ends = time.time() + 3600

    def hold(i: int) -> BudgetHold:
        return BudgetHold("key:bench:day:0", f"t{i}", 0.001, 1e9, 0.0, ends)

    async def settle(i: int) -> object:
        done = Settlement("key:bench:day:0", f"t{i}", 0.001, 0.0005, 0.0, ends)
        return await store.settle(None, 0, [done], time.time())

    admit = await timed(count, lambda i: store.admit("bench/healthy"))
    key: list[float] = []
    settled: list[float] = []
    for i in range(count):  # a hold, then its settlement: as many in flight as in real use
        began = time.perf_counter()
        await store.admit_key(terms, hold(i), time.time())
        middle = time.perf_counter()
        await settle(i)
        key.append((middle - began) * 1000)
        settled.append((time.perf_counter() - middle) * 1000)
    print(f"{name:7} path admission  {quantiles(admit)}")
    print(f"{name:7} key admission   {quantiles(key)}")
    print(f"{name:7} settlement      {quantiles(settled)}")
    await store.aclose()


def serve(config: Mapping[str, object], port: int, scratch: Path) -> subprocess.Popen[bytes]:
    path = scratch / f"config-{port}.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "turnout", "serve", "--config", str(path)]
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("gateway did not start")


def overheads(port: int, count: int, key: str | None) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    samples = []
    for _ in range(count):
        connection.request("POST", "/v1/chat/completions", BODY, headers)
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status
        samples.append(float(response.headers["x-turnout-overhead-ms"]))
    connection.close()
    return samples[count // 10 :]  # the first tenth warms up


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_key(ledger: Path) -> str:
    from turnout.ledger.keys import KeyStore
    from turnout.ledger.store import migrate, open_database

    db = open_database(str(ledger))
    migrate(db)
    _, secret = KeyStore(db).create("bench", budget_usd=1e6, budget_period="day", rpm=10**6)
    db.close()
    return secret


def bench_gateway(state: str | None, count: int, with_key: bool) -> list[float]:
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        ledger = scratch / "ledger.sqlite3"
        key = make_key(ledger) if with_key else None
        config = {
            "ledger": str(ledger),
            "providers": {"mock": {"kind": "mock", "script": [{"reply": "ok"}]}},
            "routes": {"m": ["mock/gpt-4o", "mock/gpt-4o-mini"]},
            **({"state": state} if state else {}),
        }
        port = free_port()
        proc = serve(config, port, scratch)
        try:
            return overheads(port, count, key)
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    prefix = f"turnout-bench-{uuid.uuid4().hex[:8]}"
    shared = f"{args.redis}?prefix={prefix}"
    try:
        asyncio.run(bench_store("memory", open_state(None), args.requests))
        asyncio.run(bench_store("redis", open_state(shared), args.requests))
        for with_key in (False, True):
            label = "budgeted key" if with_key else "no key"
            for state in (None, shared):
                name = "redis" if state else "memory"
                samples = bench_gateway(state, args.requests, with_key)
                print(f"{name:7} gateway overhead, {label:13} {quantiles(samples)}")
    finally:
        client = redis.Redis.from_url(args.redis)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


if __name__ == "__main__":
    main()
