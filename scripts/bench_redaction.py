"""Print what masking credentials costs on a realistic 200 KB upstream body.

    python scripts/bench_redaction.py [--rounds 200]

The body is a chat completion of prose and code (the shape relayed answers and long error
bodies have). "prefix-only (3 passes)" is the masking the gateway had before masking by value:
three regular expressions, one after the other. The rest is `turnout.redaction` today: by value
(bytes, for relayed answers), by value and by shape (text, for errors, logs and diagnoses).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from turnout.redaction import SecretMask, mask_shapes

_OLD = (
    (re.compile(r"\b((?:sk|tk|rk|pk)-[A-Za-z0-9]{0,5})[A-Za-z0-9_\-]{6,}"), r"\1****"),
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+"), r"\1****"),
    (re.compile(r"(?i)(x-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+"), r"\1****"),
)
SECRETS = [
    "sk-proj-3fJ9kL2mN8pQ4rS7tV1wX5yZ0aB6cD9eF2gH",
    "sk-ant-api03-Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe8Dc7Ba6",
    "AIzaSyD3f9Qk2Lm8Np4Rs7Tv1Wx5Yz0Ab6Cd9Ef",
    "relay-7Hq2Zp9WcX4mVb8NtY3kLs6D",
    "tk-gateway-key-one-9f8e7d6c5b4a",
    "tk-gateway-admin-1a2b3c4d5e6f",
]


def old_redact(text: str) -> str:
    for pattern, replacement in _OLD:
        text = pattern.sub(replacement, text)
    return text


def body(size: int = 200 * 1024) -> str:
    prose = (
        "The gateway reads each upstream answer once and relays it to the client. "
        "When a path is gated it explains why, in words a person can act on. "
    )
    code = "def route(request):\n    return chain.run(request, timeout=30)  # retry once\n"
    text = ""
    while len(text) < size:
        text += prose * 3 + "\n```python\n" + code * 4 + "```\n"
    payload: dict[str, Any] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": "gpt-bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text[:size]}}],
    }
    return orjson.dumps(payload).decode()


def per_call_us(fn: Callable[[], object], rounds: int) -> float:
    fn()
    started = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - started) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    text = body()
    data = text.encode()
    mask = SecretMask(SECRETS)
    leaked = text[: len(text) // 2] + SECRETS[3] + text[len(text) // 2 :]
    assert SECRETS[3] not in mask.text(leaked)  # masked by value
    assert SECRETS[3] in old_redact(leaked)  # which no prefix rule catches
    rows = {
        "prefix-only (3 passes), before": per_call_us(lambda: old_redact(text), rounds),
        "by shape (1 pass)": per_call_us(lambda: mask_shapes(text), rounds),
        f"by value, bytes ({len(SECRETS)} secrets)": per_call_us(lambda: mask.bytes(data), rounds),
        f"by value + shape, text ({len(SECRETS)} secrets)": per_call_us(
            lambda: mask.text(text), rounds
        ),
    }
    base = rows["prefix-only (3 passes), before"]
    print(f"body: {len(data) / 1024:.0f} KB, {rounds} rounds")
    for name, us in rows.items():
        print(f"  {name:<45} {us:9.1f} us/body   {us / base:6.2f}x of before")


if __name__ == "__main__":
    main()
