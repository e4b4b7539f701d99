"""How long to wait for a stream: deadlines that follow the request and each path's pace.

A fixed first-event deadline is wrong both ways: 60 s is far too long for a one-line prompt
on a path that usually answers in half a second, and too short for a 200k-token prompt to a
reasoning model. So the deadline is worked out per request and path (the rule, with figures,
is in docs/streams.md); the configured `first_event_timeout_s` and `read_timeout_s` stay
ceilings. What a path has shown is kept here, in bounded memory: the last `SAMPLES` times to
first event and largest gaps between chunks, for the last `PATHS` paths seen.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from turnout.config.model import Settings
from turnout.errors import DeadlineMissed

#: Seconds allowed before the first content event when nothing is known of the path.
BASE_S = 10.0
#: Prompt tokens a provider is assumed to read per second, at the least (a generous allowance).
PROMPT_TOKENS_PER_S = 2000.0
#: Seconds of hidden reasoning allowed per requested effort (OpenAI `reasoning_effort`).
EFFORT_S = {"minimal": 5.0, "low": 15.0, "medium": 45.0, "high": 120.0, "xhigh": 240.0}
#: Thinking-budget tokens a model is assumed to think per second (`thinking.budget_tokens`).
THINKING_TOKENS_PER_S = 200.0
#: A path's learned base is this many times its 90th-percentile wait beyond the allowance.
FIRST_EVENT_SLACK = 4.0
#: Silence allowed between chunks on a path nothing is known of (before the ceiling).
IDLE_UNKNOWN_S = 30.0
#: A path's idle deadline is this many times the largest gap of its recent streams.
IDLE_SLACK = 4.0
#: Samples needed before a path's own figures replace the defaults.
MIN_FIRST_EVENTS = 5
MIN_STREAMS = 3
SAMPLES = 32
PATHS = 512


@dataclass(frozen=True, slots=True)
class Ask:
    """What a request asks of a model that takes time before its first word."""

    prompt_tokens: int = 0
    reasoning_s: float = 0.0

    @property
    def allowance_s(self) -> float:
        """Seconds the request itself justifies, beyond a path's own base."""
        return self.prompt_tokens / PROMPT_TOKENS_PER_S + self.reasoning_s


def ask_of(data: Mapping[str, Any], body_bytes: int) -> Ask:
    """The ask of a request body: about 4 bytes a prompt token, plus its reasoning."""
    return Ask(body_bytes // 4, _reasoning_s(data))


def _reasoning_s(data: Mapping[str, Any]) -> float:
    effort = data.get("reasoning_effort")
    reasoning = data.get("reasoning")
    if effort is None and isinstance(reasoning, dict):
        effort = reasoning.get("effort")  # Responses and relays that take its shape
    seconds = EFFORT_S.get(str(effort), 0.0) if effort is not None else 0.0
    thinking = data.get("thinking")
    if isinstance(thinking, dict):
        budget = thinking.get("budget_tokens")
        if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0:
            seconds = max(seconds, budget / THINKING_TOKENS_PER_S)
    return seconds


def _p90(values: deque[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


@dataclass(slots=True)
class _Path:
    waits: deque[float]  # first-event waits beyond each request's allowance
    gaps: deque[float]  # each recent stream's largest gap between chunks


class Pace:
    """What each path has shown of its speed, and the deadlines that follow from it."""

    def __init__(self, paths: int = PATHS, samples: int = SAMPLES) -> None:
        self._paths: OrderedDict[str, _Path] = OrderedDict()
        self._limit = paths
        self._samples = samples

    def _entry(self, path: str) -> _Path:
        entry = self._paths.get(path)
        if entry is None:
            entry = _Path(deque(maxlen=self._samples), deque(maxlen=self._samples))
            self._paths[path] = entry
            if len(self._paths) > self._limit:
                self._paths.popitem(last=False)
        self._paths.move_to_end(path)
        return entry

    def first_event_deadline(self, path: str, ask: Ask, settings: Settings) -> float:
        """Seconds from sending the request to its first content event."""
        entry = self._paths.get(path)
        base = BASE_S
        if entry is not None and len(entry.waits) >= MIN_FIRST_EVENTS:
            base = max(settings.first_event_floor_s, FIRST_EVENT_SLACK * _p90(entry.waits))
        return min(settings.first_event_timeout_s, base + ask.allowance_s)

    def idle_deadline(self, path: str, settings: Settings) -> float:
        """Seconds of silence allowed between chunks once the answer has begun."""
        entry = self._paths.get(path)
        if entry is None or len(entry.gaps) < MIN_STREAMS:
            return min(settings.read_timeout_s, IDLE_UNKNOWN_S)
        learned = max(settings.idle_floor_s, IDLE_SLACK * max(entry.gaps))
        return min(settings.read_timeout_s, IDLE_UNKNOWN_S, learned)

    def first_event(self, path: str, seconds: float, ask: Ask) -> None:
        """A request to `path` got its first content event `seconds` after it was sent."""
        self._entry(path).waits.append(max(0.0, seconds - ask.allowance_s))

    def stream_gaps(self, path: str, largest_gap: float) -> None:
        self._entry(path).gaps.append(largest_gap)

    def watch(
        self,
        path: str,
        chunks: AsyncIterator[bytes],
        idle_s: float,
        clock: Callable[[], float],
    ) -> WatchedChunks:
        return WatchedChunks(self, path, chunks, idle_s, clock)


class WatchedChunks:
    """A stream's remaining chunks under an idle deadline; its largest gap is reported to
    the `Pace` when the stream is closed (a stalled stream reports nothing). A stream that
    arrived whole with its first content event reports a gap of 0: it was steady."""

    def __init__(
        self,
        pace: Pace,
        path: str,
        chunks: AsyncIterator[bytes],
        idle_s: float,
        clock: Callable[[], float],
    ) -> None:
        self._pace, self._path, self._chunks = pace, path, chunks
        self.idle_s = idle_s
        self._clock = clock
        self._last = clock()
        self._largest = 0.0
        self._reported = False
        self._stalled = False

    def __aiter__(self) -> WatchedChunks:
        return self

    async def __anext__(self) -> bytes:
        try:
            async with asyncio.timeout(self.idle_s):
                chunk = await anext(self._chunks)
        except TimeoutError as exc:
            self._stalled = True
            detail = (
                f"read timeout: the stream went silent for {self.idle_s:.1f}s mid-answer "
                f"(the idle deadline for {self._path}; read_timeout_s caps it)"
            )
            raise DeadlineMissed(detail, log=detail) from exc
        now = self._clock()
        self._largest = max(self._largest, now - self._last)
        self._last = now
        return chunk

    def closer(self, close: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """`close`, after reporting what this stream showed of its path (once)."""

        async def closing() -> None:
            if not (self._stalled or self._reported):
                self._pace.stream_gaps(self._path, self._largest)
            self._reported = True
            await close()

        return closing
