"""Measure cross-wire translation of a large conversation: parse, translate and serialise.

    python scripts/bench_translate.py [--kb 200] [--rounds 50]

Builds an Anthropic Messages conversation of about `--kb` kilobytes (turns of text, tool calls
and tool results), and prints the median milliseconds per request for Messages -> Chat,
Chat -> Messages and Chat -> Responses-style decoding through the hub, with the time
orjson alone takes to parse and serialise the same body as the floor.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson

from turnout.wire.chat import CHAT
from turnout.wire.messages import MESSAGES
from turnout.wire.translate import translate_request


def conversation(kilobytes: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    turn = 0
    while len(orjson.dumps(messages)) < kilobytes * 1024:
        call_id = f"toolu_{turn:06d}"
        messages.append({"role": "user", "content": f"Step {turn}: " + "please read it. " * 20})
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Reading the file now. " * 5},
                    {"type": "tool_use", "id": call_id, "name": "read", "input": {"path": "a"}},
                ],
            }
        )
        result = {"type": "tool_result", "tool_use_id": call_id, "content": "line\n" * 120}
        messages.append({"role": "user", "content": [result]})
        messages.append({"role": "assistant", "content": "Done with step. " * 10})
        turn += 1
    messages.append({"role": "user", "content": "Summarise."})
    return {
        "model": "m",
        "max_tokens": 1024,
        "system": "You are a careful agent. " * 40,
        "messages": messages,
        "tools": [{"name": "read", "description": "Read a file", "input_schema": {}}],
    }


def median_ms(work: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    anthropic_body = orjson.dumps(conversation(args.kb))
    chat_body = orjson.dumps(
        translate_request(orjson.loads(anthropic_body), MESSAGES, CHAT, "m").body
    )
    floor = median_ms(lambda: orjson.dumps(orjson.loads(anthropic_body)), args.rounds)
    to_chat = median_ms(
        lambda: orjson.dumps(
            translate_request(orjson.loads(anthropic_body), MESSAGES, CHAT, "m").body
        ),
        args.rounds,
    )
    to_messages = median_ms(
        lambda: orjson.dumps(translate_request(orjson.loads(chat_body), CHAT, MESSAGES, "m").body),
        args.rounds,
    )
    print(
        f"body: {len(anthropic_body) / 1024:.0f} KB Messages, {len(chat_body) / 1024:.0f} KB Chat"
    )
    print(f"orjson parse+dump alone:   {floor:7.2f} ms")
    print(f"Messages -> Chat (hub):    {to_chat:7.2f} ms  ({to_chat / floor:.1f}x the floor)")
    print(
        f"Chat -> Messages (hub):    {to_messages:7.2f} ms  ({to_messages / floor:.1f}x the floor)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
