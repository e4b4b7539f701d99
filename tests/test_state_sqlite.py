"""The SQLite state file: one view for every process of a machine, and gates kept across a
restart. Other processes here are real ones, started with multiprocessing."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.learning import (
    notes_stay_within_their_bound,
    pace_learned_by_one_is_seen_by_the_other,
    prefill_learned_by_one_is_seen_by_the_other,
)
from turnout.state import Admission, BudgetHold, BudgetRefused, RateTerms, StateStore, open_state

NOW = 1_800_000_000.0


def _admit_many(path: str, start: Any, out: Any) -> None:
    """One worker process: 50 admissions of a path whose gate is up, as fast as it can."""

    async def main() -> list[str]:
        store = open_state(f"sqlite://{path}")
        await store.start()
        start.wait(30)
        verdicts = [(await store.admit("p/m"))[0].value for _ in range(50)]
        await store.aclose()
        return verdicts

    out.put(asyncio.run(main()))


def test_of_four_processes_asking_at_once_exactly_one_probes(tmp_path: Path) -> None:
    path = str(tmp_path / "state.sqlite3")

    async def gate() -> None:
        store = open_state(f"sqlite://{path}")
        await store.start()
        await store.mark("p/m", True, "quota", 0.0)  # the gate's time is up: next admit probes
        await store.aclose()

    asyncio.run(gate())
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    workers = [context.Process(target=_admit_many, args=(path, start, out)) for _ in range(4)]
    for worker in workers:
        worker.start()
    start.set()
    verdicts = [v for _ in workers for v in out.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=30)
    assert verdicts.count(Admission.PROBE.value) == 1
    assert verdicts.count(Admission.SKIP.value) == 199


def test_a_gate_and_a_budget_outlive_a_restart(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'state.sqlite3'}"
    budget = BudgetHold("key:k1:day:0", "a", 0.6, 1.0, 0.0, NOW + 3600)

    async def first_life() -> None:
        store = open_state(url)
        await store.start()
        await store.mark("anthropic", True, "subscription usage gate", 3600)
        await store.admit_key(RateTerms("k1", None, None), budget, NOW)
        await store.aclose()

    async def second_life() -> None:
        store = open_state(url)
        await store.start()
        admission, gate = await store.admit("anthropic")
        assert admission is Admission.SKIP
        assert gate is not None
        assert (gate.gated, gate.reason) == (True, "subscription usage gate")
        assert gate.seconds_left > 3500
        again = BudgetHold("key:k1:day:0", "b", 0.6, 1.0, 0.0, NOW + 3600)
        with pytest.raises(BudgetRefused) as refused:
            await store.admit_key(RateTerms("k1", None, None), again, NOW)
        assert refused.value.committed == 0.6  # the first life's hold is still counted
        await store.aclose()

    asyncio.run(first_life())
    asyncio.run(second_life())


def test_an_unusable_file_falls_back_on_memory(tmp_path: Path) -> None:
    (tmp_path / "state.sqlite3").write_bytes(b"this is not a database" * 100)

    async def main() -> None:
        store = open_state(f"sqlite://{tmp_path / 'state.sqlite3'}")
        await store.start()  # logs, and keeps state in memory
        await store.mark("p/m", True, "why", 60)
        assert (await store.admit("p/m"))[0] is Admission.SKIP
        assert store.status().connected is False
        await store.aclose()

    asyncio.run(main())


def test_marks_stay_within_their_bound_whatever_names_clients_invent(tmp_path: Path) -> None:
    from turnout.state.memory import MAX_MARKS

    async def scenario() -> tuple[int, set[str]]:
        state = open_state(f"sqlite:///{tmp_path / 'state.sqlite3'}")
        await state.mark("relay", True, "credential gate", 3600)
        for i in range(MAX_MARKS + 500):
            await state.mark(f"relay/no-such-{i}", True, "model not found", 3600)
        gates = await state.gates()
        return len(gates), set(gates)

    count, paths = asyncio.run(scenario())
    assert count == MAX_MARKS
    assert "relay" in paths  # a credential's mark goes last
    assert "relay/no-such-0" not in paths  # the oldest on one model went first
    assert f"relay/no-such-{MAX_MARKS + 499}" in paths


def test_a_mark_made_by_another_process_stops_the_next_admission(tmp_path: Path) -> None:
    """A path nobody marked is admitted by a read alone; the read is the file's, never a
    copy: a gate one worker learns stops the other worker's very next request."""

    async def both(one: StateStore, other: StateStore) -> None:
        assert await other.admit("p", "p/m") == (Admission.GO, None)
        await one.mark("p/m", True, "quota", 3600.0)
        admission, gate = await other.admit("p", "p/m")
        assert admission is Admission.SKIP
        assert gate is not None
        assert gate.reason == "quota"
        await one.clear("p/m")
        assert await other.admit("p", "p/m") == (Admission.GO, None)

    asyncio.run(on_two_stores(tmp_path, both))


async def on_two_stores(
    tmp_path: Path, scenario: Callable[[StateStore, StateStore], Awaitable[None]]
) -> None:
    """`scenario` on two stores over one state file, as two workers of a machine hold it."""
    url = f"sqlite://{tmp_path / 'state.sqlite3'}"
    one, other = open_state(url), open_state(url)
    await one.start()
    await other.start()
    try:
        await scenario(one, other)
    finally:
        await one.aclose()
        await other.aclose()


def test_a_prefill_verdict_one_worker_learns_is_the_others_next_one(tmp_path: Path) -> None:
    asyncio.run(on_two_stores(tmp_path, prefill_learned_by_one_is_seen_by_the_other))


@pytest.mark.parametrize("url", ["memory", "sqlite"])
def test_notes_stay_within_their_bound_whatever_names_clients_invent(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("turnout.state.memory.MAX_NOTES", 20)
    monkeypatch.setattr("turnout.state.sqlite_store.MAX_NOTES", 20)

    async def scenario() -> None:
        store = open_state(url if url == "memory" else f"sqlite://{tmp_path / 'state.sqlite3'}")
        await store.start()
        try:
            await notes_stay_within_their_bound(store, 20)
        finally:
            await store.aclose()

    asyncio.run(scenario())


def test_the_pace_one_worker_learns_sets_the_others_deadlines(tmp_path: Path) -> None:
    asyncio.run(on_two_stores(tmp_path, pace_learned_by_one_is_seen_by_the_other))
