"""Deadlines that follow the request and the path: the figures of docs/streams.md."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from turnout.config.model import Settings
from turnout.errors import DeadlineMissed
from turnout.routing.deadlines import Ask, Pace, ask_of

DEFAULTS = Settings()
ONE_LINE = ask_of({"messages": [{"role": "user", "content": "hi"}]}, 60)
LARGE = Ask(prompt_tokens=200_000)


def learned(waits: list[float], gaps: tuple[float, ...] = ()) -> Pace:
    pace = Pace()
    for wait in waits:
        pace.first_event("p/m", wait, ONE_LINE)
    for gap in gaps:
        pace.stream_gaps("p/m", gap)
    return pace


def test_a_path_nothing_is_known_of_gets_ten_seconds_plus_what_the_request_asks() -> None:
    pace = Pace()
    assert pace.first_event_deadline("p/m", ONE_LINE, DEFAULTS) == pytest.approx(10.0, abs=0.05)
    assert pace.first_event_deadline("p/m", LARGE, DEFAULTS) == pytest.approx(110.0)
    reasoning = ask_of({"reasoning_effort": "high"}, 800_000)
    assert pace.first_event_deadline("p/m", reasoning, DEFAULTS) == pytest.approx(230.0)
    thinking = ask_of({"thinking": {"type": "enabled", "budget_tokens": 16_000}}, 400)
    assert thinking.reasoning_s == pytest.approx(80.0)


def test_a_fast_path_fails_a_one_line_prompt_over_in_seconds_but_waits_for_a_long_one() -> None:
    pace = learned([0.3, 0.4, 0.2, 0.5, 0.3])
    assert pace.first_event_deadline("p/m", ONE_LINE, DEFAULTS) == pytest.approx(2.0, abs=0.05)
    assert pace.first_event_deadline("p/m", LARGE, DEFAULTS) == pytest.approx(102.0)


def test_a_slow_path_keeps_the_room_it_has_shown_it_needs() -> None:
    pace = learned([6.0, 5.0, 6.5, 5.5, 6.0])
    assert pace.first_event_deadline("p/m", ONE_LINE, DEFAULTS) == pytest.approx(26.0, abs=0.05)


def test_waits_are_learned_beyond_what_each_request_asked() -> None:
    pace = Pace()
    for _ in range(5):
        pace.first_event("p/m", 100.5, LARGE)  # a 200k prompt read in 100 s: nothing slow
    assert pace.first_event_deadline("p/m", ONE_LINE, DEFAULTS) == pytest.approx(2.0, abs=0.05)


def test_configured_values_stay_ceilings() -> None:
    capped = Settings(first_event_timeout_s=60.0, read_timeout_s=6.0)
    reasoning = ask_of({"reasoning_effort": "high"}, 800_000)
    assert Pace().first_event_deadline("p/m", reasoning, capped) == 60.0
    assert Pace().idle_deadline("p/m", capped) == 6.0
    assert learned([], (3.0, 3.0, 3.0)).idle_deadline("p/m", capped) == 6.0


def test_a_steady_path_has_a_stall_caught_in_seconds() -> None:
    assert Pace().idle_deadline("p/m", DEFAULTS) == 30.0
    assert learned([], (0.05, 0.1, 0.08)).idle_deadline("p/m", DEFAULTS) == 5.0
    assert learned([], (2.0, 1.5, 0.5)).idle_deadline("p/m", DEFAULTS) == 8.0


def test_memory_is_bounded_in_paths_and_samples() -> None:
    pace = Pace(paths=2, samples=5)
    for path in ("a/m", "b/m", "c/m"):
        for _ in range(5):
            pace.first_event(path, 9.0, ONE_LINE)
    assert pace.first_event_deadline("a/m", ONE_LINE, DEFAULTS) == pytest.approx(10.0, abs=0.05)
    assert pace.first_event_deadline("c/m", ONE_LINE, DEFAULTS) == pytest.approx(36.0, abs=0.05)
    for _ in range(5):
        pace.first_event("c/m", 0.1, ONE_LINE)  # the old samples have rolled out
    assert pace.first_event_deadline("c/m", ONE_LINE, DEFAULTS) == pytest.approx(2.0, abs=0.05)


def test_a_silent_stream_raises_and_teaches_nothing() -> None:
    async def scenario() -> None:
        pace, ticks = Pace(), iter(range(100))
        released = asyncio.Event()

        async def chunks() -> AsyncIterator[bytes]:
            yield b"data: one\n\n"
            await released.wait()  # never set: the stream has gone silent
            yield b"never"

        async def close() -> None:
            return None

        watched = pace.watch("p/m", chunks(), 0.05, lambda: float(next(ticks)))
        assert await anext(watched) == b"data: one\n\n"
        with pytest.raises(DeadlineMissed, match=r"silent for 0\.1s"):
            await anext(watched)
        await watched.closer(close)()
        assert pace.idle_deadline("p/m", DEFAULTS) == 30.0

    asyncio.run(scenario())
