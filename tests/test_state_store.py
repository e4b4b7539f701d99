"""The state store's contract, the same on every backend: gates with one probe, rate windows,
budget holds. Each scenario runs against memory, a SQLite file and Redis (skipped without it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.clock import FakeClock
from tests.redis_servers import redis_url_fixture  # noqa: F401  (registers `redis_url`)
from turnout.state import (
    Admission,
    BudgetHold,
    BudgetRefused,
    MemoryState,
    RateRefused,
    RateTerms,
    Settlement,
    StateStore,
    open_state,
)
from turnout.state.sqlite_store import SqliteState

NOW = 1_800_000_000.0
PERIOD_END = NOW + 3600
Scenario = Callable[[StateStore], Awaitable[None]]


class Stores:
    """Makes stores of one backend, and lets time pass for them: memory runs on a fake clock
    moved by hand; Redis expires keys on its own clock, so time passes for it by sleeping
    past the TTL (a sleep never returns early, so this is a lower bound, never a race)."""

    def __init__(self, make: Callable[[], StateStore], clock: FakeClock | None) -> None:
        self._make, self._clock = make, clock

    def __call__(self) -> StateStore:
        return self._make()

    async def pass_time(self, seconds: float) -> None:
        if self._clock is not None:
            self._clock.advance(seconds)
        else:
            await asyncio.sleep(seconds)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    if request.param == "memory":
        clock = FakeClock()
        yield Stores(lambda: MemoryState(clock), clock)
    elif request.param == "sqlite":
        clock = FakeClock()
        yield Stores(lambda: SqliteState(tmp_path / "state.sqlite3", clock), clock)
    else:
        url = request.getfixturevalue("redis_url")
        yield Stores(lambda: open_state(url), None)


def run(make_store: Callable[[], StateStore], scenario: Scenario) -> None:
    async def main() -> None:
        store = make_store()
        await store.start()
        try:
            await scenario(store)
        finally:
            await store.aclose()

    asyncio.run(asyncio.wait_for(main(), 20))


def hold(amount: float, token: str, limit: float = 1.0, seed: float = 0.0) -> BudgetHold:
    return BudgetHold("key:k1:day:0", token, amount, limit, seed, PERIOD_END)


def test_a_gate_skips_then_lets_exactly_one_probe(make_store: Stores) -> None:
    async def scenario(store: StateStore) -> None:
        assert await store.admit("p/m") == (Admission.GO, None)
        await store.mark("p/m", True, "why", 0.15)
        admission, gate = await store.admit("p/m")
        assert admission is Admission.SKIP
        assert gate is not None
        assert (gate.gated, gate.reason) == (True, "why")
        assert 0 < gate.seconds_left <= 0.15
        await make_store.pass_time(0.2)
        verdicts = [(await store.admit("p/m"))[0] for _ in range(5)]
        assert verdicts == [Admission.PROBE] + [Admission.SKIP] * 4
        await store.release_probe("p/m")
        assert (await store.admit("p/m"))[0] is Admission.PROBE
        assert set(await store.gates()) == {"p/m"}
        await store.clear("p/m")
        assert await store.admit("p/m") == (Admission.GO, None)
        assert await store.gates() == {}

    run(make_store, scenario)


def test_a_cooldown_is_not_a_gate_and_peek_takes_no_lease(make_store: Stores) -> None:
    async def scenario(store: StateStore) -> None:
        await store.mark("p/m", False, "slow", 0.1)
        gate = await store.peek("p/m")
        assert gate is not None
        assert not gate.gated
        await make_store.pass_time(0.15)
        assert (await store.peek("p/m")) is not None  # the mark lingers for the probe
        assert (await store.admit("p/m"))[0] is Admission.PROBE

    run(make_store, scenario)


def test_requests_per_minute_are_counted(make_store: Callable[[], StateStore]) -> None:
    async def scenario(store: StateStore) -> None:
        terms = RateTerms("k1", rpm=2, tpm=None)
        await store.admit_key(terms, None, NOW)
        await store.admit_key(terms, None, NOW + 1)
        with pytest.raises(RateRefused) as refused:
            await store.admit_key(terms, None, NOW + 2)
        assert refused.value.wait_s == pytest.approx(58, abs=0.01)
        await store.admit_key(terms, None, NOW + 60.5)  # the first one left the window

    run(make_store, scenario)


def test_tokens_per_minute_are_counted(make_store: Callable[[], StateStore]) -> None:
    async def scenario(store: StateStore) -> None:
        terms = RateTerms("k1", rpm=None, tpm=100)
        await store.admit_key(terms, None, NOW)
        await store.settle("k1", 100, [], NOW)
        with pytest.raises(RateRefused):
            await store.admit_key(terms, None, NOW + 1)

    run(make_store, scenario)


def test_budget_holds_leave_no_room_for_overspend(make_store: Callable[[], StateStore]) -> None:
    async def scenario(store: StateStore) -> None:
        free = RateTerms("k1", None, None)
        assert await store.admit_key(free, hold(0.6, "a"), NOW) == 0.0
        with pytest.raises(BudgetRefused) as refused:
            await store.admit_key(free, hold(0.6, "b"), NOW)
        assert refused.value.committed == pytest.approx(0.6)
        settled = Settlement("key:k1:day:0", "a", 0.6, 0.25, 0.0, PERIOD_END)
        assert await store.settle(None, 0, [settled], NOW) == [pytest.approx(0.25)]
        assert await store.admit_key(free, hold(0.6, "c"), NOW) == pytest.approx(0.25)
        assert await store.spent(["key:k1:day:0", "key:other:day:0"]) == [
            pytest.approx(0.25),
            0.0,
        ]

    run(make_store, scenario)


def test_a_budget_starts_from_its_seed(make_store: Callable[[], StateStore]) -> None:
    async def scenario(store: StateStore) -> None:
        with pytest.raises(BudgetRefused):
            await store.admit_key(RateTerms("k1", None, None), hold(0.2, "a", seed=0.9), NOW)

    run(make_store, scenario)


def test_concurrent_holds_never_exceed_the_limit(make_store: Callable[[], StateStore]) -> None:
    async def scenario(store: StateStore) -> None:
        async def one(i: int) -> bool:
            try:
                await store.admit_key(RateTerms("k1", None, None), hold(0.1, f"t{i}"), NOW)
            except BudgetRefused:
                return False
            return True

        granted = await asyncio.gather(*(one(i) for i in range(40)))
        assert 9 <= sum(granted) <= 10  # ten dimes, give or take a float's rounding

    run(make_store, scenario)


def test_the_config_names_the_state_store() -> None:
    from turnout.config.load import ConfigError
    from turnout.runtime.configs import load_config_text

    routes = "providers: {m: {kind: mock}}\nroutes: {x: [m/x]}\n"
    assert load_config_text(routes).state is None
    assert load_config_text(routes + "state: memory\n").state == "memory"  # said, not defaulted
    shared = load_config_text(routes + "state: redis://127.0.0.1:6379/0?prefix=a\n")
    assert shared.state == "redis://127.0.0.1:6379/0?prefix=a"
    with pytest.raises(
        ConfigError, match="state must be memory, a sqlite:///path file or a redis:// URL"
    ):
        load_config_text(routes + "state: http://127.0.0.1:6379\n")
    store = open_state(shared.state)
    assert store.status().backend == "redis"
    assert not store.status().connected  # until started


def test_a_credential_gate_and_a_path_gate_are_read_together(
    make_store: Callable[[], StateStore],
) -> None:
    async def scenario(store: StateStore) -> None:
        assert (await store.admit("p", "p/m"))[0] is Admission.GO
        await store.mark("p/m", True, "model gone", 5)
        admission, gate = await store.admit("p", "p/m")
        assert admission is Admission.SKIP
        assert gate is not None
        assert (await store.admit("p", "p/other"))[0] is Admission.GO
        await store.mark("p", True, "credential out of quota", 5)
        assert (await store.admit("p", "p/other"))[0] is Admission.SKIP

    run(make_store, scenario)
