"""Print what each auth strategy costs per request: microseconds per `sign()` call.

    python scripts/bench_signing.py [--calls 200] [--batches 9]

Each strategy signs the request a Bedrock, Vertex AI or Azure call sends (method, final URL,
headers, JSON body), on one event loop, as the seam does: a static header (`api-key`,
`x-api-key`, a bearer), AWS SigV4 over a 3 KB, 200 KB and 1 MB body (botocore hashes the
whole body, so its cost grows with it), and the bearer of a Google OAuth or Entra ID token
already cached (`BearerRefresher`: the token source is asked once, before timing, as it is
once an hour in service). A fresh `Outgoing` per call, for every row alike. The figure is the
best batch of several, per call; the ratio is to the static header.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from turnout.providers.aws import SigV4
from turnout.providers.seam import Auth, Outgoing, StaticHeaders
from turnout.providers.tokens import BearerRefresher
from turnout.redaction import SecretMask

BEDROCK_URL = (
    "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
    "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke"
)
VERTEX_URL = (
    "https://us-east5-aiplatform.googleapis.com/v1/projects/bench/locations/us-east5/"
    "publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
)
AZURE_URL = (
    "https://bench.openai.azure.com/openai/deployments/prod-4o/chat/completions"
    "?api-version=2024-10-21"
)
# Invented values of the real shapes: nothing here reaches a network.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}
TOKEN = "ya29.c.b0Aaekm1K" + "x" * 180


class CachedToken:
    """A token source that answers at once: only the first `sign` asks it."""

    def __init__(self, token: str) -> None:
        self.token = token

    def fetch(self) -> tuple[str, float]:
        return self.token, 3600.0


def chat_body(size: int) -> bytes:
    """A Messages body of about `size` bytes: a conversation of prose turns."""
    turn = "Summarise the routing log below and say which path failed over and why. " * 4
    messages: list[dict[str, str]] = []
    while len(orjson.dumps(messages)) < size:
        role = "user" if len(messages) % 2 == 0 else "assistant"
        messages.append({"role": role, "content": turn})
    payload = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 1024, "messages": messages}
    return orjson.dumps(payload)


def headers() -> dict[str, str]:
    return {"content-type": "application/json", "accept": "application/json"}


async def per_call_us(auth: Auth, url: str, body: bytes, calls: int, batches: int) -> float:
    first = Outgoing("POST", url, headers(), body)
    await auth.sign(first)  # credentials resolved, token cached
    assert {k.lower() for k in first.headers} - set(headers()), "sign() added no credential"
    best = float("inf")
    for _ in range(batches):
        started = time.perf_counter()
        for _ in range(calls):
            await auth.sign(Outgoing("POST", url, headers(), body))
        best = min(best, (time.perf_counter() - started) / calls)
    return best * 1e6


async def measure(calls: int, batches: int) -> list[tuple[str, float]]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(name, None)
    os.environ.update(AWS_ENV)
    mask = SecretMask([])
    small = chat_body(3 * 1024)
    static = StaticHeaders({"api-key": "0123456789abcdef0123456789abcdef"})
    sigv4 = SigV4("us-east-1", "bedrock", None, mask)
    google = BearerRefresher(CachedToken(TOKEN), mask)
    entra = BearerRefresher(CachedToken("eyJ0eXAiOiJKV1Qi." + "e" * 1200), mask)
    rows = [
        ("static header (api-key)", await per_call_us(static, AZURE_URL, small, calls, batches))
    ]
    for label, size in (("3 KB", 3 * 1024), ("200 KB", 200 * 1024), ("1 MB", 1024 * 1024)):
        body = chat_body(size)
        rows.append(
            (
                f"AWS SigV4, {label} body",
                await per_call_us(sigv4, BEDROCK_URL, body, calls, batches),
            )
        )
    rows.append(
        ("Google OAuth, token cached", await per_call_us(google, VERTEX_URL, small, calls, batches))
    )
    rows.append(
        ("Entra ID, token cached", await per_call_us(entra, AZURE_URL, small, calls, batches))
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="sign() calls per batch")
    parser.add_argument("--batches", type=int, default=9, help="batches; the best one counts")
    args = parser.parse_args()
    rows = asyncio.run(measure(args.calls, args.batches))
    base = rows[0][1]
    print(f"sign() per request, best of {args.batches} batches of {args.calls} calls")
    print(f"  {'strategy':<30} {'us/call':>10} {'x static':>10}")
    for name, us in rows:
        print(f"  {name:<30} {us:10.1f} {us / base:10.1f}")


if __name__ == "__main__":
    main()
