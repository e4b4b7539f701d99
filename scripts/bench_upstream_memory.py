"""Print the peak memory of a `turnout serve` process fed a 200 MB body and a 500 KB gzip bomb.

    python scripts/bench_upstream_memory.py [--source DIR]

Each case starts a fresh gateway (its own process, so its peak RSS is its own) over a hostile
upstream on 127.0.0.1, sends one request, and prints the gateway's peak resident memory and
the status the client got. `--source` runs another checkout's `src/` (for a before/after).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.hostile import HostileUpstream
from tests.gateway import free_port

MB = 1024 * 1024
BIG = 200 * MB
BOMB = gzip.compress(b"\0" * (512 * MB), compresslevel=9)


async def hostile(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
    if request.path.startswith("/bomb"):
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        return web.Response(body=BOMB, headers=headers)
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    chunk = b" " * (64 * 1024)
    for _ in range(BIG // len(chunk)):
        if not await up.send(response, chunk):
            break
    return response


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_case(upstream: str, case: str, source: Path | None) -> tuple[float, int, float]:
    port = free_port()
    config = {
        "defaults": {"retries": 0},
        "ledger": "off",
        "providers": {"p": {"kind": "openai", "base_url": f"{upstream}/{case}/v1"}},
        "routes": {"m": ["p/m"]},
    }
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source / "src")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        json.dump(config, handle)
    command = [sys.executable, "-m", "turnout", "serve", "--config", handle.name]
    command += ["--port", str(port), "--log-level", "error"]
    gateway = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                probe.request("GET", "/healthz")
                probe.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        connection.request(
            "POST", "/v1/chat/completions", body, {"content-type": "application/json"}
        )
        reply = connection.getresponse()
        reply.read()
        return peak_rss_mb(gateway.pid), reply.status, time.monotonic() - started
    finally:
        gateway.terminate()
        gateway.wait(30)
        os.unlink(handle.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=None)
    source = parser.parse_args().source
    print(f"gzip bomb: {len(BOMB) / 1024:.0f} KB on the wire, 512 MB inflated")
    with HostileUpstream(hostile) as up:
        for case in ("big", "bomb"):
            rss, status, seconds = run_case(up.url, case, source)
            print(
                f"  {case:5} gateway peak RSS {rss:7.1f} MB, client got {status} in {seconds:.1f}s"
            )


if __name__ == "__main__":
    main()
