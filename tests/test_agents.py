"""The real agent clients, Claude Code and Hermes Agent, driven through turnout to fake upstreams.

`make agents` installs both (see tests/agents/). Every request a client makes goes to a gateway
on 127.0.0.1, every provider path is a fake upstream on 127.0.0.1, and the clients run with a
throwaway home, their telemetry and update checks off, and a dead proxy for any other host, so
nothing here can reach a real provider. turnout's x-turnout-* headers never reach the test
through a client, so the assertions read what the fake upstreams recorded.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes import Fail, RecordedRequest, Reply, RunningUpstream, ToolCall
from tests.gateway import RunningGateway, gateway_over, running_gateway

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CLAUDE = ROOT / "tests" / "agents" / "node_modules" / ".bin" / "claude"
HERMES = ROOT / ".venv-agents" / "bin" / "hermes"
TIMEOUT_S = 120
MODEL = "claude-sonnet-4-6"
NO_RETRIES = {"retries": 0}
EXTRA_USAGE = Fail(
    400,
    '{"type":"error","error":{"type":"invalid_request_error","message":"You\'re out of extra '
    'usage. Add more at claude.ai/settings/usage and keep going."}}',
)
ANSWER_PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}
# Port 9 (discard) has no listener: a request to any host but loopback fails at once, here.
NO_EGRESS = {
    name: value
    for proxy in ("http_proxy", "https_proxy", "all_proxy")
    for name, value in ((proxy, "http://127.0.0.1:9"), (proxy.upper(), "http://127.0.0.1:9"))
} | {"no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}


def installed(binary: Path, name: str) -> Path:
    if not binary.exists():
        pytest.skip(f"{name} is not installed: run `make agents`")
    return binary


def answered(upstream: RunningUpstream, kind: str) -> list[RecordedRequest]:
    """The model requests this upstream received (not model lists or token counts)."""
    return [r for r in upstream.requests if r.path == ANSWER_PATHS[kind]]


def run(
    command: Sequence[str], cwd: Path, env: dict[str, str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if check:
        assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no key, setting or proxy of the developer's leaks in."""
    tmp = home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "LANG": "C.UTF-8",
        **NO_EGRESS,
        **extra,
    }


# -- Claude Code -------------------------------------------------------------------------------


def claude_env(tmp_path: Path, gw: RunningGateway, **extra: str) -> dict[str, str]:
    """Claude Code's environment: a fresh home, the gateway as its Anthropic base URL."""
    return isolated_env(
        tmp_path / "home",
        CLAUDE_CONFIG_DIR=str(tmp_path / "home" / ".claude"),
        ANTHROPIC_BASE_URL=gw.url,
        DISABLE_TELEMETRY="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_ERROR_REPORTING="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        **({"ANTHROPIC_API_KEY": "sk-ant-not-a-real-key"} | extra),
    )


