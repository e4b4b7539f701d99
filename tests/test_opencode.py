"""OpenCode (npm, pinned in tests/agents/package.json) with its built-in `openai` provider,
which speaks the Responses API, pointed at turnout: `opencode run` for a text turn and for a
turn where it runs the bash command it was asked to, through Chat, Anthropic and Responses
paths. Isolated as tests/test_agents.py isolates its clients: loopback only, a throwaway home,
update checks, model-list fetches and plugins off."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.fakes import Reply, ToolCall
from tests.gateway import RunningGateway, gateway_over
from tests.test_agents import EXTRA_USAGE, ROOT, installed, isolated_env, run
from turnout.ledger.record import RequestRecord

pytestmark = pytest.mark.slow

OPENCODE = ROOT / "tests" / "agents" / "node_modules" / ".bin" / "opencode"
WIRES = ["openai", "anthropic", "responses"]


def opencode_run(
    tmp_path: Path, gw: RunningGateway, prompt: str, *flags: str, titles: bool = True
) -> subprocess.CompletedProcess[str]:
    """`opencode run` in a fresh project and home, whatever its exit. With `titles`, its
    session-title requests go to turnout's route too (else to a small model it has no route
    for, answered 404, which OpenCode shrugs off)."""
    binary = installed(OPENCODE, "OpenCode")
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir(parents=True, exist_ok=True)
    provider = {"options": {"baseURL": gw.openai_base, "apiKey": "sk-gateway-key"}}
    config = {
        "autoupdate": False,
        "share": "disabled",
        "provider": {"openai": {**provider, "models": {"m": {"name": "m"}}}},
        "model": "openai/m",
        **({"small_model": "openai/m"} if titles else {}),
    }
    (work / "opencode.json").write_text(json.dumps(config))
    env = isolated_env(
        home,
        XDG_STATE_HOME=str(home / ".local" / "state"),
        OPENCODE_DISABLE_AUTOUPDATE="1",
        OPENCODE_DISABLE_MODELS_FETCH="1",
        OPENCODE_DISABLE_LSP_DOWNLOAD="1",
        OPENCODE_DISABLE_DEFAULT_PLUGINS="1",
    )
    return run([str(binary), "run", "--pure", *flags, prompt], work, env, check=False)


def opencode(tmp_path: Path, gw: RunningGateway, prompt: str, *, titles: bool = True) -> str:
    """What `opencode run` printed, once it exited 0 (see `opencode_run`)."""
    result = opencode_run(tmp_path, gw, prompt, titles=titles)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout.strip()


@pytest.mark.parametrize("kind", WIRES)
def test_opencode_text_turn_over_the_responses_endpoint(tmp_path: Path, kind: str) -> None:
    with gateway_over(kind, route="m", models=["upstream-model"]) as (gw, [upstream]):
        records: list[RequestRecord] = []
        gw.gateway.shared.records.subscribe(records.append)
        upstream.script(Reply(text=f"OpenCode answered by the {kind} path."))
        assert opencode(tmp_path, gw, "Say hello to turnout.").endswith(
            f"OpenCode answered by the {kind} path."
        )
        # Every request it made (the answer, and a title for the session) spoke Responses.
        assert records
        assert {(r.client_dialect, r.upstream_model) for r in records} == {
            ("responses", "upstream-model")
        }
        assert any("Say hello to turnout." in json.dumps(r.json) for r in upstream.requests)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_opencode_runs_the_bash_command_it_was_asked_to(tmp_path: Path, kind: str) -> None:
    command = {"command": "echo opencode-ran-this > proof.txt", "description": "write proof"}
    with gateway_over(kind, route="m") as (gw, [upstream]):
        upstream.script(
            Reply(tool_call=ToolCall("bash", command, id="call_b")), Reply(text="Wrote it.")
        )
        printed = opencode(tmp_path, gw, "Write proof.txt with bash.", titles=False)
        assert printed.endswith("Wrote it.")
        assert (tmp_path / "work" / "proof.txt").read_text() == "opencode-ran-this\n"
        assert "call_b" in json.dumps(upstream.requests[-1].json)  # its result went back


@pytest.mark.parametrize("output", ["json", "default"])
def test_opencode_stops_at_an_all_gated_route_and_prints_why(tmp_path: Path, output: str) -> None:
    """Every path out of extra usage: OpenCode makes its one request, does not retry it (a
    retry would show as a second request for the route, answered from the remembered gates),
    and prints turnout's title and what will not help."""
    flags = ["--format", "json"] if output == "json" else []
    with gateway_over("anthropic", "anthropic", route="m") as (gw, ups):
        records: list[RequestRecord] = []
        gw.gateway.shared.records.subscribe(records.append)
        for upstream in ups:
            upstream.script(EXTRA_USAGE)
        result = opencode_run(tmp_path, gw, "Say hello.", *flags, titles=False)
        assert [len(u.requests) for u in ups] == [1, 1]
    # Its session title asks for a small model of its own, which has no route here.
    assert [(r.model, r.status) for r in records if r.model == "m"] == [("m", 400)]
    assert result.returncode != 0
    printed = result.stdout + result.stderr
    assert "Subscription extra usage used up for this client" in printed
    assert "Will not help: Restarting the agent; Logging in again" in printed
    assert "the official app may still work" in printed
    if output == "json":
        [error] = [e for e in map(json.loads, result.stdout.splitlines()) if e["type"] == "error"]
        data = error["error"]["data"]
        assert (data["statusCode"], data["isRetryable"]) == (400, False)
        assert data["message"].startswith(
            "turnout: Subscription extra usage used up for this client; no path could serve 'm'."
        )
