"""The route chain on its own, over a scripted provider and an injected clock: cooldowns that
answer for a single-path route, and probe leases given back on every way out.

No network and no real time: the provider is a Python object, the clock and sleep are fakes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from turnout.config import GatewayConfig
from turnout.config.model import Target
from turnout.diagnosis import Category
from turnout.errors import ClientRequestError, UpstreamHTTPError
from turnout.providers.base import Provider, UpstreamCall, UpstreamResponse
from turnout.routing.chain import Failed, RouteChain, Served
from turnout.routing.health import Admission, PathHealth
from turnout.runtime.configs import load_config_text

RATE_LIMITED = UpstreamHTTPError(
    "HTTP 429",
    status=429,
    body='{"error":{"type":"rate_limit_error","message":"Rate limit reached for requests"}}',
)
CONFIG = """
defaults: {retries: 2, cooldown_s: 15, backoff_s: 0.5}
providers:
  solo: {kind: openai, base_url: "http://127.0.0.1:9/v1"}
routes:
  m: [solo/model-a]
"""
PATH = "solo/model-a"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedProvider:
    """A provider whose `open` runs the next of `answers` (the last repeats)."""

    dialect = "openai"
    operations = frozenset({"chat"})

    def __init__(
        self, config: GatewayConfig, *answers: Callable[[], Awaitable[UpstreamResponse]]
    ) -> None:
        self.config = config.providers["solo"]
        self.answers = list(answers)
        self.calls = 0

    def dialect_for(self, model: str) -> str:
        return self.dialect

    async def open(self, call: UpstreamCall) -> UpstreamResponse:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return await answer()

    async def aclose(self) -> None:
        pass


async def rate_limited() -> UpstreamResponse:
    raise RATE_LIMITED


class Setup:
    def __init__(self, *answers: Callable[[], Awaitable[UpstreamResponse]]) -> None:
        self.config = load_config_text(CONFIG, "<test>", {})
        self.clock = FakeClock()
        self.slept: list[float] = []
        self.health = PathHealth(clock=self.clock)
        self.provider = ScriptedProvider(self.config, *answers)
        providers: dict[str, Provider] = {"solo": self.provider}

        async def sleep(seconds: float) -> None:
            self.slept.append(seconds)
            self.clock.now += seconds

        self.chain = RouteChain(self.config, providers, self.health, sleep=sleep)

    async def run(
        self, body_for: Callable[[Target, Provider], bytes | None] | None = None
    ) -> Served | Failed:
        call = UpstreamCall("chat", "openai", b"{}", "m", False, self.config.defaults)
        route = self.config.routes["m"]
        return await self.chain.run(route, call, body_for or (lambda t, p: b"{}"), "m")


def test_a_single_path_route_in_a_429_cooldown_answers_from_it() -> None:
    asyncio.run(_a_single_path_route_in_a_429_cooldown_answers_from_it())


async def _a_single_path_route_in_a_429_cooldown_answers_from_it() -> None:
    setup = Setup(rate_limited)
    first = await setup.run()
    assert isinstance(first, Failed)
    assert setup.provider.calls == 3  # one call and its two retries
    setup.clock.now += 4.2  # 15 s of cooldown, 10.8 left

    during = await setup.run()
    assert setup.provider.calls == 3  # no call during the cooldown
    assert isinstance(during, Failed)
    assert during.decisive.category is Category.RATE_LIMIT
    assert during.decisive.retry_after_s == 11  # the cooldown's seconds left, rounded up
    assert [a.label() for a in during.attempts] == ["solo:skipped(rate_limit)"]

    setup.clock.now += 11
    await setup.run()  # the cooldown is over: this one probes the path
    assert setup.provider.calls == 6


async def cooled(setup: Setup) -> None:
    """Leave the path's cooldown just over, so the next request takes its probe lease."""
    await setup.run()
    setup.clock.now += 16


def test_a_cancelled_probe_gives_its_lease_back() -> None:
    asyncio.run(_a_cancelled_probe_gives_its_lease_back())


async def _a_cancelled_probe_gives_its_lease_back() -> None:
    opened = asyncio.Event()

    async def hangs() -> UpstreamResponse:
        opened.set()
        await asyncio.Event().wait()  # until cancelled
        raise AssertionError("unreachable")

    setup = Setup(rate_limited, rate_limited, rate_limited, hangs)
    await cooled(setup)
    probe = asyncio.create_task(setup.run())
    await opened.wait()
    probe.cancel()  # as when the client hangs up mid-probe
    with pytest.raises(asyncio.CancelledError):
        await probe
    admission, _ = await setup.health.admit("solo", PATH)
    assert admission is Admission.PROBE  # the next request may probe at once, not in 60 s


def test_a_probe_that_cannot_build_its_body_gives_its_lease_back() -> None:
    asyncio.run(_a_probe_that_cannot_build_its_body_gives_its_lease_back())


async def _a_probe_that_cannot_build_its_body_gives_its_lease_back() -> None:
    setup = Setup(rate_limited)
    await cooled(setup)
    result = await setup.run(lambda t, p: None)
    assert isinstance(result, Failed)
    admission, _ = await setup.health.admit("solo", PATH)
    assert admission is Admission.PROBE


def test_a_probe_whose_request_is_refused_by_the_gateway_gives_its_lease_back() -> None:
    asyncio.run(_a_probe_whose_request_is_refused_by_the_gateway_gives_its_lease_back())


async def _a_probe_whose_request_is_refused_by_the_gateway_gives_its_lease_back() -> None:
    setup = Setup(rate_limited)
    await cooled(setup)

    def refuses(target: Target, provider: Provider) -> bytes:
        raise ClientRequestError(400, "'stop' must be a string or a list of strings")

    with pytest.raises(ClientRequestError):
        await setup.run(refuses)
    admission, _ = await setup.health.admit("solo", PATH)
    assert admission is Admission.PROBE
