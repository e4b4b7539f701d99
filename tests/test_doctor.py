"""`turnout doctor` as a user runs it: a real process probing fake upstreams on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.clock import FakeClock
from tests.fakes import Fail, RunningUpstream, Stall
from tests.fakes.azure_wire import EntraApp, FakeAzure
from tests.fakes.bedrock_wire import FakeBedrock, Keys
from tests.fakes.vertex_wire import EMAIL, PROJECT, FakeVertex, service_account_file
from tests.gateway import free_port, request, running_gateway
from turnout.doctor import plan_paths
from turnout.runtime.configs import load_config_text

GOOD_KEY = "sk-good-secret-123"
BAD_KEY = "sk-bad-secret-456"
OAUTH_TOKEN = "sk-ant-oat01-subscription-secret"
GATEWAY_KEY = "gw-secret-789"
ENV = {"GOOD_KEY": GOOD_KEY, "BAD_KEY": BAD_KEY, "SUB_TOKEN": OAUTH_TOKEN, "GW_KEY": GATEWAY_KEY}
SECRETS = (GOOD_KEY, BAD_KEY, OAUTH_TOKEN, GATEWAY_KEY)
RUN_TIMEOUT_S = 60

EXTRA_USAGE = (
    '{"type":"error","error":{"type":"invalid_request_error","message":"You\'re out of extra '
    'usage. Add more at claude.ai/settings/usage and keep going."}}'
)
INVALID_KEY = (
    '{"error":{"message":"Incorrect API key provided: sk-bad***456. You can find your API key '
    'at https://platform.openai.com/account/api-keys.","type":"invalid_request_error",'
    '"param":null,"code":"invalid_api_key"}}'
)
COMPLETION = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "good-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "p"},
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
)
RATE_LIMITS = {
    "x-ratelimit-limit-requests": "60",
    "x-ratelimit-remaining-requests": "59",
    "x-ratelimit-remaining-tokens": "149990",
    "x-ratelimit-reset-requests": "1s",
    "x-ratelimit-reset-tokens": "6m0s",
}


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def doctor(
    config: dict[str, Any], tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> Run:
    """`turnout doctor --config FILE ...` in a subprocess; no gateway unless --gateway says.
    `env` adds variables (and an empty value removes one)."""
    path = tmp_path / "turnout.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    if "--gateway" not in args:
        args = (*args, "--gateway", f"http://127.0.0.1:{free_port()}")
    done = subprocess.run(
        [sys.executable, "-m", "turnout", "doctor", "--config", str(path), *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env={k: v for k, v in {**os.environ, **ENV, **(env or {})}.items() if v},
    )
    for secret in SECRETS:
        assert secret not in done.stdout + done.stderr
    return Run(done.returncode, done.stdout, done.stderr)


def paths_by_name(run: Run) -> dict[str, Any]:
    return {p["path"]: p for p in run.json()["paths"]}


@dataclass
class Upstreams:
    good: RunningUpstream
    gated: RunningUpstream
    bad_key: RunningUpstream
    config: dict[str, Any]


@pytest.fixture(scope="module")
def upstreams() -> Iterator[Upstreams]:
    """One healthy path and four broken ones, each on its own route."""
    with ExitStack() as stack:
        good, gated, bad_key = (stack.enter_context(RunningUpstream()) for _ in range(3))
        # A Reply cannot carry headers; a Fail with status 200 is a success with chosen headers.
        good.script(Fail(200, COMPLETION, RATE_LIMITS))
        gated.script(Fail(400, EXTRA_USAGE))
        bad_key.script(Fail(401, INVALID_KEY))
        providers = {
            "good": {"kind": "openai", "base_url": good.url + "/v1", "api_key": "${GOOD_KEY}"},
            "sub": {"kind": "anthropic", "base_url": gated.url, "api_key": "${SUB_TOKEN}"},
            # The fake also answers /chat/completions, so a base URL merely lacking /v1 would
            # work here; a wrong path segment gives the 404 a wrong base URL gets in real life.
            "wrong": {"kind": "openai", "base_url": good.url + "/api"},
            "dead": {"kind": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1"},
            "badkey": {"kind": "openai", "base_url": bad_key.url + "/v1", "api_key": "${BAD_KEY}"},
        }
        routes = {
            "fine": ["good/good-model"],
            "gated": ["sub/claude-x"],
            "wrong-url": ["wrong/some-model"],
            "dead": ["dead/llama"],
            "bad-key": ["badkey/gpt-x"],
        }
        yield Upstreams(good, gated, bad_key, {"providers": providers, "routes": routes})


@pytest.fixture(scope="module")
def broken_run(upstreams: Upstreams, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return doctor(upstreams.config, tmp_path_factory.mktemp("doctor"), "--json")


def test_a_healthy_path_reports_ok_with_its_quota(broken_run: Run, upstreams: Upstreams) -> None:
    path = paths_by_name(broken_run)["good/good-model"]
    assert (path["ok"], path["status"], path["diagnosis"]) == (True, 200, None)
    assert path["kind"] == "openai"
    assert path["endpoint"] == upstreams.good.url + "/v1"
    assert path["auth"] == "api key"
    assert isinstance(path["latency_ms"], int)
    assert path["quota"] == {
        "requests_remaining": "59",
        "tokens_remaining": "149990",
        "requests_reset": "1s",
        "tokens_reset": "6m0s",
    }
    [window] = path["headroom"]  # a limit and what remains of it: a share left
    assert (window["name"], window["left"]) == ("requests", round(59 / 60, 4))
    sent = next(r for r in upstreams.good.requests if r.path == "/v1/chat/completions")
    assert sent.json == {
        "model": "good-model",
        "messages": [{"role": "user", "content": "ping"}],
        "max_tokens": 1,
    }
    assert sent.headers["authorization"] == f"Bearer {GOOD_KEY}"


def test_a_gated_subscription_is_quota(broken_run: Run, upstreams: Upstreams) -> None:
    path = paths_by_name(broken_run)["sub/claude-x"]
    assert path["status"] == 400
    assert path["auth"] == "oauth subscription token"
    assert (path["diagnosis"]["category"], path["diagnosis"]["code"]) == (
        "quota",
        "subscription_usage_gate",
    )
    assert "claude.ai/settings/usage" in path["diagnosis"]["advice"]
    sent = upstreams.gated.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.json is not None
    assert sent.json["max_tokens"] == 1
    assert sent.headers["authorization"] == f"Bearer {OAUTH_TOKEN}"


@pytest.mark.parametrize(
    ("name", "status", "category", "code"),
    [
        ("wrong/some-model", 404, "endpoint_not_found", "endpoint_not_found"),
        ("dead/llama", None, "connection", "local_server_down"),
        ("badkey/gpt-x", 401, "auth", "invalid_api_key"),
    ],
)
def test_each_broken_path_gets_its_diagnosis(
    broken_run: Run, name: str, status: int | None, category: str, code: str
) -> None:
    path = paths_by_name(broken_run)[name]
    assert path["ok"] is False
    assert path["status"] == status
    assert (path["diagnosis"]["category"], path["diagnosis"]["code"]) == (category, code)
    assert path["diagnosis"]["advice"]


def test_json_shape_and_routes_down(broken_run: Run) -> None:
    data = broken_run.json()
    assert broken_run.code == 3  # one route serves, the others are down
    assert set(data) == {
        "config",
        "paths",
        "routes",
        "down",
        "not_probed",
        "unavailable",
        "gateway",
    }
    assert set(data["paths"][0]) == {
        "path",
        "provider",
        "kind",
        "endpoint",
        "model",
        "auth",
        "routes",
        "ok",
        "skipped",
        "status",
        "latency_ms",
        "diagnosis",
        "quota",
        "headroom",
        "gateway",
    }
    assert data["routes"]["fine"] == {
        "ok": True,
        "state": "ok",
        "working": ["good/good-model"],
        "answering": [],
        "paths": ["good/good-model"],
    }
    assert data["down"] == ["gated", "wrong-url", "dead", "bad-key"]
    assert data["gateway"]["reachable"] is False
    assert data["gateway"]["note"]


def test_the_table_names_the_routes_down(upstreams: Upstreams, tmp_path: Path) -> None:
    run = doctor(upstreams.config, tmp_path)
    assert run.code == 3
    assert run.out.splitlines()[-1] == (
        "routes down: gated, wrong-url, dead, bad-key; the other routes serve"
    )
    assert "route fine: ok via good/good-model" in run.out
    assert "quota/subscription_usage_gate" in run.out
    assert "requests left 59, resets 1s" in run.out
    assert "oauth subscription token" in run.out
    assert "probing 5 path(s)" in run.err


def test_route_filter_probes_only_that_route(upstreams: Upstreams, tmp_path: Path) -> None:
    before = len(upstreams.gated.requests)
    run = doctor(upstreams.config, tmp_path, "--json", "--route", "fine")
    assert run.code == 0
    data = run.json()
    assert [p["path"] for p in data["paths"]] == ["good/good-model"]
    assert list(data["routes"]) == ["fine"]
    assert data["down"] == []
    assert len(upstreams.gated.requests) == before


def test_an_unknown_route_is_a_clear_error(upstreams: Upstreams, tmp_path: Path) -> None:
    run = doctor(upstreams.config, tmp_path, "--route", "nope")
    assert run.code == 2
    assert "no route named 'nope'" in run.err
    assert "configured routes: fine, gated" in run.err


def test_a_route_with_one_working_path_is_up(tmp_path: Path) -> None:
    config = {
        "providers": {
            "sub": {"kind": "mock", "script": [{"status": 400, "body": EXTRA_USAGE}]},
            "backup": {"kind": "mock"},
        },
        "routes": {"m": ["sub/claude-x", "backup/claude-x"]},
    }
    run = doctor(config, tmp_path, "--json")
    assert run.code == 0
    assert run.json()["routes"]["m"] == {
        "ok": True,
        "state": "ok",
        "working": ["backup/claude-x"],
        "answering": [],
        "paths": ["sub/claude-x", "backup/claude-x"],
    }


def test_a_silent_path_times_out(tmp_path: Path) -> None:
    with RunningUpstream() as slow:
        slow.script(Stall(stall_s=10))
        config = {
            "providers": {"slow": {"kind": "openai", "base_url": slow.url + "/v1"}},
            "routes": {"m": ["slow/model"]},
        }
        run = doctor(config, tmp_path, "--json", "--timeout", "0.5")
    path = run.json()["paths"][0]
    assert run.code == 1
    assert path["diagnosis"]["category"] == "timeout"
    assert path["latency_ms"] < 5000


def test_gated_state_is_read_from_a_running_gateway(tmp_path: Path) -> None:
    with RunningUpstream() as gated:
        gated.script(Fail(400, EXTRA_USAGE))
        config = {
            "providers": {
                "sub": {"kind": "anthropic", "base_url": gated.url, "api_key": "${SUB_TOKEN}"},
                "backup": {"kind": "mock"},
            },
            "routes": {"m": ["sub/claude-x", "backup/claude-x"]},
            "server": {"keys": ["${GW_KEY}"]},
        }
        with running_gateway(yaml.safe_dump(config), env=ENV) as gw:
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            auth = {"authorization": f"Bearer {GATEWAY_KEY}"}
            reply = request(gw.url, "POST", "/v1/chat/completions", body, auth)
            assert reply.headers["x-turnout-attempts"] == "sub:quota -> backup:ok"
            run = doctor(config, tmp_path, "--json", "--gateway", gw.url)
            table = doctor(config, tmp_path, "--gateway", gw.url)
    assert run.json()["gateway"]["reachable"] is True
    paths = paths_by_name(run)
    gate = paths["sub/claude-x"]["gateway"]
    assert (gate["state"], gate["category"], gate["code"]) == (
        "gated",
        "quota",
        "subscription_usage_gate",
    )
    assert 0 < gate["seconds_left"] <= 300
    assert paths["backup/claude-x"]["gateway"] is None
    note = r"gated by the gateway: quota/subscription_usage_gate, next probe in \d+s"
    assert re.search(note, table.out)


def test_star_targets_take_an_exact_route_name_and_skip_patterns() -> None:
    config = load_config_text(
        yaml.safe_dump(
            {
                "providers": {"m": {"kind": "mock"}},
                "routes": {
                    "claude-sonnet-4-6": ["m/*"],
                    "other": ["m/claude-sonnet-4-6"],
                    "*": ["m/*"],
                },
            },
            sort_keys=False,
        ),
        env={},
    )
    plans = {p.path: p for p in plan_paths(config)}
    assert list(plans) == ["m/claude-sonnet-4-6", "m/*"]
    assert plans["m/claude-sonnet-4-6"].routes == ("claude-sonnet-4-6", "other")
    assert plans["m/claude-sonnet-4-6"].skip_reason is None
    assert plans["m/*"].skip_reason is not None


def test_nothing_to_probe_says_how_to_get_a_config(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
        "TURNOUT_CONFIG": "",
    }
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY", "DEEPSEEK_API_KEY"):
        env[name] = ""
    result = subprocess.run(
        [sys.executable, "-m", "turnout", "doctor", "--timeout", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 2
    assert "nothing to probe" in result.stderr
    assert "turnout init" in result.stderr


def test_at_100_columns_no_word_of_the_table_breaks(upstreams: Upstreams, tmp_path: Path) -> None:
    path = tmp_path / "turnout.yaml"
    path.write_text(yaml.safe_dump(upstreams.config, sort_keys=False), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "turnout", "doctor", "--config", str(path),
         "--gateway", f"http://127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
        env={**os.environ, **ENV, "COLUMNS": "100"},
    )  # fmt: skip
    table = done.stdout.split("\nroute ")[0].splitlines()
    assert max(len(line) for line in table) <= 100
    words = {p["path"] for p in upstreams.config["routes"].values() for p in [{"path": p[0]}]}
    words |= {upstreams.good.url + "/v1", "quota/subscription_usage_gate", "subscription"}
    for word in words:
        assert any(word in line for line in table), word


PATTERNS = {
    "providers": {"m": {"kind": "mock"}},
    "routes": {"claude-sonnet-4-6": ["m/claude-sonnet-4-6"], "claude-*": ["m/*"], "*": ["m/*"]},
}


def test_pattern_routes_count_as_working_when_their_provider_answers(tmp_path: Path) -> None:
    run = doctor(PATTERNS, tmp_path)
    assert run.code == 0
    assert "DOWN" not in run.out
    assert "route claude-*: ok, m answered" in run.out
    assert run.out.splitlines()[-1] == "every route has a working path"
    routes = doctor(PATTERNS, tmp_path, "--json").json()["routes"]
    assert (routes["*"]["state"], routes["*"]["answering"]) == ("ok", ["m"])


def test_a_pattern_over_a_provider_seen_nowhere_is_not_probed_not_down(tmp_path: Path) -> None:
    config = {
        "providers": {"m": {"kind": "mock"}, "other": {"kind": "mock"}},
        "routes": {"m": ["m/model"], "*": ["other/*"]},
    }
    run = doctor(config, tmp_path)
    assert run.code == 0
    assert "route *: not probed" in run.out
    assert run.out.splitlines()[-1] == "every probed route has a working path; not probed: *"


def test_when_no_route_serves_the_exit_status_is_1(tmp_path: Path) -> None:
    config = {
        "providers": {"sub": {"kind": "mock", "script": [{"status": 400, "body": EXTRA_USAGE}]}},
        "routes": {"a": ["sub/claude-x"], "b": ["sub/claude-y"]},
    }
    run = doctor(config, tmp_path)
    assert run.code == 1
    assert run.out.splitlines()[-1] == "no route has a working path: nothing can be served"


def test_a_backup_path_with_an_unset_key_is_skipped_and_said(tmp_path: Path) -> None:
    config = {
        "providers": {
            "main": {"kind": "mock"},
            "spare": {
                "kind": "anthropic",
                "base_url": "https://api.anthropic.com",
                "api_key": "${TURNOUT_TEST_UNSET_SPARE_KEY}",
            },
        },
        "routes": {"m": ["main/model", "spare/claude-sonnet-4-6"]},
    }
    run = doctor(config, tmp_path)
    assert run.code == 0, run.err
    assert "provider spare skipped: " in run.out
    assert "environment variable TURNOUT_TEST_UNSET_SPARE_KEY is not set" in run.out
    data = doctor(config, tmp_path, "--json").json()
    assert [p["path"] for p in data["paths"]] == ["main/model"]
    assert list(data["unavailable"]) == ["spare"]


# Each cloud kind, probed through its own wire against its fake.

AWS_ACCESS = "AKIAFAKEFAKEFAKE0001"
AWS_SECRET = "fake/secret/key/for/doctor/0123456789ab"
AZURE_KEY = "azure-key-for-doctor-0123456789"
GEMINI_KEY = "gemini-key-for-doctor-0123456789"


def aws_env(tmp_path: Path) -> dict[str, str]:
    """Keys in the environment, shared files in a scratch folder, no metadata service."""
    return {
        "AWS_ACCESS_KEY_ID": AWS_ACCESS,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_PROFILE": "",
        "AWS_SESSION_TOKEN": "",
        "AWS_REGION": "",
    }


def test_each_cloud_kind_is_probed_through_its_own_wire(tmp_path: Path) -> None:
    claude = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    llama = "us.meta.llama3-3-70b-instruct-v1:0"
    with ExitStack() as stack:
        bedrock = stack.enter_context(FakeBedrock(Keys(AWS_ACCESS, AWS_SECRET)))
        vertex = stack.enter_context(FakeVertex(FakeClock(), EMAIL))
        azure = stack.enter_context(FakeAzure(AZURE_KEY, {"prod-4o": "gpt-4o-2024-11-20"}))
        gemini = stack.enter_context(RunningUpstream())
        key_file = service_account_file(tmp_path, f"{vertex.url}/token")
        config = {
            "providers": {
                "br": {"kind": "bedrock", "base_url": bedrock.url, "region": "us-east-1"},
                "vx": {
                    "kind": "vertex",
                    "base_url": vertex.url,
                    "project": PROJECT,
                    "region": "us-east5",
                    "credentials_file": str(key_file),
                },
                "az": {
                    "kind": "azure",
                    "base_url": azure.url,
                    "api_key": "${AZ_KEY}",
                    "deployments": {"gpt-4o": "prod-4o"},
                },
                "gm": {"kind": "gemini", "base_url": gemini.url, "api_key": "${GM_KEY}"},
            },
            "routes": {
                "bedrock-claude": [f"br/{claude}"],
                "bedrock-llama": [f"br/{llama}"],
                "vertex-claude": ["vx/claude-sonnet-4-5@20250929"],
                "vertex-gemini": ["vx/gemini-2.5-pro"],
                "azure": ["az/gpt-4o"],
                "gemini": ["gm/gemini-2.5-flash"],
            },
        }
        env = {**aws_env(tmp_path), "AZ_KEY": AZURE_KEY, "GM_KEY": GEMINI_KEY}
        run = doctor(config, tmp_path, "--json", env=env)
        for secret in (AWS_SECRET, AZURE_KEY, GEMINI_KEY, *vertex.issued):
            assert secret not in run.out + run.err
        assert run.code == 0, run.out + run.err
        paths = paths_by_name(run)
        assert all(p["ok"] for p in paths.values()), paths
        assert paths[f"br/{claude}"]["auth"] == "aws sigv4"
        assert paths["vx/gemini-2.5-pro"]["auth"] == "google oauth"
        assert paths["az/gpt-4o"]["auth"] == "api key"

        invoked, conversed = (r for r in bedrock.requests if r.path.startswith("/model/"))
        assert invoked.path.endswith("/invoke")
        assert invoked.json["max_tokens"] == 1
        assert invoked.json["anthropic_version"] == "bedrock-2023-05-31"
        assert conversed.path.endswith("/converse")
        assert conversed.json["inferenceConfig"] == {"maxTokens": 1}
        assert bedrock.signature_checks == 2

        called = sorted(r.path.rsplit(":", 1)[-1] for r in vertex.requests if "models" in r.path)
        assert called == ["generateContent", "rawPredict"]
        assert vertex.token_requests == 1

        [sent] = azure.requests
        assert sent.path == "/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21"
        assert sent.json["max_tokens"] == 1

        [asked] = [r for r in gemini.requests if "generateContent" in r.path]
        assert asked.path == "/v1beta/models/gemini-2.5-flash:generateContent"
        assert asked.headers["x-goog-api-key"] == GEMINI_KEY
        assert asked.json["generationConfig"]["maxOutputTokens"] == 1


def test_a_wrong_aws_secret_is_read_as_auth_by_the_doctor(tmp_path: Path) -> None:
    with FakeBedrock(Keys(AWS_ACCESS, "the-real-secret-is-another-one")) as bedrock:
        config = {
            "providers": {
                "br": {"kind": "bedrock", "base_url": bedrock.url, "region": "us-east-1"}
            },
            "routes": {"m": ["br/us.anthropic.claude-haiku-4-5-20251001-v1:0"]},
        }
        run = doctor(config, tmp_path, "--json", env=aws_env(tmp_path))
    assert AWS_SECRET not in run.out + run.err
    [path] = run.json()["paths"]
    assert (path["status"], path["diagnosis"]["category"]) == (403, "auth")


def test_an_azure_path_with_entra_client_credentials_is_probed_with_its_token(
    tmp_path: Path,
) -> None:
    secret = "entra-client-secret-for-doctor-0123"
    app = EntraApp("contoso.onmicrosoft.com", "doctor-client", secret)
    with FakeAzure(AZURE_KEY, {"gpt-4o": "gpt-4o"}, entra=app) as azure:
        config = {
            "providers": {
                "az": {
                    "kind": "azure",
                    "base_url": azure.url,
                    "auth": "entra",
                    "authority": azure.url,
                    "tenant_id": app.tenant,
                    "client_id": app.client_id,
                    "client_secret": "${AZ_SECRET}",
                }
            },
            "routes": {"m": ["az/gpt-4o"]},
        }
        run = doctor(config, tmp_path, "--json", env={"AZ_SECRET": secret})
        assert secret not in run.out + run.err
        [path] = run.json()["paths"]
        assert (path["ok"], path["auth"]) == (True, "entra client credentials")
        assert azure.token_requests == 1
        assert azure.requests[-1].headers["authorization"] in {f"Bearer {t}" for t in azure.issued}
