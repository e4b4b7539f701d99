"""Measure translated relaying end to end: a large conversation through turnout to a fast
upstream of the same wire and of another wire, over one kept-alive connection.

    python scripts/bench_cross.py [--kb 200] [--requests 200]

The upstream speaks OpenAI Chat. The same conversation is sent as Chat (same wire: bytes pass
through but for the model) and as Anthropic Messages and OpenAI Responses (translated through the
hub, and the answer translated back). Prints p50 and p99 milliseconds per request and what
translation adds over the same-wire request, whole and streamed.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_relay import ROOT, free_port, gateway_config, percentile, pinned, process

ENDPOINTS = {
    "chat": "/v1/chat/completions",
    "messages": "/v1/messages",
    "responses": "/v1/responses",
}


def bodies(kilobytes: int) -> dict[str, bytes]:
    """The same conversation in each wire (only text turns: every wire carries them)."""
    turns = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": "lorem ipsum dolor " * 60}
        for i in range(kilobytes * 1024 // 1100)
    ] + [{"role": "user", "content": "Summarise."}]
    system = "You are a careful agent. " * 40
    return {
        "chat": orjson.dumps(
            {"model": "bench", "messages": [{"role": "system", "content": system}, *turns]}
        ),
        "messages": orjson.dumps(
            {"model": "bench", "max_tokens": 256, "system": system, "messages": turns}
        ),
        "responses": orjson.dumps({"model": "bench", "instructions": system, "input": turns}),
    }


def timed(port: int, path: str, body: bytes, count: int) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
    times: list[float] = []
    for index in range(count + count // 10):
        started = time.perf_counter()
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {data[:200]!r}")
        if index >= count // 10:
            times.append(time.perf_counter() - started)
    connection.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--wires", default="chat,messages,responses")
    args = parser.parse_args()
    wires = args.wires.split(",")
    up_port, gw_port = free_port(), free_port()
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.yaml"
        config.write_text(gateway_config(up_port))
        upstream = pinned(1, [python, str(ROOT / "scripts/bench/fast_upstream.py"), str(up_port)])
        gateway = pinned(
            0,
            [python, "-m", "turnout", "serve", "--config", str(config), "--port", str(gw_port)],
        )
        with process(upstream, up_port), process(gateway, gw_port):
            report(gw_port, bodies(args.kb), wires, args.requests)
    return 0


def report(port: int, by_wire: dict[str, bytes], wires: list[str], count: int) -> None:
    print(f"conversation: {len(by_wire['chat']) / 1024:.0f} KB; upstream speaks Chat")
    for stream in (False, True):
        results: dict[str, list[float]] = {}
        for wire in wires:
            body = by_wire[wire]
            if stream:
                body = body[:-1] + b',"stream":true}'
            results[wire] = timed(port, ENDPOINTS[wire], body, count)
        label = "streaming" if stream else "non-streaming"
        base = percentile(results["chat"], 0.5) if "chat" in results else 0.0
        for wire, times in results.items():
            p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
            added = f"  (+{p50 - base:6.3f} over same wire)" if wire != "chat" else ""
            print(f"  {label:13} {wire:9} p50 {p50:7.3f} ms  p99 {p99:7.3f} ms{added}")


if __name__ == "__main__":
    raise SystemExit(main())
