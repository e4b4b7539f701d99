"""Headroom: usage windows read from every response, kept per path, shown in /turnout/paths, the
dashboard state and `turnout status`; a path below its `reserve` yields to the next one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from tests.fakes import Fail, Reply, RunningUpstream
from tests.gateway import RunningGateway, request, running_gateway
from turnout.cli.main import main
from turnout.cli.watch import screen
from turnout.routing.headroom import read_windows
from turnout.runtime.configs import load_config_text

NOW = 1789600000.0
#: A subscription response's unified headers, as a real one carries them (OpenCode #49499).
SUBSCRIPTION = {
    "anthropic-ratelimit-unified-status": "allowed",
    "anthropic-ratelimit-unified-5h-utilization": "0.42",
    "anthropic-ratelimit-unified-7d-utilization": "0.30",
    "anthropic-ratelimit-unified-5h-reset": "2026-09-17T09:13:32Z",
    "anthropic-ratelimit-unified-7d-reset": "2026-09-23T05:25:11Z",
}
#: The full unified set a subscription response carried, by name, as listed in a public report
#: of one (makecindy/cindy#2626: 16 headers, 15 of them named there); the representative claim
#: is the one Claude Code reads beside them. These names are also exactly the ones Claude Code
#: 2.1.197 reads per window (`5h`, `7d`, `7d_oi`, `overage`): no per-model weekly family. The
#: values are made up, in the forms that client parses (fractions, epoch seconds).
OBSERVED_UNIFIED = {
    "anthropic-ratelimit-unified-5h-utilization": "0.21",
    "anthropic-ratelimit-unified-5h-reset": "1789610400",
    "anthropic-ratelimit-unified-5h-status": "allowed",
    "anthropic-ratelimit-unified-5h-surpassed-threshold": "0.2",
    "anthropic-ratelimit-unified-7d-utilization": "0.64",
    "anthropic-ratelimit-unified-7d-reset": "1790100000",
    "anthropic-ratelimit-unified-7d-status": "allowed",
    "anthropic-ratelimit-unified-overage-in-use": "false",
    "anthropic-ratelimit-unified-overage-status": "rejected",
    "anthropic-ratelimit-unified-overage-utilization": "0.0",
    "anthropic-ratelimit-unified-overage-reset": "1790900000",
    "anthropic-ratelimit-unified-fallback-percentage": "0.5",
    "anthropic-ratelimit-unified-upgrade-paths": "max_20x",
    "anthropic-ratelimit-unified-status": "allowed",
    "anthropic-ratelimit-unified-reset": "1789610400",
    "anthropic-ratelimit-unified-representative-claim": "five_hour",
}
OPENAI_LIMITS = {
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9500",
    "x-ratelimit-reset-requests": "6s",
    "x-ratelimit-limit-tokens": "1000000",
    "x-ratelimit-remaining-tokens": "950000",
    "x-ratelimit-reset-tokens": "1m0s",
}
CODEX = {
    "x-codex-primary-used-percent": "100",
    "x-codex-secondary-used-percent": "80",
    "x-codex-primary-window-minutes": "300",
    "x-codex-secondary-window-minutes": "10080",
    "x-codex-primary-reset-at": "1789613873",
}


def test_the_unified_windows_are_read_as_shares_used() -> None:
    five, seven = read_windows(SUBSCRIPTION, NOW)
    assert (five.name, five.used, round(five.left, 2)) == ("five_hour", 0.42, 0.58)
    assert (seven.name, seven.used) == ("seven_day", 0.30)
    assert five.resets_at is not None and seven.resets_at is not None  # noqa: PT018
    assert five.resets_at < seven.resets_at


def test_the_observed_unified_set_gives_its_three_windows_and_nothing_invented() -> None:
    windows = {w.name: w for w in read_windows(OBSERVED_UNIFIED, NOW)}
    assert list(windows) == ["five_hour", "seven_day", "overage"]
    assert (windows["five_hour"].used, windows["five_hour"].resets_at) == (0.21, 1789610400)
    assert (windows["seven_day"].used, windows["seven_day"].status) == (0.64, "allowed")
    assert windows["overage"].status == "rejected"  # no extra usage: the plan itself still serves
    # Past its warning threshold the 5h window says which (Claude Code's "approaching" notice).
    assert (windows["five_hour"].warning_at, windows["seven_day"].warning_at) == (0.2, None)


def test_a_window_known_only_by_its_early_warning_is_read_as_at_least_that_used() -> None:
    headers = {
        "anthropic-ratelimit-unified-status": "allowed_warning",
        "anthropic-ratelimit-unified-7d-surpassed-threshold": "0.75",
        "anthropic-ratelimit-unified-7d-reset": "1790100000",
    }
    [week] = read_windows(headers, NOW)
    assert (week.name, week.used, week.warning_at, week.resets_at) == (
        "seven_day",
        0.75,
        0.75,
        1790100000,
    )
    assert week.to_dict()["warning_at"] == 0.75


def test_a_window_not_known_yet_is_read_under_its_own_name() -> None:
    headers = {
        "anthropic-ratelimit-unified-7d_oi-utilization": "0.5",
        "anthropic-ratelimit-unified-7d_oi-status": "allowed",
        "anthropic-ratelimit-unified-7d_fable-utilization": "0.9",
        "anthropic-ratelimit-unified-7d_fable-reset": "1790100000",
        "anthropic-ratelimit-unified-overage-period-monthly-utilization": "0.3",  # not a window
    }
    named = [(w.name, w.used, w.resets_at) for w in read_windows(headers, NOW)]
    assert named == [("seven_day_overage_included", 0.5, None), ("7d_fable", 0.9, 1790100000)]


def test_openai_limits_and_codex_windows() -> None:
    requests, tokens = read_windows(OPENAI_LIMITS, NOW)
    assert (requests.name, round(requests.used, 4), requests.resets_at) == (
        "requests",
        0.05,
        NOW + 6,
    )
    assert (tokens.name, tokens.resets_at) == ("tokens", NOW + 60)
    primary, secondary = read_windows(CODEX, NOW)
    assert (primary.name, primary.left, primary.resets_at) == ("five_hour", 0.0, 1789613873)
    assert (secondary.name, secondary.used) == ("seven_day", 0.8)


def test_no_ratelimit_headers_no_windows() -> None:
    assert read_windows({"content-type": "application/json"}, NOW) == []


def nearly_spent(reset: str = "4102444800") -> dict[str, str]:
    return {
        "anthropic-ratelimit-unified-status": "allowed_warning",
        "anthropic-ratelimit-unified-5h-utilization": "0.97",
        "anthropic-ratelimit-unified-5h-reset": reset,
        "anthropic-ratelimit-unified-5h-status": "allowed_warning",
        "anthropic-ratelimit-unified-5h-surpassed-threshold": "0.9",
    }


@contextmanager
def subscription_then_backup(
    reserve: float | None,
) -> Iterator[tuple[RunningGateway, RunningUpstream, RunningUpstream, str]]:
    with ExitStack() as stack:
        sub, backup = (stack.enter_context(RunningUpstream()) for _ in range(2))
        login: dict[str, object] = {"kind": "anthropic", "base_url": sub.url, "api_key": "${K}"}
        if reserve is not None:
            login["reserve"] = reserve
        config = yaml.safe_dump(
            {
                "defaults": {"retries": 0},
                "providers": {
                    "sub": login,
                    "backup": {"kind": "anthropic", "base_url": backup.url, "api_key": "${K}"},
                },
                "routes": {
                    "claude-sonnet-4-6": ["sub/claude-sonnet-4-6", "backup/claude-sonnet-4-6"]
                },
            }
        )
        gw = stack.enter_context(running_gateway(config, env={"K": "sk-ant-api03-k"}))
        yield gw, sub, backup, config


ASK = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 5,
    "messages": [{"role": "user", "content": "hi"}],
}


def text_of(reply: object) -> str:
    return reply.json()["content"][0]["text"]  # type: ignore[attr-defined, no-any-return]


def test_a_path_below_its_reserve_yields_to_the_next() -> None:
    with subscription_then_backup(reserve=0.05) as (gw, sub, backup, _):
        sub.script(Reply(text="from the subscription", headers=nearly_spent()))
        backup.script(Reply(text="from the backup"))
        assert text_of(request(gw.url, "POST", "/v1/messages", ASK)) == "from the subscription"
        second = request(gw.url, "POST", "/v1/messages", ASK)
        assert text_of(second) == "from the backup"  # 3% left is below the 5% reserve
        assert second.headers["x-turnout-attempts"].startswith("sub:deferred")
        assert len(sub.requests) == 1


def test_a_path_below_its_reserve_still_serves_when_nothing_else_can() -> None:
    with subscription_then_backup(reserve=0.05) as (gw, sub, backup, _):
        sub.script(Reply(text="from the subscription", headers=nearly_spent()))
        backup.script(Fail(401, '{"type":"error","error":{"type":"authentication_error"}}'))
        for _ in range(2):
            assert text_of(request(gw.url, "POST", "/v1/messages", ASK)) == "from the subscription"


def test_without_a_reserve_the_path_is_used_to_its_gate() -> None:
    with subscription_then_backup(reserve=None) as (gw, sub, _, _):
        sub.script(Reply(text="from the subscription", headers=nearly_spent()))
        for _ in range(2):
            assert text_of(request(gw.url, "POST", "/v1/messages", ASK)) == "from the subscription"


def test_headroom_is_shown_in_paths_the_dashboard_and_turnout_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with subscription_then_backup(reserve=None) as (gw, sub, backup, config):
        sub.script(Reply(headers=nearly_spent()))
        backup.script(Reply())
        request(gw.url, "POST", "/v1/messages", ASK)
        paths = request(gw.url, "GET", "/turnout/paths").json()
        state = request(gw.url, "GET", "/dashboard/state").json()
        config_file = tmp_path / "turnout.yaml"
        config_file.write_text(config)
        monkeypatch.setenv("K", "sk-ant-api03-k")
        monkeypatch.setenv("COLUMNS", "200")
        assert main(["status", "--config", str(config_file), "--gateway", gw.url]) == 0
    [window] = paths["headroom"]["sub/claude-sonnet-4-6"]["windows"]  # type: ignore[index]
    assert (window["name"], window["left"], window["status"], window["warning_at"]) == (
        "five_hour",
        0.03,
        "allowed_warning",
        0.9,
    )
    [route] = state["routes"]  # type: ignore[index]
    assert route["paths"][0]["headroom"][0]["used"] == 0.97
    printed = capsys.readouterr().out
    assert "sub/claude-sonnet-4-6" in printed
    assert "5h 3% left (past the 90% warning)" in printed


def test_turnout_status_tells_the_providers_reset_from_the_next_probe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rejected = {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-5h-status": "rejected",
        "anthropic-ratelimit-unified-5h-utilization": "1.0",
        "anthropic-ratelimit-unified-5h-reset": "4102444800",
    }
    limit = '{"type":"error","error":{"type":"rate_limit_error","message":"5-hour limit reached"}}'
    with subscription_then_backup(reserve=None) as (gw, sub, backup, config):
        sub.script(Fail(429, limit, rejected))
        backup.script(Reply())
        request(gw.url, "POST", "/v1/messages", ASK)
        config_file = tmp_path / "turnout.yaml"
        config_file.write_text(config)
        monkeypatch.setenv("K", "sk-ant-api03-k")
        monkeypatch.setenv("COLUMNS", "240")
        assert main(["status", "--config", str(config_file), "--gateway", gw.url]) == 0
    printed = capsys.readouterr().out
    [row] = [line for line in printed.splitlines() if "sub/claude-sonnet-4-6" in line]
    assert "quota/subscription_window_limit" in row
    provider_reset, next_probe = re.findall(r"in (\d+)d (\d+)h", row)
    assert int(provider_reset[0]) > 20000  # the provider's word: in 2100
    assert next_probe in (("8", "0"), ("7", "23"))  # the gateway's probe comes at its cap
    assert "5h 0% left (rejected)" in row


def test_turnout_watch_shows_the_table_and_the_latest_failovers() -> None:
    limit = '{"type":"error","error":{"type":"rate_limit_error","message":"5-hour limit reached"}}'
    with subscription_then_backup(reserve=None) as (gw, sub, backup, config):
        sub.script(Fail(429, limit))
        backup.script(Reply())
        request(gw.url, "POST", "/v1/messages", ASK)
        console = Console(record=True, width=200)
        console.print(screen(load_config_text(config, "<test>", {"K": "x"}), gw.url, None))
    shown = console.export_text()
    assert "turnout paths" in shown
    assert "latest failures and failovers" in shown
    [failover] = [
        line
        for line in shown.splitlines()
        if "backup/claude-sonnet-4-6" in line and ":" in line[:12]
    ]
    assert "sub/claude-sonnet-4-6" in failover  # failed there, served by the backup


def test_metrics_carry_each_paths_headroom() -> None:
    with subscription_then_backup(reserve=None) as (gw, sub, _, _):
        sub.script(Reply(headers=nearly_spent()))
        request(gw.url, "POST", "/v1/messages", ASK)
        metrics = request(gw.url, "GET", "/metrics").body.decode()
    line = 'turnout_path_headroom_ratio{path="sub/claude-sonnet-4-6",window="five_hour"}'
    [value] = [row.split()[-1] for row in metrics.splitlines() if row.startswith(line)]
    assert round(float(value), 2) == 0.03


def test_task_routes_move_before_the_work_a_person_waits_on() -> None:
    """At 8% left and a 5% reserve, a title request (a task route keeps twice the reserve)
    moves to the backup while the conversation itself stays on the subscription."""
    with ExitStack() as stack:
        sub, backup = (stack.enter_context(RunningUpstream()) for _ in range(2))
        paths = ["sub/claude-sonnet-4-6", "backup/claude-sonnet-4-6"]
        config = {
            "defaults": {"retries": 0},
            "providers": {
                "sub": {
                    "kind": "anthropic",
                    "base_url": sub.url,
                    "api_key": "${K}",
                    "reserve": 0.05,
                },
                "backup": {"kind": "anthropic", "base_url": backup.url, "api_key": "${K}"},
            },
            "routes": {"claude-sonnet-4-6": paths, "titles": paths},
            "tasks": {"title": "titles"},
        }
        gw = stack.enter_context(running_gateway(yaml.safe_dump(config), env={"K": "sk-ant-x"}))
        headers = nearly_spent() | {"anthropic-ratelimit-unified-5h-utilization": "0.92"}
        sub.script(Reply(text="from the subscription", headers=headers))
        backup.script(Reply(text="from the backup"))
        request(gw.url, "POST", "/v1/messages", ASK)  # learns the headroom
        title = request(gw.url, "POST", "/v1/messages", ASK, {"x-turnout-task": "title"})
        chat = request(gw.url, "POST", "/v1/messages", ASK)
        assert text_of(title) == "from the backup"
        assert text_of(chat) == "from the subscription"
