"""The Redis backend as replicas share it: one probe among many, keys that expire by
themselves, and a replica that keeps serving on memory while Redis is away, then resyncs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis

from tests.learning import (
    notes_stay_within_their_bound,
    pace_learned_by_one_is_seen_by_the_other,
    prefill_learned_by_one_is_seen_by_the_other,
)
from tests.redis_servers import (
    PrivateRedis,
    free_port,
    private_redis_fixture,  # noqa: F401  (registers `private_redis`)
    redis_url_fixture,  # noqa: F401  (registers `redis_url`)
)
from tests.waiting import wait_until
from turnout.state import Admission, BudgetHold, RateTerms, split_state_url
from turnout.state.redis_store import RedisState


def replica(url: str, **options: Any) -> RedisState:
    redis_url, prefix, _ = split_state_url(url)
    # A generous timeout: on a busy test machine a 100 ms one would send some calls to the
    # local fallback, and these tests are about Redis itself.
    return RedisState(redis_url, prefix, timeout_s=2.0, **options)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 30))


async def started(*stores: RedisState) -> None:
    for store in stores:
        await store.start()


async def closed(*stores: RedisState) -> None:
    for store in stores:
        await store.aclose()


def test_one_replica_probes_when_many_ask_at_once(redis_url: str) -> None:
    async def scenario() -> None:
        replicas = [replica(redis_url) for _ in range(5)]
        await started(*replicas)
        await replicas[0].mark("a/m", True, "quota", 0.1)
        assert (await replicas[3].admit("a/m"))[0] is Admission.SKIP  # seen by the others
        await asyncio.sleep(0.15)  # past the gate's TTL on Redis's clock: a lower bound
        verdicts = await asyncio.gather(*(replicas[i % 5].admit("a/m") for i in range(60)))
        assert [v for v, _ in verdicts].count(Admission.PROBE) == 1
        await closed(*replicas)

    run(scenario)


def test_every_key_expires_by_itself(redis_url: str) -> None:
    _, prefix, _ = split_state_url(redis_url)

    async def scenario() -> None:
        store = replica(redis_url)
        await store.start()
        await store.mark("a/m", True, "quota", 0.2)
        await store.admit_key(
            RateTerms("k", rpm=5, tpm=None),
            BudgetHold("key:k:day:0", "t", 0.1, 1.0, 0.0, time.time() + 3600),
            time.time(),
        )
        await store.aclose()

    run(scenario)
    client = redis.Redis.from_url(split_state_url(redis_url)[0])
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        assert len(keys) >= 5
        for key in keys:
            assert client.pttl(key) > 0, key  # nothing is kept for ever
        gate = f"{prefix}:path:a/m:gate".encode()
        wait_until(lambda: not client.exists(gate), what="the gate key expiring on its own")
        assert client.exists(f"{prefix}:path:a/m:mark")  # lingers, for the one probe
    finally:
        client.close()


def test_an_unreachable_redis_costs_little_and_memory_serves() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"

    async def scenario() -> None:
        store = replica(dead, retry_s=0.2)
        # Each step returns without waiting for Redis: far inside these bounds, which
        # only catch a store that blocks on the dead address.
        await asyncio.wait_for(store.start(), 10)
        assert not store.status().connected
        await asyncio.wait_for(store.mark("a/m", True, "quota", 5), 10)
        assert (await asyncio.wait_for(store.admit("a/m"), 10))[0] is Admission.SKIP
        assert (await asyncio.wait_for(store.admit("b/m"), 10))[0] is Admission.GO
        terms = RateTerms("k", 1, None)
        await asyncio.wait_for(store.admit_key(terms, None, time.time()), 10)
        await store.aclose()

    run(scenario)


def test_an_outage_is_logged_once_and_a_resync_pushes_local_gates(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="turnout.state")
    url = private_redis.url + "?prefix=outage"

    async def scenario() -> None:
        a = replica(url, retry_s=0.1)
        await a.start()
        assert a.status().connected
        private_redis.stop()
        for path in ("x/1", "x/2", "x/3"):  # every write lands in memory, none fails
            await a.mark(path, True, "quota", 30)
        assert (await a.admit("x/1"))[0] is Admission.SKIP
        assert not a.status().connected
        down_since = a.status().since
        await asyncio.to_thread(private_redis.start)
        while not a.status().connected:  # the reconnection, bounded by run()'s deadline
            await asyncio.sleep(0.05)
        assert a.status().since > down_since
        b = replica(url)  # a replica that never saw the outage reads what `a` pushed
        await b.start()
        assert set(await b.gates()) == {"x/1", "x/2", "x/3"}
        assert (await b.admit("x/2"))[0] is Admission.SKIP
        await closed(a, b)

    run(scenario)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "unreachable" in warnings[0].getMessage()
    assert any("reachable again" in r.getMessage() for r in caplog.records)


def test_a_prefill_verdict_one_replica_learns_is_the_others_next_one(redis_url: str) -> None:
    async def scenario() -> None:
        one, other = replica(redis_url), replica(redis_url)
        await started(one, other)
        await prefill_learned_by_one_is_seen_by_the_other(one, other)
        await closed(one, other)

    run(scenario)


def test_notes_stay_within_their_bound_on_redis(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("turnout.state.redis_store.MAX_NOTES", 20)

    async def scenario() -> None:
        store = replica(redis_url)
        await store.start()
        await notes_stay_within_their_bound(store, 20)
        await closed(store)

    run(scenario)


def test_the_pace_one_replica_learns_sets_the_others_deadlines(redis_url: str) -> None:
    async def scenario() -> None:
        one, other = replica(redis_url), replica(redis_url)
        await started(one, other)
        await pace_learned_by_one_is_seen_by_the_other(one, other)
        await closed(one, other)

    run(scenario)