def claude_run(
    tmp_path: Path, env: dict[str, str], prompt: str, *flags: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`claude -p` in a fresh directory with `env` (see `claude_env`)."""
    binary = installed(CLAUDE, "Claude Code")
    work = tmp_path / "work"
    work.mkdir(parents=True, exist_ok=True)
    command = [str(binary), "-p", prompt, "--no-session-persistence", "--strict-mcp-config"]
    return run([*command, *flags], work, env, check=check)


def claude(tmp_path: Path, gw: RunningGateway, prompt: str, *flags: str) -> dict[str, Any]:
    """`claude -p` in a fresh directory and home; the parsed `--output-format json` result.

    Without `--model` among the flags, Claude Code asks for its own default model.
    """
    env = claude_env(tmp_path, gw)
    result = claude_run(tmp_path, env, prompt, "--output-format", "json", *flags)
    outcome: dict[str, Any] = json.loads(result.stdout)
    assert outcome["is_error"] is False, result.stdout
    return outcome


def texts(request: RecordedRequest, role: str) -> list[str]:
    """The text of each message with this role, in either dialect."""
    return [
        content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
        for m in request.json["messages"]
        if m["role"] == role and (content := m["content"]) is not None
    ]


def test_claude_code_is_answered_by_an_openai_path(tmp_path: Path) -> None:
    with gateway_over("openai", defaults=NO_RETRIES) as (gw, [relay]):
        relay.script(Reply(text="Answered by the relay."))
        outcome = claude(tmp_path, gw, "Say hello to turnout.")
        assert outcome["result"] == "Answered by the relay."
        [sent] = answered(relay, "openai")
        # The name it asked for; some versions label it with its context window ("[1m]").
        asked = [re.sub(r"\[\w+\]$", "", name) for name in outcome["modelUsage"]]
        assert [sent.json["model"]] == asked
        assert sent.json["stream"] is True
        assert any("Say hello to turnout." in text for text in texts(sent, "user"))
        assert sent.headers["authorization"] == "Bearer sk-fake"  # the path's key, not the client's


def test_claude_code_runs_its_read_tool_through_an_openai_path(tmp_path: Path) -> None:
    note = tmp_path / "work" / "note.txt"
    note.parent.mkdir(parents=True)
    note.write_text("the launch code is turnout-7f3a\n")
    with gateway_over("openai", defaults=NO_RETRIES) as (gw, [relay]):
        relay.script(
            Reply(tool_call=ToolCall("Read", {"file_path": str(note)}, id="call_read_1")),
            Reply(text="The note says turnout-7f3a."),
        )
        outcome = claude(
            tmp_path, gw, "What does note.txt say?", "--model", MODEL, "--allowedTools", "Read"
        )
        assert outcome["result"] == "The note says turnout-7f3a."
        assert outcome["num_turns"] == 2
        first, second = answered(relay, "openai")
        assert "Read" in [tool["function"]["name"] for tool in first.json["tools"]]
        calls = [m for m in second.json["messages"] if m.get("tool_calls")]
        assert calls[-1]["tool_calls"][0]["function"]["name"] == "Read"
        [result] = [m for m in second.json["messages"] if m["role"] == "tool"]
        assert result["tool_call_id"] == "call_read_1"
        assert "the launch code is turnout-7f3a" in result["content"]


def test_claude_code_fails_over_from_a_gated_claude_path(tmp_path: Path) -> None:
    with gateway_over("anthropic", "openai", defaults=NO_RETRIES) as (gw, [claude_path, relay]):
        claude_path.script(EXTRA_USAGE)
        relay.script(Reply(text="The relay kept you going."))
        for _ in range(2):
            outcome = claude(tmp_path, gw, "hi", "--model", MODEL)
            assert outcome["result"] == "The relay kept you going."
        [gated] = answered(claude_path, "anthropic")  # tried once, then remembered as gated
        assert gated.json["model"] == MODEL
        assert gated.headers["x-api-key"] == "sk-fake"
        assert len(answered(relay, "openai")) == 2


def test_claude_codes_system_turn_does_not_reach_an_openai_path_as_user_words(
    tmp_path: Path,
) -> None:
    """Claude Code's default model gets its environment as a mid-conversation system turn."""
    with gateway_over("anthropic", defaults=NO_RETRIES) as (gw, [native]):
        claude(tmp_path, gw, "hi")
        system_turns = texts(answered(native, "anthropic")[0], "system")
    if not system_turns:
        pytest.skip("this Claude Code sends no mid-conversation system turn")
    with gateway_over("openai", defaults=NO_RETRIES) as (gw, [relay]):
        claude(tmp_path, gw, "hi")
        [sent] = answered(relay, "openai")
    assert not set(system_turns) & set(texts(sent, "user"))


# -- Hermes Agent ------------------------------------------------------------------------------

HERMES_BASE = {"openai": "/v1", "anthropic": "/anthropic"}
HERMES_PROVIDER = {"openai": "custom", "anthropic": "anthropic"}


def hermes(
    tmp_path: Path, gw: RunningGateway, endpoint: str, prompt: str, *, check: bool = True
) -> tuple[str, dict[str, Any]]:
    """`hermes -z` (one-shot) against turnout's `endpoint` dialect: what it printed, and its
    usage report (tokens, API calls, and the provider it took, which decides its dialect)."""
    binary = installed(HERMES, "Hermes Agent")
    home, work = tmp_path / "home", tmp_path / "work"
    hermes_home = home / ".hermes"
    hermes_home.mkdir(parents=True)
    work.mkdir()
    model = {
        "provider": HERMES_PROVIDER[endpoint],
        "base_url": gw.url + HERMES_BASE[endpoint],
        "default": MODEL,
        "api_key": "sk-not-a-real-key",
        # Known, so Hermes does not look the window up on the network.
        "context_length": 200_000,
    }
    # No pip installs of optional tool dependencies (edge-tts, ...) at start-up.
    security = {"allow_lazy_installs": False}
    (hermes_home / "config.yaml").write_text(yaml.safe_dump({"model": model, "security": security}))
    # A fresh models.dev cache, so Hermes does not fetch the registry from the network.
    (hermes_home / "models_dev_cache.json").write_text('{"fake": {"id": "fake", "models": {}}}')
    env = isolated_env(home, HERMES_HOME=str(hermes_home), ANTHROPIC_API_KEY="sk-not-a-real-key")
    usage = tmp_path / "usage.json"
    command = [str(binary), "-z", prompt, "--usage-file", str(usage)]
    printed = run(command, work, env, check=check).stdout
    return printed, json.loads(usage.read_text()) if usage.exists() else {}


@pytest.mark.parametrize("endpoint", ["openai", "anthropic"])
@pytest.mark.parametrize("upstream_kind", ["openai", "anthropic"])
def test_hermes_one_shot_through_each_endpoint(
    tmp_path: Path, endpoint: str, upstream_kind: str
) -> None:
    with gateway_over(upstream_kind, defaults=NO_RETRIES) as (gw, [upstream]):
        upstream.script(Reply(text=f"Hermes via {endpoint} from {upstream_kind}.", usage=(123, 45)))
        printed, usage = hermes(tmp_path, gw, endpoint, "Say hello to turnout.")
        assert printed.strip() == f"Hermes via {endpoint} from {upstream_kind}."
        assert usage["provider"] == HERMES_PROVIDER[endpoint]
        assert (usage["api_calls"], usage["input_tokens"], usage["output_tokens"]) == (1, 123, 45)
        [sent] = answered(upstream, upstream_kind)
        assert sent.json["model"] == MODEL
        assert "Say hello to turnout." in json.dumps(sent.json["messages"])


# -- Every path gated: one request, and the reason on the screen ------------------------------

INSUFFICIENT_QUOTA = Fail(
    429,
    '{"error":{"message":"You exceeded your current quota, please check your plan and billing '
    'details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}',
)
GATED_SHOWN = (
    "Subscription extra usage used up for this client",
    "Will not help: Restarting the agent; Logging in again",
    "the official app may still work",
)


def gateway_requests(gw: RunningGateway) -> int:
    return sum(gw.gateway.shared.telemetry.counts.requests.values())


def test_claude_code_with_every_path_gated_asks_once_and_shows_why(tmp_path: Path) -> None:
    with gateway_over("anthropic", "openai") as (gw, [claude_path, relay]):
        claude_path.script(EXTRA_USAGE)
        relay.script(INSUFFICIENT_QUOTA)
        result = claude_run(tmp_path, claude_env(tmp_path, gw), "hi", "--model", MODEL, check=False)
        assert result.returncode != 0
        assert gateway_requests(gw) == 1  # a 400 would have been asked six times
        for text in GATED_SHOWN:
            assert text in result.stdout, result.stdout


@pytest.mark.parametrize("endpoint", ["openai", "anthropic"])
def test_hermes_with_every_path_gated_asks_once_and_shows_why(
    tmp_path: Path, endpoint: str
) -> None:
    with gateway_over("anthropic", "openai") as (gw, [claude_path, relay]):
        claude_path.script(EXTRA_USAGE)
        relay.script(INSUFFICIENT_QUOTA)
        printed, _ = hermes(tmp_path, gw, endpoint, "hi", check=False)
        assert gateway_requests(gw) == 1  # no "Rate limited" waits and retries
        assert "Rate limited" not in printed
        for text in GATED_SHOWN:  # within the 300 characters Hermes shows of a message
            assert text in printed, printed


# -- The user's own login as the first path ----------------------------------------------------


def test_claude_code_on_its_own_login_first_then_an_api_key_per_user(tmp_path: Path) -> None:
    """Each user's Claude Code token goes to the login path as sent; one user's gate (out of
    extra usage) moves only that user to the API-key path."""
    alice, bob = "sk-ant-oat01-alice-0123456789abcdef", "sk-ant-oat01-bobby-0123456789abcdef"
    with RunningUpstream() as login, RunningUpstream() as keyed:
        login.script(EXTRA_USAGE, EXTRA_USAGE, Reply(text="Bob on his own login."))
        keyed.script(Reply(text="Alice on the API key."))
        config = {
            "defaults": {"retries": 0},
            "providers": {
                "login": {"kind": "anthropic", "base_url": login.url, "api_key": "client"},
                "keyed": {"kind": "anthropic", "base_url": keyed.url, "api_key": "${KEY}"},
            },
            "routes": {"*": ["login/*", "keyed/*"]},
        }
        with running_gateway(yaml.safe_dump(config), env={"KEY": "sk-ant-api-key"}) as gw:
            for user, token, answer in (
                ("alice", alice, "Alice on the API key."),
                ("bob", bob, "Bob on his own login."),
            ):
                env = claude_env(tmp_path / user, gw, ANTHROPIC_AUTH_TOKEN=token)
                del env["ANTHROPIC_API_KEY"]
                result = claude_run(
                    tmp_path / user, env, "hi", "--model", MODEL, "--output-format", "json"
                )
                assert json.loads(result.stdout)["result"] == answer
        sent = [r.headers.get("authorization") for r in answered(login, "anthropic")]
        assert sent == [f"Bearer {alice}", f"Bearer {alice}", f"Bearer {bob}"]  # with her probe
        assert [r.headers["x-api-key"] for r in answered(keyed, "anthropic")] == ["sk-ant-api-key"]
