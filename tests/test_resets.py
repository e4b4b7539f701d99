"""Real reset times: read from what providers send, a gate that lasts until then, and a gate that
survives a restart. Bodies and headers are recorded real examples (names and shapes as sent)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from tests.fakes import Fail, FakeUpstream, Reply, RunningUpstream
from tests.gateway import request, running_gateway
from turnout import diagnose
from turnout.edge.server import default_state
from turnout.providers import UpstreamCall, build_provider
from turnout.providers.transport import HttpTransport
from turnout.redaction import SecretMask
from turnout.routing.chain import Failed, RouteChain, Served
from turnout.routing.health import PathHealth
from turnout.routing.resets import provider_reset
from turnout.runtime.configs import load_config_text
from turnout.state import MemoryState

NOW = 1777922696.0  # 13872 s before the Codex body's resets_at
CODEX_LIMIT = (
    '{"type":"error","error":{"type":"usage_limit_reached","message":"The usage limit has been '
    'reached","plan_type":"plus","resets_at":1777936568,"eligible_promo":null,'
    '"resets_in_seconds":13872}}'
)
CODEX_HEADERS = {
    "x-codex-primary-used-percent": "100",
    "x-codex-secondary-used-percent": "80",
    "x-codex-primary-window-minutes": "300",
    "x-codex-secondary-window-minutes": "10080",
    "x-codex-primary-reset-after-seconds": "13873",
    "x-codex-primary-reset-at": "1777936568",
    "x-codex-secondary-reset-at": "1778239400",
}
ANTHROPIC_ERROR = '{"type":"error","error":{"type":"rate_limit_error","message":"Error"}}'
EXTRA_USAGE = (
    '{"type":"error","error":{"type":"invalid_request_error","message":"You\'re out of extra '
    'usage. Add more at claude.ai/settings/usage and keep going."}}'
)


def reset_of(status: int, body: str, headers: dict[str, str], now: float = NOW) -> tuple:  # type: ignore[type-arg]
    diagnosis = diagnose(status=status, body=body, headers=headers, provider="anthropic")
    found = provider_reset(status, body, headers, diagnosis, now)
    return (found.at, found.source, found.window) if found else ()


def test_the_codex_paths_body_says_when_its_limit_resets() -> None:
    assert reset_of(429, CODEX_LIMIT, {}) == (1777936568, "resets_at in the body", "")


def test_the_codex_paths_headers_name_the_full_window() -> None:
    assert reset_of(429, "{}", CODEX_HEADERS) == (
        1777936568,
        "x-codex-primary-reset-at",
        "five_hour",
    )


def test_a_rejected_unified_window_lifts_at_its_own_reset() -> None:
    headers = {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-representative-claim": "seven_day",
        "anthropic-ratelimit-unified-5h-reset": "1777930000",
        "anthropic-ratelimit-unified-7d-reset": "1778239400",
        "anthropic-ratelimit-unified-reset": "1778239400",
    }
    assert reset_of(429, ANTHROPIC_ERROR, headers) == (
        1778239400,
        "anthropic-ratelimit-unified-7d-reset",
        "seven_day",
    )


def test_with_two_windows_rejected_the_later_reset_counts() -> None:
    headers = {
        "anthropic-ratelimit-unified-5h-status": "rejected",
        "anthropic-ratelimit-unified-5h-reset": "2026-05-04T20:00:00Z",
        "anthropic-ratelimit-unified-7d-status": "rejected",
        "anthropic-ratelimit-unified-7d-reset": "2026-05-08T05:25:11Z",
    }
    at, source, window = reset_of(429, ANTHROPIC_ERROR, headers)
    assert at == datetime(2026, 5, 8, 5, 25, 11, tzinfo=UTC).timestamp()
    assert (source, window) == ("anthropic-ratelimit-unified-7d-reset", "seven_day")


def test_a_window_named_after_one_model_says_so() -> None:
    headers = {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-7d_oi-status": "rejected",
        "anthropic-ratelimit-unified-7d_oi-utilization": "1.0",
        "anthropic-ratelimit-unified-7d_oi-reset": "1778239400",
        "anthropic-ratelimit-unified-7d-status": "allowed",
        "anthropic-ratelimit-unified-7d-reset": "1778000000",
    }
    assert reset_of(429, ANTHROPIC_ERROR, headers) == (
        1778239400,
        "anthropic-ratelimit-unified-7d_oi-reset",
        "seven_day_overage_included",
    )


def test_a_rejected_window_without_its_reset_falls_back_to_retry_after() -> None:
    """The headers of a real 5-hour rejection, as a public report quoted them (no `-reset`
    among them); the wait the provider stated is then the `retry-after`."""
    headers = {
        "anthropic-ratelimit-unified-5h-status": "rejected",
        "anthropic-ratelimit-unified-5h-utilization": "1.08",
        "anthropic-ratelimit-unified-fallback-percentage": "0.5",
        "anthropic-ratelimit-unified-overage-disabled-reason": "org_level_disabled",
        "retry-after": "13262",
    }
    assert reset_of(429, ANTHROPIC_ERROR, headers) == (NOW + 13262, "retry-after", "")


def test_an_allowed_window_says_nothing_about_a_reset() -> None:
    headers = {
        "anthropic-ratelimit-unified-status": "allowed",
        "anthropic-ratelimit-unified-5h-utilization": "0.42",
        "anthropic-ratelimit-unified-5h-reset": "1777930000",
    }
    assert reset_of(400, EXTRA_USAGE, headers) == ()


def test_retry_after_and_an_exhausted_openai_limit() -> None:
    assert reset_of(429, "{}", {"retry-after": "120"}) == (NOW + 120, "retry-after", "")
    limits = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"}
    assert reset_of(429, "{}", limits) == (NOW + 360, "x-ratelimit-reset-requests", "")


def test_a_reset_told_in_words_with_its_time_zone() -> None:
    now = datetime(2026, 5, 4, 17, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    body = (
        '{"type":"error","error":{"type":"rate_limit_error","message":"5-hour limit reached '
        '\\u2219 resets 9pm (Europe/Berlin)"}}'
    )
    diagnosis = diagnose(status=429, body=body, provider="anthropic", now=now)
    found = provider_reset(429, body, {}, diagnosis, now.timestamp())
    assert found is not None
    assert found.source == "the provider's message"
    assert found.at == datetime(2026, 5, 4, 21, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()


# -- The gate lasts until the stated time, on an injected clock --------------------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _gate_until_the_stated_reset() -> tuple[list[str], dict[str, float | None]]:
    clock = Clock(NOW)
    async with FakeUpstream() as fake:
        fake.script(Fail(429, CODEX_LIMIT), Reply(text="back"))
        config = load_config_text(
            yaml.safe_dump(
                {
                    "defaults": {"retries": 0},
                    "providers": {"codex": {"kind": "openai", "base_url": fake.url + "/v1"}},
                    "routes": {"gpt-5": ["codex/gpt-5"]},
                }
            ),
            "<test>",
            {},
        )
        transport = HttpTransport(SecretMask())
        providers = {"codex": build_provider(config.providers["codex"], transport)}
        health = PathHealth(MemoryState(clock), clock)
        chain = RouteChain(config, providers, health, wall=clock)
        route = config.routes["gpt-5"]
        body = b'{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}'
        call = UpstreamCall("chat", "openai", body, "gpt-5", False, config.defaults)
        seen: list[str] = []
        marks: dict[str, float | None] = {}
        try:
            for advance in (0.0, 13871.0, 2.0):  # at once, a second before the reset, after it
                clock.now += advance
                outcome = await chain.run(route, call, lambda t, p: body, "gpt-5")
                seen.append(
                    "served" if isinstance(outcome, Served) else outcome.attempts[-1].outcome
                )
                if isinstance(outcome, Served):
                    await outcome.response.close()
                if isinstance(outcome, Failed) and outcome.attempts[-1].resets_at:
                    marks["attempt_reset"] = outcome.attempts[-1].resets_at
            snapshot = await health.snapshot()
            marks["left"] = float(len(snapshot))
        finally:
            await transport.aclose()
        marks["calls"] = float(len(fake.requests))
        return seen, marks


def test_the_gate_lifts_at_the_providers_reset_and_not_before() -> None:
    seen, marks = asyncio.run(_gate_until_the_stated_reset())
    assert seen == ["quota", "skipped", "served"]
    assert marks["attempt_reset"] == 1777936568
    assert marks["calls"] == 2  # skipped without a call until the reset, then one probe
    assert marks["left"] == 0  # the probe cleared it


def test_a_weekly_limit_on_one_model_family_gates_that_model_only() -> None:
    headers = {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-representative-claim": "seven_day_opus",
        # The weekly Opus limit has no header family of its own: its reset is the overall one.
        "anthropic-ratelimit-unified-reset": "4102444800",
        "anthropic-ratelimit-unified-7d-status": "allowed",
        "anthropic-ratelimit-unified-7d-utilization": "0.4",
    }
    with RunningUpstream() as up:
        up.script(Fail(429, ANTHROPIC_ERROR, headers), Reply(text="sonnet is fine"))
        config = {
            "defaults": {"retries": 0},
            "providers": {"claude": {"kind": "anthropic", "base_url": up.url, "api_key": "${K}"}},
            "routes": {"*": ["claude/*"]},
        }
        with running_gateway(yaml.safe_dump(config), env={"K": "sk-ant-x"}) as gw:
            ask = {"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
            request(gw.url, "POST", "/v1/messages", {"model": "claude-opus-4-1", **ask})
            sonnet = request(gw.url, "POST", "/v1/messages", {"model": "claude-sonnet-4-6", **ask})
            assert sonnet.status == 200
            [gate] = request(gw.url, "GET", "/turnout/paths").json()["paths"]  # type: ignore[index]
    assert gate["path"] == "claude/claude-opus-4-1"
    assert gate["code"] == "subscription_model_limit"
    assert gate["window"] == "seven_day_opus"
    assert gate["provider_reset_at"] == 4102444800


# -- Gates survive a restart -------------------------------------------------------------------


def test_a_gate_and_its_reset_survive_a_restart(tmp_path: Path) -> None:
    with RunningUpstream() as up:
        up.script(Fail(429, CODEX_LIMIT.replace("1777936568", "4102444800")))  # in 2100
        config = yaml.safe_dump(
            {
                "state": f"sqlite:///{tmp_path / 'state.sqlite3'}",
                "defaults": {"retries": 0},
                "providers": {"codex": {"kind": "openai", "base_url": up.url + "/v1"}},
                "routes": {"gpt-5": ["codex/gpt-5"]},
            }
        )
        chat = {"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(2):  # the gateway, then the same gateway restarted
            with running_gateway(config) as gw:
                assert request(gw.url, "POST", "/v1/chat/completions", chat).status == 400
                [gate] = request(gw.url, "GET", "/turnout/paths").json()["paths"]  # type: ignore[index]
        assert len(up.requests) == 1  # after the restart the gate was still known
    assert gate["provider_reset_at"] == 4102444800
    assert gate["provider_reset_source"] == "resets_at in the body"
    assert gate["seconds_left"] > 8 * 86400 - 60  # the probe comes at the cap, not in 2100


def test_serve_keeps_gates_in_the_ports_state_file_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))

    def state_for(extra: dict[str, object]) -> str | None:
        routes = {"m": ["m/m"]}
        text = yaml.safe_dump({"providers": {"m": {"kind": "mock"}}, "routes": routes, **extra})
        return default_state(load_config_text(text, "<test>", {}), 8787)

    ledger = tmp_path / "ledger.sqlite3"
    expected = f"sqlite://{tmp_path}/turnout/state-8787.sqlite3"  # the one --workers share
    assert state_for({"ledger": str(ledger)}) == expected
    assert state_for({}) == expected
    assert state_for({"ledger": str(ledger), "state": "memory"}) == "memory"
    assert state_for({"ledger": "off"}) is None  # no files at all: memory
