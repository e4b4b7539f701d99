"""What one process learns of a path, seen by another over the same state store: scenarios
the SQLite and Redis tests both run on their own pair of stores."""

from __future__ import annotations

from tests.clock import FakeClock
from turnout.config.model import ProviderConfig, Settings
from turnout.routing.deadlines import SHARE_S, Ask, Pace
from turnout.routing.prefill import CACHE_S, PrefillStyles
from turnout.state import StateStore

#: An OpenAI-compatible path guessed to continue as vLLM does.
SELF_HOSTED = ProviderConfig(name="local", kind="openai", base_url="http://127.0.0.1:9/v1")


async def prefill_learned_by_one_is_seen_by_the_other(one: StateStore, other: StateStore) -> None:
    clock = FakeClock()
    learner, follower = PrefillStyles(one, clock=clock), PrefillStyles(other, clock=clock)
    path = "local/qwen"
    await follower.refresh([path])
    assert follower.style(SELF_HOSTED, path, {}) == "vllm"

    learner.refuse(SELF_HOSTED, path)
    await learner.settled()
    await follower.refresh([path])
    assert follower.style(SELF_HOSTED, path, {}) == "vllm"  # read less than CACHE_S ago
    clock.advance(CACHE_S)
    await follower.refresh([path])
    assert follower.style(SELF_HOSTED, path, {}) == "none"
    assert not follower.continues(path)

    learner.accepted(SELF_HOSTED, path)  # a later continuation worked: the refusal is void
    await learner.settled()
    clock.advance(CACHE_S)
    await follower.refresh([path, "local/other"])
    assert follower.continues(path)
    assert await other.recall("prefill", [path, "local/other"]) == ["vllm", None]


async def notes_stay_within_their_bound(store: StateStore, bound: int) -> None:
    """Names a client invents each leave a note; the oldest written go past the bound."""
    for i in range(bound + 5):
        await store.remember("prefill", f"relay/no-such-{i}", "none")
    await store.remember("prefill", "relay/no-such-0", "vllm")  # rewritten: now the newest
    kept = await store.recall("prefill", [f"relay/no-such-{i}" for i in range(bound + 5)])
    assert kept[0] == "vllm"
    assert sum(v is not None for v in kept) == bound
    assert kept[1:6] == [None] * 5  # 0-4 went; 0 came back, so 5 went
    assert kept[6] == "none"
    assert kept[-1] == "none"


async def pace_learned_by_one_is_seen_by_the_other(one: StateStore, other: StateStore) -> None:
    """A path one process knows answers in about a second and pauses up to 2 s: another that
    has not served it yet gets the same deadlines (4 s, 8 s) instead of the unknown's (10, 30)."""
    clock, settings, ask = FakeClock(), Settings(), Ask()
    learner, follower = Pace(state=one, clock=clock), Pace(state=other, clock=clock)
    path = "fast/model"
    await follower.refresh(path)
    assert follower.first_event_deadline(path, ask, settings) == 10.0
    assert follower.idle_deadline(path, settings) == 30.0

    for _ in range(5):
        learner.first_event(path, 1.0, ask)  # the fifth sample is enough: written at once
    await learner.settled()
    for _ in range(3):
        learner.stream_gaps(path, 2.0)  # within SHARE_S of the last write: kept back
    await learner.settled()
    clock.advance(CACHE_S)
    await follower.refresh(path)
    assert follower.first_event_deadline(path, ask, settings) == 4.0
    assert follower.idle_deadline(path, settings) == 30.0

    clock.advance(SHARE_S)
    learner.stream_gaps(path, 2.0)  # the next sample after SHARE_S carries all of them
    await learner.settled()
    await follower.refresh(path)
    assert follower.idle_deadline(path, settings) == 8.0
    assert follower.first_event_deadline("fast/other", ask, settings) == 10.0
