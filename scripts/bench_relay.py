"""Measure what turnout adds: the same load straight to a fast upstream and through the gateway.

    python scripts/bench_relay.py [--requests 2000] [--seconds 10] [--sizes 1k,200k,1m]
                                  [--connections 16,64] [--workers 1]

The gateway runs with its defaults (SQLite ledger, logging at info), as a user runs it. Prints,
for each body size (agents send the whole conversation every turn: 100 KB to 1 MB is the
normal case) and for non-streaming and streaming requests over one connection, the latency
direct and through turnout at p50 and p99, the added time and the ratio to direct, and the
gateway's CPU time per request; with 16 and 64 connections (wrk, when installed) requests per
second; and the gateway's resident memory (each worker's, with `--workers N`). For reference,
the same figures for a bare pass-through on the same libraries (`bench/bare_relay.py`: no
routing, ledger or logging), the floor of any gateway built on them.
Targets on a 2-core machine: < 1 ms added at p50, < 2 ms added to the first streamed byte,
> 2,000 requests/s with 16 connections, < 150 MB resident.

Everything runs on 127.0.0.1 and stops by itself. Where `taskset` exists the gateway gets core 0
and the upstream and load generator core 1, so they do not steal each other's time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
BODY = json.dumps(
    {
        "model": "bench",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant. " * 20},
            {"role": "user", "content": "Summarise the following text. " + "lorem ipsum " * 120},
        ],
        "max_tokens": 256,
    }
).encode()
STREAM_BODY = BODY[:-1] + b', "stream": true}'
SIZES = {"1k": 1_000, "200k": 200_000, "1m": 1_000_000}


def conversation(size: int) -> bytes:
    """An agent's request of about `size` bytes: a system prompt, then turns of user text,
    assistant tool calls and tool results, as a coding agent's history looks."""
    messages: list[dict[str, object]] = [
        {"role": "system", "content": "You are a coding agent. Use the tools. " * 10}
    ]
    turn = 0
    while len(json.dumps(messages)) < size - 200:
        call = f"call_{turn}"
        messages += [
            {"role": "user", "content": f"Step {turn}: read the next file and fix the bug."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call,
                        "type": "function",
                        "function": {
                            "name": "read_file",
                            "arguments": f'{{"path": "src/m{turn}.py"}}',
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call, "content": "def f(x):\n    return x + 1\n" * 60},
        ]
        turn += 1
    return json.dumps({"model": "bench", "messages": messages, "max_tokens": 256}).encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(core: int, command: list[str]) -> list[str]:
    return ["taskset", "-c", str(core), *command] if shutil.which("taskset") else command


def wait_for_port(port: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


@contextmanager
def process(command: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def gateway_pids(pid: int) -> list[int]:
    """The gateway's process and, under `--workers N`, its workers."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid, *(int(child) for child in children.read_text().split())]


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for each in gateway_pids(pid):
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def rss_mb(pid: int) -> list[float]:
    sizes = []
    for each in gateway_pids(pid):
        match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{each}/status").read_text())
        sizes.append(int(match.group(1)) / 1024 if match else float("nan"))
    return sizes


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def latencies(
    port: int, stream: bool, count: int, body: bytes = BODY
) -> tuple[list[float], list[float]]:
    """(first byte, whole response) seconds for `count` requests over one kept-alive connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    if stream:
        body = body[:-1] + b', "stream": true}'

    headers = {"content-type": "application/json", "authorization": "Bearer bench"}
    first: list[float] = []
    whole: list[float] = []
    for index in range(count + count // 10):
        start = time.perf_counter()
        connection.request("POST", "/v1/chat/completions", body, headers)
        response = connection.getresponse()
        head = response.read1(65536)
        got_first = time.perf_counter()
        rest = response.read()
        done = time.perf_counter()
        if response.status != 200 or (stream and b"[DONE]" not in head + rest):
            raise RuntimeError(f"bad response {response.status}: {(head + rest)[:200]!r}")
        if index >= count // 10:  # the first tenth warms up
            first.append(got_first - start)
            whole.append(done - start)
    connection.close()
    return first, whole


def wrk(port: int, seconds: int, connections: int = 16) -> tuple[float, int] | None:
    if not shutil.which("wrk"):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        body = BODY.decode().replace("\\", "\\\\").replace('"', '\\"')
        script.write(f'wrk.method = "POST"\nwrk.body = "{body}"\n')
        script.write('wrk.headers["Content-Type"] = "application/json"\n')
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script.name]
    out = subprocess.run(
        pinned(1, [*command, f"http://127.0.0.1:{port}/v1/chat/completions"]),
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    os.unlink(script.name)
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rate, total


def gateway_config(upstream_port: int) -> str:
    return (
        "providers:\n"
        f"  fast: {{kind: openai, base_url: 'http://127.0.0.1:{upstream_port}/v1'}}\n"
        "routes:\n  bench: [fast/bench-model]\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="latency samples per mode")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration")
    parser.add_argument(
        "--sizes", default="1k,200k,1m", help="request body sizes to measure: " + ",".join(SIZES)
    )
    parser.add_argument("--connections", default="16,64", help="wrk connection counts")
    parser.add_argument(
        "--workers", type=int, default=1, help="gateway worker processes (not pinned when > 1)"
    )
    args = parser.parse_args()
    up_port, gw_port, bare_port = free_port(), free_port(), free_port()
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.yaml"
        config.write_text(gateway_config(up_port))
        upstream = pinned(1, [python, str(ROOT / "scripts/bench/fast_upstream.py"), str(up_port)])
        serve = [python, "-m", "turnout", "serve", "--config", str(config), "--port", str(gw_port)]
        # With workers, every core serves: nothing is pinned.
        workers = [*serve, "--workers", str(args.workers)]
        gateway = workers if args.workers > 1 else pinned(0, serve)
        os.environ["XDG_DATA_HOME"] = tmp  # the default SQLite ledger, in a scratch directory
        bare = pinned(0, [python, str(ROOT / "scripts/bench/bare_relay.py"), str(up_port)])
        with process(upstream, up_port), process(gateway, gw_port) as gw:
            report(up_port, gw_port, gw.pid, args)
        if args.workers == 1:  # its figures compare with one pinned worker's
            with process(upstream, up_port), process([*bare, str(bare_port)], bare_port):
                reference(up_port, bare_port, args)
    return 0


def reference(up_port: int, bare_port: int, args: argparse.Namespace) -> None:
    """The bare pass-through's added latency and throughput: the libraries' own share."""
    _, direct = latencies(up_port, False, args.requests)
    _, bare = latencies(bare_port, False, args.requests)
    added = percentile(bare, 0.5) - percentile(direct, 0.5)
    line = f"bare pass-through (bench/bare_relay.py), 1 connection: added p50 {added:.3f} ms"
    through = wrk(bare_port, args.seconds, 16)
    if through is not None:
        line += f"; 16 connections: {through[0]:,.0f} req/s"
    print(line)


def report(up_port: int, gw_port: int, gw_pid: int, args: argparse.Namespace) -> None:
    for size in args.sizes.split(","):
        body = conversation(SIZES[size])
        # Fewer samples for big bodies: the figure settles long before 2,000 of 1 MB each.
        n = max(100, args.requests * 1000 // max(1000, len(body) // 50))
        for label, stream in (("non-streaming", False), ("streaming", True)):
            d_first, d_whole = latencies(up_port, stream, n, body)
            before = cpu_seconds(gw_pid)
            g_first, g_whole = latencies(gw_port, stream, n, body)
            cpu = (cpu_seconds(gw_pid) - before) / (n + n // 10)
            d50, g50 = percentile(d_whole, 0.5), percentile(g_whole, 0.5)
            print(
                f"{size:>5} ({len(body) / 1000:,.0f} KB) {label:<14} {n:>5} requests: "
                f"direct p50 {d50:7.3f} ms p99 {percentile(d_whole, 0.99):7.3f} | "
                f"turnout p50 {g50:7.3f} ms p99 {percentile(g_whole, 0.99):7.3f} | "
                f"added {g50 - d50:6.3f} ms, ratio {g50 / d50:5.2f} | "
                f"gateway CPU {cpu * 1000:6.3f} ms/request"
            )
    n = args.requests
    for label, stream in (("non-streaming", False), ("streaming", True)):
        d_first, d_whole = latencies(up_port, stream, n)
        g_first, g_whole = latencies(gw_port, stream, n)
        print(f"{label}, 1 connection, {n} requests (ms):")
        print(
            f"  direct   p50 {percentile(d_whole, 0.5):7.3f}  p99 {percentile(d_whole, 0.99):7.3f}"
            f"  first byte p50 {percentile(d_first, 0.5):7.3f}"
        )
        print(
            f"  turnout  p50 {percentile(g_whole, 0.5):7.3f}  p99 {percentile(g_whole, 0.99):7.3f}"
            f"  first byte p50 {percentile(g_first, 0.5):7.3f}"
        )
        print(
            f"  added    p50 {percentile(g_whole, 0.5) - percentile(d_whole, 0.5):7.3f}"
            f"  p99 {percentile(g_whole, 0.99) - percentile(d_whole, 0.99):7.3f}"
            f"  first byte p50 {percentile(g_first, 0.5) - percentile(d_first, 0.5):7.3f}"
        )
    for connections in (int(n) for n in args.connections.split(",")):
        direct = wrk(up_port, args.seconds, connections)
        before = cpu_seconds(gw_pid)
        through = wrk(gw_port, args.seconds, connections)
        used = cpu_seconds(gw_pid) - before
        if direct is None or through is None:
            print(f"{connections} connections: skipped (install wrk to measure throughput)")
            continue
        print(
            f"{connections} connections, {args.seconds} s (wrk), {args.workers} worker(s): "
            f"direct {direct[0]:,.0f} req/s, turnout {through[0]:,.0f} req/s, "
            f"gateway CPU per request {used / through[1] * 1e6:,.0f} µs"
        )
    sizes = ", ".join(f"{mb:.1f}" for mb in rss_mb(gw_pid))
    print(f"gateway resident memory (MB, the supervisor first with --workers): {sizes}")


if __name__ == "__main__":
    raise SystemExit(main())
