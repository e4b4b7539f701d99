"""How long to wait for a stream: deadlines that follow the request and each path's pace.

A fixed first-event deadline is wrong both ways: 60 s is far too long for a one-line prompt
on a path that usually answers in half a second, and too short for a 200k-token prompt to a
reasoning model. So the deadline is worked out per request and path (the rule, with figures,
is in docs/streams.md); the configured `first_event_timeout_s` and `read_timeout_s` stay
ceilings. What a path has shown is kept here, in bounded memory: the last `SAMPLES` times to
first event and largest gaps between chunks, for the last `PATHS` paths seen.

A summary of each path's figures (the 90th-percentile wait, the largest gap, how many of each)
is noted in the state store, at most every `SHARE_S` seconds per path, so a worker or replica
new to a path starts from what another has seen of it; it reads a path's note at most every
`CACHE_S` seconds. A process's own figures, once it has enough, go before the note.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from turnout.config.model import Settings
from turnout.errors import DeadlineMissed
from turnout.state import StateStore

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
#: The state store's topic of the paths' summaries; how often one path's is written at most,
#: and how long one read is trusted.
TOPIC = "pace"
SHARE_S = 5.0
CACHE_S = 5.0


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
    shared_at: float | None = None  # when its summary was last written to the store


@dataclass(frozen=True, slots=True)
class Summary:
    """What a path has shown, as the state store carries it between processes."""

    wait_p90: float
    gap_max: float
    waits: int
    gaps: int

    def note(self) -> str:
        return f"{self.wait_p90!r} {self.gap_max!r} {self.waits} {self.gaps}"

    @classmethod
    def read(cls, note: str | None) -> Summary | None:
        """The summary a note holds; None for no note or one this version cannot read."""
        parts = (note or "").split()
        try:
            return cls(float(parts[0]), float(parts[1]), int(parts[2]), int(parts[3]))
        except (IndexError, ValueError):
            return None


class Pace:
    """What each path has shown of its speed, and the deadlines that follow from it."""

    def __init__(
        self,
        paths: int = PATHS,
        samples: int = SAMPLES,
        *,
        state: StateStore | None = None,
        clock: Callable[[], float] = time.monotonic,
        share_s: float = SHARE_S,
        cache_s: float = CACHE_S,
    ) -> None:
        self._paths: OrderedDict[str, _Path] = OrderedDict()
        self._limit = paths
        self._samples = samples
        self._state = state
        self._clock = clock
        self._share_s = share_s
        self._cache_s = cache_s
        #: Each path's summary as the store last gave it (None: no note), and when it was read.
        self._shared: OrderedDict[str, tuple[Summary | None, float]] = OrderedDict()
        self._writes: set[asyncio.Task[None]] = set()

    def _entry(self, path: str) -> _Path:
        entry = self._paths.get(path)
        if entry is None:
            entry = _Path(deque(maxlen=self._samples), deque(maxlen=self._samples))
            self._paths[path] = entry
            if len(self._paths) > self._limit:
                self._paths.popitem(last=False)
        self._paths.move_to_end(path)
        return entry

    async def refresh(self, path: str) -> None:
        """Read `path`'s summary from the store unless it was read less than `cache_s` ago."""
        if self._state is None:
            return
        now = self._clock()
        known = self._shared.get(path)
        if known is not None and now - known[1] < self._cache_s:
            return
        (note,) = await self._state.recall(TOPIC, [path])
        self._shared[path] = (Summary.read(note), now)
        self._shared.move_to_end(path)
        if len(self._shared) > self._limit:
            self._shared.popitem(last=False)

    def _summary(self, path: str) -> Summary | None:
        known = self._shared.get(path)
        return None if known is None else known[0]

    def first_event_deadline(self, path: str, ask: Ask, settings: Settings) -> float:
        """Seconds from sending the request to its first content event."""
        entry = self._paths.get(path)
        shared = self._summary(path)
        wait: float | None = None
        if entry is not None and len(entry.waits) >= MIN_FIRST_EVENTS:
            wait = _p90(entry.waits)
        elif shared is not None and shared.waits >= MIN_FIRST_EVENTS:
            wait = shared.wait_p90
        base = BASE_S
        if wait is not None:
            base = max(settings.first_event_floor_s, FIRST_EVENT_SLACK * wait)
        return min(settings.first_event_timeout_s, base + ask.allowance_s)

    def idle_deadline(self, path: str, settings: Settings) -> float:
        """Seconds of silence allowed between chunks once the answer has begun."""
        entry = self._paths.get(path)
        shared = self._summary(path)
        if entry is not None and len(entry.gaps) >= MIN_STREAMS:
            gap = max(entry.gaps)
        elif shared is not None and shared.gaps >= MIN_STREAMS:
            gap = shared.gap_max
        else:
            return min(settings.read_timeout_s, IDLE_UNKNOWN_S)
        learned = max(settings.idle_floor_s, IDLE_SLACK * gap)
        return min(settings.read_timeout_s, IDLE_UNKNOWN_S, learned)

    def first_event(self, path: str, seconds: float, ask: Ask) -> None:
        """A request to `path` got its first content event `seconds` after it was sent."""
        entry = self._entry(path)
        entry.waits.append(max(0.0, seconds - ask.allowance_s))
        self._share(path, entry)

    def stream_gaps(self, path: str, largest_gap: float) -> None:
        entry = self._entry(path)
        entry.gaps.append(largest_gap)
        self._share(path, entry)

    def _share(self, path: str, entry: _Path) -> None:
        """Write the path's summary, once it says something and at most every `share_s`."""
        if self._state is None:
            return
        enough = len(entry.waits) >= MIN_FIRST_EVENTS or len(entry.gaps) >= MIN_STREAMS
        now = self._clock()
        if not enough or (entry.shared_at is not None and now - entry.shared_at < self._share_s):
            return
        entry.shared_at = now
        summary = Summary(
            _p90(entry.waits) if entry.waits else 0.0,
            max(entry.gaps, default=0.0),
            len(entry.waits),
            len(entry.gaps),
        )
        task = asyncio.get_running_loop().create_task(
            self._state.remember(TOPIC, path, summary.note())
        )
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def settled(self) -> None:
        """Wait for the summaries written so far to reach the store."""
        while self._writes:
            await asyncio.gather(*list(self._writes))

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
