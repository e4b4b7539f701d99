"""Background loops: no failure ends one, and a loop that keeps failing shows in /healthz."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.gateway import request, running_gateway
from turnout import periodic
from turnout.periodic import Every


def test_an_unexpected_failure_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        calls = 0
        recovered = asyncio.Event()

        async def step() -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise KeyError("a bug in a step")
            if calls == 3:
                recovered.set()

        loop = Every(0, step, what="flaky step")
        loop.start()
        try:
            await asyncio.wait_for(recovered.wait(), timeout=30)
            status = loop.status()
            assert (status.failures, status.failing, status.last_error) == (1, False, "KeyError")
            assert status in periodic.running()
        finally:
            await loop.stop()
        assert loop.status() not in periodic.running()

    with caplog.at_level(logging.ERROR, logger="turnout"):
        asyncio.run(scenario())
    [failure] = [r for r in caplog.records if "flaky step" in r.getMessage()]
    assert failure.exc_info is not None  # the traceback is in the log


def health(url: str) -> Any:
    return request(url, "GET", "/healthz").json()


def test_a_failing_loop_makes_healthz_say_degraded() -> None:
    async def broken() -> None:
        raise OSError("disk says no to secret-123")

    config = "providers: {p: {kind: mock}}\nroutes: {m: [p/x]}\nledger: off\n"
    with running_gateway(config) as gateway:
        assert health(gateway.url)["status"] == "ok"
        failed = asyncio.Event()

        async def step() -> None:
            try:
                await broken()
            finally:
                failed.set()

        async def run_one_failure() -> Every:
            loop = Every(0, step, what="test loop")
            loop.start()
            await asyncio.wait_for(failed.wait(), timeout=30)
            while not loop.status().failing:
                await asyncio.sleep(0)
            return loop

        async def scenario() -> None:
            loop = await run_one_failure()
            try:
                reply = request(gateway.url, "GET", "/healthz")
                body: Any = reply.json()
                assert reply.status == 200
                assert body["status"] == "degraded"
                assert body["loops"]["test loop"]["failing"] is True
                assert body["loops"]["test loop"]["last_error"] == "OSError"
                assert b"secret-123" not in reply.body
            finally:
                await loop.stop()

        asyncio.run(scenario())
        assert health(gateway.url)["status"] == "ok"
