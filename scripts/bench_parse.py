"""What reading a request costs before a path is chosen, by body size: the whole parse a
translation needs against the head a same-wire path reads (wire/head.py).

    python scripts/bench_parse.py [--sizes 3k,200k,1m] [--rounds 200]

Bodies are agent conversations (scripts/bench_relay.py's `conversation`: turns of user text,
tool calls and tool results). Prints, per size and per codec, microseconds per request for
`orjson.loads` (the whole parse), `read_head`, the codec's `parse` and its `same_wire_body`
(streamed, so a Chat request gains its usage option), and the ratio head/whole. Ratios in one
run are what to compare; absolute figures move with the machine's load.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_relay import conversation
from turnout.wire import CHAT, MESSAGES
from turnout.wire.head import read_head

SIZES = {"3k": 3_000, "200k": 200_000, "1m": 1_000_000}


def per_call_us(work: Callable[[], object], rounds: int) -> float:
    work()
    best = float("inf")
    for _ in range(5):  # the best of five batches: the least disturbed by other load
        start = time.perf_counter()
        for _ in range(rounds):
            work()
        best = min(best, (time.perf_counter() - start) / rounds)
    return best * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3k,200k,1m")
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    print(f"{'size':>6} {'codec':8} {'whole':>9} {'head':>9} {'parse':>9} {'same-wire':>10} ratio")
    for label in args.sizes.split(","):
        chat = conversation(SIZES[label])[:-1] + b', "stream": true}'
        data = orjson.loads(chat)
        messages = orjson.dumps({**data, "max_tokens": 256, "messages": data["messages"][1:]})
        rounds = max(5, args.rounds * 3_000 // SIZES[label]) if label != "3k" else args.rounds * 20
        for codec, body in (("chat", chat), ("messages", messages)):
            dialect = CHAT if codec == "chat" else MESSAGES
            parsed = dialect.parse(body)
            whole = per_call_us(partial(orjson.loads, body), rounds)
            head = per_call_us(partial(read_head, body), rounds)
            parse = per_call_us(partial(dialect.parse, body), rounds)
            same = per_call_us(partial(dialect.same_wire_body, parsed, "upstream"), rounds)
            print(
                f"{len(body) // 1000:>5}k {codec:8} {whole:9.1f} {head:9.1f} {parse:9.1f} "
                f"{same:10.1f} {head / whole:5.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
