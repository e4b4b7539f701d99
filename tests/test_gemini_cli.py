"""Gemini CLI (npm `@google/gemini-cli`, pinned in tests/agents/package.json) pointed at turnout
with `GOOGLE_GEMINI_BASE_URL` and the gateway key as its `GEMINI_API_KEY`: `gemini -p` answered
by an Anthropic path and by a Gemini path, and its read_file tool run across two turns on each.
Isolated as tests/test_agents.py isolates its clients: loopback only, a throwaway home, usage
statistics, telemetry and update checks off."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import RecordedRequest, Reply, RunningUpstream, ToolCall
from tests.fakes.gemini_wire import SIGNATURE
from tests.gateway import PATH_KEY, RunningGateway, gateway_over
from tests.test_agents import ROOT, installed, isolated_env, run

pytestmark = pytest.mark.slow

GEMINI = ROOT / "tests" / "agents" / "node_modules" / ".bin" / "gemini"
GATEWAY_KEY = "tk-gemini-cli-0123456789"
#: Asked for by name: its default ("auto") first asks a classifier for a model to use.
MODEL = "gemini-2.5-flash"
UPSTREAM_MODEL = "upstream-model"
SETTINGS = {
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
    "security": {"auth": {"selectedType": "gemini-api-key"}},
}
ANSWER_PATHS = {
    "anthropic": "/v1/messages",
    "gemini": f"/v1beta/models/{UPSTREAM_MODEL}:streamGenerateContent",
}


def gateway(kind: str) -> Any:
    """Route `gemini-2.5-flash` to one path of `kind` sending `upstream-model`, behind a key."""
    return gateway_over(
        kind,
        route=MODEL,
        models=[UPSTREAM_MODEL],
        defaults={"retries": 0},
        extra={"server": {"keys": ["${GATEWAY_KEY}"]}},
        env={"GATEWAY_KEY": GATEWAY_KEY},
    )


def gemini(tmp_path: Path, gw: RunningGateway, prompt: str) -> dict[str, Any]:
    """`gemini -p --output-format json` in a fresh project and home; its parsed result."""
    binary = installed(GEMINI, "Gemini CLI")
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir(parents=True, exist_ok=True)
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(SETTINGS))
    env = isolated_env(
        home,
        GEMINI_CLI_HOME=str(home),
        GEMINI_API_KEY=GATEWAY_KEY,
        GOOGLE_GEMINI_BASE_URL=gw.url,
        GEMINI_TELEMETRY_ENABLED="false",
        GEMINI_CLI_TRUST_WORKSPACE="true",
    )
    command = [str(binary), "-p", prompt, "--model", MODEL, "--output-format", "json"]
    result = run(command, work, env)
    outcome: dict[str, Any] = json.loads(result.stdout)
    assert "error" not in outcome, result.stdout
    return outcome


def answered(upstream: RunningUpstream, kind: str) -> list[RecordedRequest]:
    return [r for r in upstream.requests if r.path == ANSWER_PATHS[kind]]


def test_gemini_cli_is_answered_by_an_anthropic_path(tmp_path: Path) -> None:
    with gateway("anthropic") as (gw, [claude]):
        claude.script(Reply(text="Claude answered the Gemini CLI."))
        outcome = gemini(tmp_path, gw, "Say hello to turnout.")
        assert outcome["response"] == "Claude answered the Gemini CLI."
        [sent] = answered(claude, "anthropic")
        assert sent.json["model"] == UPSTREAM_MODEL
        assert sent.json["stream"] is True
        assert sent.headers["x-api-key"] == PATH_KEY  # the path's key, never the gateway's
        said = [part["text"] for part in sent.json["messages"][0]["content"]]
        assert "Say hello to turnout." in said
        assert "Gemini CLI" in sent.json["system"]  # its system instruction, as Claude's system
        assert "read_file" in [tool["name"] for tool in sent.json["tools"]]


def test_gemini_cli_is_answered_by_a_gemini_path_as_it_asked(tmp_path: Path) -> None:
    with gateway("gemini") as (gw, [google]):
        google.script(Reply(text="Gemini answered through turnout.", usage=(40, 7)))
        outcome = gemini(tmp_path, gw, "Say hello to turnout.")
        assert outcome["response"] == "Gemini answered through turnout."
        [sent] = answered(google, "gemini")
        assert sent.headers["x-goog-api-key"] == PATH_KEY
        assert "model" not in sent.json  # the model is in the path
        said = [part.get("text") for part in sent.json["contents"][0]["parts"]]
        assert "Say hello to turnout." in said
        [tokens] = [model["tokens"] for model in outcome["stats"]["models"].values()]
        assert (tokens["prompt"], tokens["candidates"]) == (40, 7)


@pytest.mark.parametrize("kind", ["anthropic", "gemini"])
def test_gemini_cli_runs_its_read_file_tool_through_turnout(tmp_path: Path, kind: str) -> None:
    note = tmp_path / "work" / "note.txt"
    note.parent.mkdir(parents=True)
    note.write_text("the launch code is turnout-7f3a\n")
    with gateway(kind) as (gw, [upstream]):
        upstream.script(
            Reply(tool_call=ToolCall("read_file", {"file_path": str(note)}, id="call_read_1")),
            Reply(text="The note says turnout-7f3a."),
        )
        outcome = gemini(tmp_path, gw, "What does note.txt say?")
        assert outcome["response"] == "The note says turnout-7f3a."
        assert outcome["stats"]["tools"]["byName"]["read_file"]["success"] == 1
        first, second = answered(upstream, kind)
        assert '"read_file"' in json.dumps(first.json["tools"])  # offered on the first turn
        dumped = json.dumps(second.json)
        assert "the launch code is turnout-7f3a" in dumped  # the file's text went back
        if kind == "anthropic":
            [result] = [
                block
                for message in second.json["messages"]
                if isinstance(message["content"], list)
                for block in message["content"]
                if block["type"] == "tool_result"
            ]
            assert result["tool_use_id"] == "call_read_1"
        else:
            [model_turn] = [c for c in second.json["contents"] if c["role"] == "model"]
            [call] = [p for p in model_turn["parts"] if "functionCall" in p]
            assert call["functionCall"]["name"] == "read_file"
            assert call["thoughtSignature"] == SIGNATURE  # kept by the CLI, carried by turnout
