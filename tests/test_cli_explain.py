"""`turnout explain` as a user runs it: a real subprocess, real stdin and stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.gateway import request, running_gateway

EXTRA_USAGE = (
    '{"type":"error","error":{"type":"invalid_request_error",'
    '"message":"You\'re out of extra usage. Add more at claude.ai/settings/usage and keep going."}}'
)


def turnout(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "turnout", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "100", **(env or {})},
        check=False,
    )


def test_version() -> None:
    result = turnout("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("turnout ")


def test_batch_answers_one_line_per_input_line_in_order() -> None:
    lines = [
        {"status": 400, "body": EXTRA_USAGE, "provider": "anthropic"},
        {
            "status": 429,
            "headers": {"retry-after": "12"},
            "body": '{"error":{"type":"rate_limit_error"}}',
        },
        {"log": "curl: (7) Failed to connect to localhost port 11434: Connection refused"},
        {"status": None, "body": ""},
        "not an object",
    ]
    stdin = "\n".join(json.dumps(line) for line in lines) + "\nnot json\n\n"
    result = turnout("explain", "--batch", stdin=stdin)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 6
    assert [o["category"] for o in out[:4]] == ["quota", "rate_limit", "connection", "unknown"]
    assert out[0]["code"] == "subscription_usage_gate"
    assert out[0]["retryable"] is False
    assert out[1]["retry_after_s"] == 12
    assert out[1]["retryable"] is True
    assert out[2]["code"] == "local_server_down"
    assert "error" in out[4]
    assert "error" in out[5]
    for o in out:
        for field in (
            "category",
            "retryable",
            "failover",
            "retry_after_s",
            "code",
            "title",
            "explanation",
            "actions",
            "wont_help",
        ):
            assert field in o


def test_json_for_one_error_from_flags() -> None:
    result = turnout(
        "explain",
        "--json",
        "--status",
        "429",
        "--header",
        "retry-after: 7",
        "--lang",
        "zh",
        '{"error":{"message":"Rate limit reached","type":"requests"}}',
    )
    data = json.loads(result.stdout)
    assert (data["category"], data["retry_after_s"], data["lang"]) == ("rate_limit", 7, "zh")


def test_reads_a_log_from_a_file_and_from_stdin(tmp_path: Path) -> None:
    log = tmp_path / "hermes.log"
    log.write_text(
        "⚠️ API call failed (attempt 1/3): BadRequestError [HTTP 400]\n"
        "🔌 Provider: anthropic Model: claude-sonnet-4-6\n"
        "📝 Error: HTTP 400: You're out of extra usage. Add more at claude.ai/settings/usage\n",
        encoding="utf-8",
    )
    from_file = json.loads(turnout("explain", "--json", "--file", str(log)).stdout)
    from_stdin = json.loads(turnout("explain", "--json", stdin=log.read_text()).stdout)
    assert from_file["code"] == from_stdin["code"] == "subscription_usage_gate"
    assert from_file["model"] == "claude-sonnet-4-6"


def test_human_rendering_shows_decision_and_advice() -> None:
    result = turnout("explain", "--status", "400", "--lang", "en", EXTRA_USAGE)
    assert result.returncode == 0
    text = result.stdout
    assert "quota / subscription_usage_gate" in text
    assert "fail over to another path" in text
    assert "What will not help" in text
    assert "Restarting the agent" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("explain", "--header", "no-colon"), "bad --header"),
        (("explain", "--file", "/nonexistent/x.log"), "cannot read"),
        (("explain", "-"), "nothing to explain"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    result = turnout(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


INVALID_KEY = (
    '{"error":{"message":"Incorrect API key provided","type":"invalid_request_error",'
    '"code":"invalid_api_key"}}'
)


@pytest.fixture(scope="module")
def no_path_replies() -> dict[str, tuple[int, str]]:
    """What a real gateway answers, in each dialect, when every path of the route fails."""
    config = {
        "ledger": "off",
        "providers": {
            "claude-sub": {"kind": "mock", "script": [{"status": 400, "body": EXTRA_USAGE}]},
            "relay": {"kind": "mock", "script": [{"status": 401, "body": INVALID_KEY}]},
        },
        "routes": {"*": ["claude-sub/*", "relay/*"]},
    }
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    }
    with running_gateway(yaml.safe_dump(config)) as gw:
        replies = {
            dialect: request(gw.url, "POST", path, body)
            for dialect, path in (("openai", "/v1/chat/completions"), ("anthropic", "/v1/messages"))
        }
    return {dialect: (reply.status, reply.body.decode()) for dialect, reply in replies.items()}


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
def test_the_gateways_own_no_path_error_gets_its_own_answer(
    no_path_replies: dict[str, tuple[int, str]], dialect: str
) -> None:
    status, body = no_path_replies[dialect]
    result = turnout("explain", "--json", "--lang", "en", "--status", str(status), body)
    assert result.returncode == 0, result.stderr
    d = json.loads(result.stdout)
    assert (d["category"], d["code"], d["rule"]) == (
        "quota",
        "subscription_usage_gate",
        "turnout.no_path",
    )
    assert d["title"] == "turnout had no working path for claude-sonnet-4-6"
    assert "comes from the turnout gateway, not from a provider" in d["explanation"]
    for path in ("claude-sub/claude-sonnet-4-6", "relay/claude-sonnet-4-6"):
        assert path in d["explanation"]
    assert "Enable or buy extra usage at claude.ai/settings/usage" in d["actions"]
    assert d["wont_help"][0].startswith("Retrying the request against the gateway")
    assert (d["provider"], d["endpoint"]) == (None, None)


def test_a_pasted_log_line_does_not_make_the_gateway_the_provider(
    no_path_replies: dict[str, tuple[int, str]],
) -> None:
    status, body = no_path_replies["anthropic"]
    log = f"Error: {status} calling http://127.0.0.1:8787/v1/messages: {body}"
    d = json.loads(turnout("explain", "--json", "--lang", "zh", log).stdout)
    assert d["rule"] == "turnout.no_path"
    assert (d["provider"], d["endpoint"]) == (None, None)
    assert d["title"] == "turnout 没有可用的路径来处理 claude-sonnet-4-6"
