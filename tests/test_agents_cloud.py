"""Real agent CLIs failing over to the cloud paths teams have when a subscription is gated:
Claude Code from a gated Anthropic path to Bedrock and to Vertex AI, Codex CLI from a Responses
path out of quota to a Gemini path, each running a tool across two turns.

The clouds are the fakes of tests/fakes (SigV4 checked by recomputing it, OAuth tokens issued
by a fake token endpoint, the Gemini API refusing what Google refuses); the CLIs run as in
tests/test_agents.py and tests/test_codex.py: loopback only, a throwaway home, telemetry off.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from tests.clock import FakeClock
from tests.fakes import Reply, RunningUpstream, ToolCall
from tests.fakes.bedrock_wire import BedrockStep, FakeBedrock, Keys
from tests.fakes.vertex_wire import EMAIL, PROJECT, FakeVertex, service_account_file
from tests.gateway import gateway_over, running_gateway
from tests.test_agents import EXTRA_USAGE, MODEL, answered, claude
from tests.test_codex import QUOTA, codex
from tests.test_codex import answered as codex_answered
from turnout.providers import vertex
from turnout.providers.tokens import BearerRefresher

pytestmark = pytest.mark.slow

ACCESS = "AKIAFAKEFAKEFAKE0002"
SECRET = "fake/secret/key/for/agents/0123456789ab"
BEDROCK_MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
VERTEX_MODEL = "claude-sonnet-4-5@20250929"


@pytest.fixture
def note(tmp_path: Path) -> Path:
    path = tmp_path / "work" / "note.txt"
    path.parent.mkdir(parents=True)
    path.write_text("the launch code is turnout-7f3a\n")
    return path


def _anthropic_config(gated: RunningUpstream, cloud: str) -> str:
    return f"""
defaults: {{retries: 0}}
providers:
  claude: {{kind: anthropic, base_url: '{gated.url}', api_key: '${{K}}'}}
{cloud}
routes:
  "*": {{targets: ["claude/*", CLOUD]}}
"""


def _tool_result(body: dict[str, Any]) -> dict[str, Any]:
    """The Read tool's result block in the last user turn of a Messages body."""
    blocks = [b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"]]
    [result] = [b for b in blocks if b.get("type") == "tool_result"]
    return dict(result)


def test_claude_code_fails_over_from_a_gated_claude_path_to_bedrock_with_its_tool(
    tmp_path: Path, note: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": ACCESS,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
    }.items():
        monkeypatch.setenv(name, value)
    with RunningUpstream() as gated, FakeBedrock(Keys(ACCESS, SECRET)) as bedrock:
        gated.script(EXTRA_USAGE)
        bedrock.script(
            BedrockStep(
                text="Reading it.", tool={"name": "Read", "input": {"file_path": str(note)}}
            ),
            BedrockStep(text="The note says turnout-7f3a."),
        )
        cloud = f"  br: {{kind: bedrock, base_url: '{bedrock.url}', region: us-east-1}}"
        config = _anthropic_config(gated, cloud).replace("CLOUD", f'"br/{BEDROCK_MODEL}"')
        with running_gateway(config, env={"K": "sk-ant-path-key-0000"}) as gw:
            outcome = claude(
                tmp_path, gw, "What does note.txt say?", "--model", MODEL, "--allowedTools", "Read"
            )
        assert outcome["result"] == "The note says turnout-7f3a."
        [refused] = answered(gated, "anthropic")  # the gate is remembered: asked once
        assert refused.json["model"] == MODEL
        invokes = [r for r in bedrock.requests if r.path.endswith("/invoke-with-response-stream")]
        first, second = invokes
        assert "Read" in [tool["name"] for tool in first.json["tools"]]
        result = _tool_result(second.json)
        assert "the launch code is turnout-7f3a" in json.dumps(result["content"])


def test_claude_code_fails_over_from_a_gated_claude_path_to_vertex_with_its_tool(
    tmp_path: Path, note: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(vertex, "BearerRefresher", functools.partial(BearerRefresher, clock=clock))
    with RunningUpstream() as gated, FakeVertex(clock, EMAIL) as vertex_ai:
        gated.script(EXTRA_USAGE)
        vertex_ai.script_claude(
            Reply(tool_call=ToolCall("Read", {"file_path": str(note)}, id="toolu_read_1")),
            Reply(text="The note says turnout-7f3a."),
        )
        key_file = service_account_file(tmp_path, f"{vertex_ai.url}/token")
        cloud = (
            f"  vx: {{kind: vertex, base_url: '{vertex_ai.url}', project: {PROJECT}, "
            f"region: us-east5, credentials_file: '{key_file}'}}"
        )
        config = _anthropic_config(gated, cloud).replace("CLOUD", f'"vx/{VERTEX_MODEL}"')
        with running_gateway(config, env={"K": "sk-ant-path-key-0000"}) as gw:
            outcome = claude(
                tmp_path, gw, "What does note.txt say?", "--model", MODEL, "--allowedTools", "Read"
            )
        assert outcome["result"] == "The note says turnout-7f3a."
        assert len(answered(gated, "anthropic")) == 1
        predicts = [r for r in vertex_ai.requests if r.path.endswith(":streamRawPredict")]
        first, second = predicts
        assert "Read" in [tool["name"] for tool in first.json["tools"]]
        result = _tool_result(second.json)
        assert result["tool_use_id"] == "toolu_read_1"
        assert "the launch code is turnout-7f3a" in json.dumps(result["content"])
        assert vertex_ai.token_requests == 1  # one token, reused for both turns


def test_codex_fails_over_from_a_responses_path_out_of_quota_to_gemini_with_its_tool(
    tmp_path: Path,
) -> None:
    command = {"cmd": "echo turnout-ran-this > proof.txt"}
    with gateway_over("responses", "gemini", defaults={"retries": 0}) as (gw, [gated, gemini]):
        gated.script(QUOTA)
        gemini.script(
            Reply(tool_call=ToolCall("exec_command", command, id="call_1")),
            Reply(text="Wrote proof.txt."),
        )
        assert codex(tmp_path, gw, "Write proof.txt with the shell.") == "Wrote proof.txt."
        assert (tmp_path / "work" / "proof.txt").read_text() == "turnout-ran-this\n"
        assert len(codex_answered(gated, "responses")) == 1
        turns = [r for r in gemini.requests if r.path.endswith(":streamGenerateContent")]
        first, second = turns
        declared = [d["name"] for t in first.json["tools"] for d in t["functionDeclarations"]]
        assert "exec_command" in declared
        answers = [
            part["functionResponse"]
            for content in second.json["contents"]
            for part in content["parts"]
            if "functionResponse" in part
        ]
        assert [a["name"] for a in answers] == ["exec_command"]
        assert "exited with code 0" in json.dumps(answers[0]["response"])
