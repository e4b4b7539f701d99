"""Codex CLI (npm, pinned in tests/agents/package.json) in its non-interactive mode, through
turnout's Responses endpoint to an OpenAI Chat path, an Anthropic path and a Responses path.

Same isolation as tests/test_agents.py: loopback only, a throwaway home (CODEX_HOME outside
TMPDIR, so Codex keeps its helper links there), update checks and analytics off, and a dead
proxy for any other host.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import Fail, RecordedRequest, Reply, RunningUpstream, ToolCall
from tests.gateway import RunningGateway, gateway_over
from tests.test_agents import ROOT, installed, isolated_env, run

pytestmark = pytest.mark.slow

CODEX = ROOT / "tests" / "agents" / "node_modules" / ".bin" / "codex"
MODEL = "gpt-5.4"
ANSWER_PATHS = {
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "responses": "/v1/responses",
}
WIRES = list(ANSWER_PATHS)
QUOTA = Fail(
    429,
    '{"error":{"message":"You exceeded your current quota, please check your plan and billing '
    'details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}',
)


def config(gw: RunningGateway) -> str:
    """A custom provider on turnout's Responses endpoint, as the README tells users."""
    return f"""
model = "{MODEL}"
model_provider = "turnout"
check_for_update_on_startup = false

[analytics]
enabled = false

[feedback]
enabled = false

[model_providers.turnout]
name = "turnout"
base_url = "{gw.url}/v1"
env_key = "TURNOUT_API_KEY"
wire_api = "responses"
"""


def codex(tmp_path: Path, gw: RunningGateway, prompt: str) -> str:
    """`codex exec` in a fresh directory and home; the agent's last message."""
    binary = installed(CODEX, "Codex CLI")
    home, work = tmp_path / "home", tmp_path / "work"
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    work.mkdir(exist_ok=True)
    (codex_home / "config.toml").write_text(config(gw))
    env = isolated_env(home, CODEX_HOME=str(codex_home), TURNOUT_API_KEY="sk-gateway-key")
    last = tmp_path / "last.txt"
    command = [str(binary), "exec", "--strict-config", "--skip-git-repo-check", "--ephemeral"]
    command += ["--dangerously-bypass-approvals-and-sandbox", "-o", str(last), prompt]
    run(command, work, env)
    return last.read_text().strip()


def answered(upstream: RunningUpstream, kind: str) -> list[RecordedRequest]:
    return [r for r in upstream.requests if r.path == ANSWER_PATHS[kind]]


def sent_text(request: RecordedRequest) -> str:
    return json.dumps(request.json.get("messages") or request.json.get("input"))


def tool_output(kind: str, request: RecordedRequest) -> Any:
    """The output of call_1 as the upstream received it, in its own wire."""
    data = request.json
    if kind == "openai":
        [result] = [m for m in data["messages"] if m["role"] == "tool"]
        return result["tool_call_id"], result["content"]
    if kind == "anthropic":
        blocks = [
            b for m in data["messages"] if isinstance(m["content"], list) for b in m["content"]
        ]
        [result] = [b for b in blocks if b["type"] == "tool_result"]
        return result["tool_use_id"], json.dumps(result["content"])
    [result] = [i for i in data["input"] if i.get("type") == "function_call_output"]
    return result["call_id"], json.dumps(result["output"])


@pytest.mark.parametrize("kind", WIRES)
def test_codex_text_turn(tmp_path: Path, kind: str) -> None:
    with gateway_over(kind) as (gw, [upstream]):
        upstream.script(Reply(text=f"Codex answered by the {kind} path."))
        assert codex(tmp_path, gw, "Say hello to turnout.") == f"Codex answered by the {kind} path."
        [sent] = answered(upstream, kind)
        assert sent.json["model"] == MODEL
        assert sent.json["stream"] is True
        assert "Say hello to turnout." in sent_text(sent)
        key = sent.headers.get("x-api-key") or sent.headers["authorization"]
        assert key.removeprefix("Bearer ") == "sk-fake"  # the path's key, not Codex's


@pytest.mark.parametrize("kind", WIRES)
def test_codex_runs_the_shell_command_it_was_asked_to(tmp_path: Path, kind: str) -> None:
    command = {"cmd": "echo turnout-ran-this > proof.txt"}
    with gateway_over(kind) as (gw, [upstream]):
        upstream.script(
            Reply(tool_call=ToolCall("exec_command", command, id="call_1")),
            Reply(text="Wrote proof.txt."),
        )
        assert codex(tmp_path, gw, "Write proof.txt with the shell.") == "Wrote proof.txt."
        assert (tmp_path / "work" / "proof.txt").read_text() == "turnout-ran-this\n"
        first, second = answered(upstream, kind)
        tools = first.json["tools"]
        names = [(t.get("function") or t).get("name") for t in tools]
        assert "exec_command" in names
        call_id, output = tool_output(kind, second)
        assert call_id == "call_1"
        assert "exited with code 0" in output


def test_codex_fails_over_from_a_path_out_of_quota(tmp_path: Path) -> None:
    with gateway_over("responses", "openai") as (gw, [gated, spare]):
        gated.script(QUOTA)
        spare.script(Reply(text="The spare path kept Codex going."))
        for _ in range(2):
            assert codex(tmp_path, gw, "hi") == "The spare path kept Codex going."
        assert len(answered(gated, "responses")) == 1  # tried once, then remembered as gated
        assert len(answered(spare, "openai")) == 2
