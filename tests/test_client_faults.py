"""Clients that send what parses but cannot be served: each gets a clear 4xx in its own dialect
before any path is called (so nothing is paid for), never a 500 of the gateway's own.

A real gateway over fake upstreams on 127.0.0.1; raw HTTP where an SDK would refuse to send.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from tests.fakes import RunningUpstream
from tests.gateway import RunningGateway, request, running_gateway
from turnout.config import ConfigError
from turnout.errors import ClientRequestError
from turnout.ledger.keys import KeyStore
from turnout.ledger.store import LedgerError, migrate, open_database
from turnout.runtime.configs import load_config_text
from turnout.wire.base import MAX_JSON_DEPTH, parse_json_object

ANTHROPIC = {"anthropic-version": "2023-06-01"}


@contextmanager
def crossed() -> Iterator[tuple[RunningGateway, RunningUpstream, RunningUpstream]]:
    """Route `to-anthropic` goes only to an Anthropic path, `to-openai` only to an OpenAI one:
    every request from the other dialect is translated."""
    with ExitStack() as stack:
        claude = stack.enter_context(RunningUpstream())
        gpt = stack.enter_context(RunningUpstream())
        config = {
            "defaults": {"retries": 0},
            "providers": {
                "claude": {"kind": "anthropic", "base_url": claude.url, "api_key": "${A_KEY}"},
                "gpt": {"kind": "openai", "base_url": gpt.url + "/v1", "api_key": "${O_KEY}"},
            },
            "routes": {"to-anthropic": ["claude/model-a"], "to-openai": ["gpt/model-o"]},
        }
        env = {"A_KEY": "sk-ant-test-a", "O_KEY": "sk-test-o"}
        gw = stack.enter_context(running_gateway(yaml.safe_dump(config), env=env))
        yield gw, claude, gpt


def openai_chat(model: str, **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **fields}


def anthropic_chat(model: str, **fields: Any) -> dict[str, Any]:
    return {"max_tokens": 16, **openai_chat(model), **fields}


def nested_schema(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"inner": schema}}
    return schema


def test_a_stop_that_is_not_text_is_refused_in_each_dialect_before_any_path() -> None:
    with crossed() as (gw, claude, gpt):
        reply = request(gw.url, "POST", "/v1/chat/completions", openai_chat("to-anthropic", stop=5))
        assert reply.status == 400
        error = json.loads(reply.body)["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"] == "'stop' must be a string or a list of strings"

        reply = request(
            gw.url, "POST", "/v1/messages", anthropic_chat("to-openai", stop_sequences=5), ANTHROPIC
        )
        assert reply.status == 400
        body = json.loads(reply.body)
        assert body["type"] == "error"
        assert body["error"]["message"] == "'stop_sequences' must be a list of strings"
        assert claude.requests == []
        assert gpt.requests == []


def _deep_schema(depth: int) -> str:
    # Written by hand: a JSON encoder stops well below 5000 levels.
    return '{"type":"object","properties":{"a":' * (depth // 2) + "{}" + "}}" * (depth // 2)


ANTHROPIC_TOOL = {"name": "deep", "description": "d", "input_schema": "SCHEMA"}
OPENAI_TOOL = {"type": "function", "function": {"name": "deep", "parameters": "SCHEMA"}}


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 300, 5000])
def test_a_tool_schema_nested_too_deep_for_a_translation_is_a_clear_400(depth: int) -> None:
    with crossed() as (gw, claude, gpt):
        for path, body, headers in (
            ("/v1/messages", anthropic_chat("to-openai", tools=[ANTHROPIC_TOOL]), ANTHROPIC),
            ("/v1/chat/completions", openai_chat("to-anthropic", tools=[OPENAI_TOOL]), {}),
            (
                "/v1/chat/completions",
                openai_chat("to-anthropic", tools=[OPENAI_TOOL], stream=True),
                {},
            ),
        ):
            raw = json.dumps(body).replace('"SCHEMA"', _deep_schema(depth)).encode()
            reply = request(gw.url, "POST", path, raw, headers)
            assert reply.status == 400, reply.body
            assert f"nests deeper than {MAX_JSON_DEPTH} levels" in reply.body.decode()
        assert claude.requests == []
        assert gpt.requests == []


def test_a_deep_schema_on_a_path_of_its_own_wire_goes_as_sent() -> None:
    """The gateway never parses a same-wire body whole, so it has no depth of its own to
    enforce there: the bytes reach the upstream unchanged but for the model, and its answer
    (here a 200; a real provider may refuse the schema) reaches the client. The top level is
    written again around the client's values."""
    body = openai_chat("to-openai", tools=[OPENAI_TOOL])
    raw = json.dumps(body).replace('"SCHEMA"', _deep_schema(300)).encode()
    with crossed() as (gw, _claude, gpt):
        reply = request(gw.url, "POST", "/v1/chat/completions", raw, {})
        assert reply.status == 200, reply.body
        [sent] = gpt.requests
        top = msgspec.json.Decoder(dict[str, msgspec.Raw])
        sent_values = {name: bytes(value) for name, value in top.decode(sent.body).items()}
        raw_values = {name: bytes(value) for name, value in top.decode(raw).items()}
        assert sent_values == {**raw_values, "model": b'"model-o"'}


def nested_arrays(depth: int) -> bytes:
    return b'{"model":"m","x":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_the_depth_bound_is_exact() -> None:
    parse_json_object(nested_arrays(MAX_JSON_DEPTH))
    with pytest.raises(ClientRequestError, match="nests deeper than"):
        parse_json_object(nested_arrays(MAX_JSON_DEPTH + 1))


def test_a_schema_just_within_the_depth_bound_is_served() -> None:
    tool = {"name": "deep", "description": "d", "input_schema": nested_schema(60)}
    with crossed() as (gw, claude, _):
        reply = request(
            gw.url, "POST", "/v1/messages", anthropic_chat("to-anthropic", tools=[tool])
        )
        assert reply.status == 200, reply.body
        assert len(claude.requests) == 1


def make_keys_store(ledger: Path) -> KeyStore:
    db = open_database(str(ledger))
    migrate(db)
    return KeyStore(db)


@pytest.mark.parametrize("limits", [{"rpm": 0}, {"tpm": 0}, {"rpm": -5}])
def test_a_rate_limit_that_allows_nothing_is_refused_at_creation(
    tmp_path: Path, limits: dict[str, Any]
) -> None:
    store = make_keys_store(tmp_path / "ledger.sqlite3")
    with pytest.raises(LedgerError, match="is a count of 1 or more"):
        store.create("zero", **limits)
    assert store.all() == []


def test_keys_create_with_rpm_0_is_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "turnout.yaml"
    ledger = tmp_path / "ledger.sqlite3"
    routes = {"x": ["m/x"]}
    config.write_text(
        yaml.safe_dump(
            {"ledger": str(ledger), "providers": {"m": {"kind": "mock"}}, "routes": routes}
        )
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "turnout",
            "keys",
            "create",
            "bot",
            "--rpm",
            "0",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "--rpm is a count of 1 or more" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_zero_rpm_already_in_a_ledger_answers_429_not_500(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    store = make_keys_store(ledger)
    _, secret = store.create("legacy", rpm=1)
    with sqlite3.connect(ledger) as db:  # as a ledger written before the check would hold it
        db.execute("UPDATE gateway_keys SET rpm = 0")
    with RunningUpstream() as up:
        config = {
            "ledger": str(ledger),
            "providers": {"p": {"kind": "openai", "base_url": up.url + "/v1"}},
            "routes": {"m": ["p/model"]},
        }
        with running_gateway(yaml.safe_dump(config)) as gw:
            reply = request(
                gw.url, "POST", "/v1/chat/completions", openai_chat("m"),
                {"authorization": f"Bearer {secret}"},
            )  # fmt: skip
        assert reply.status == 429, reply.body
        assert reply.headers["retry-after"] == "60"
        assert up.requests == []


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("headers_timeout_s", ".nan", "must be a finite number of seconds"),
        ("read_timeout_s", ".inf", "must be a finite number of seconds"),
        ("response_timeout_s", "0", "must be more than 0 seconds"),
        ("max_event_bytes", "0", "must be a whole number >= 1"),
        ("cooldown_s", "-1", "must be a number of seconds >= 0"),
    ],
)
def test_degenerate_numbers_in_settings_are_refused(setting: str, value: str, message: str) -> None:
    text = (
        f"defaults:\n  {setting}: {value}\nproviders:\n  m: {{kind: mock}}\nroutes:\n  x: [m/x]\n"
    )
    with pytest.raises(ConfigError, match=message):
        load_config_text(text, "<test>", {})


def test_zero_where_zero_means_none_is_still_accepted() -> None:
    text = "defaults:\n  retries: 0\n  cooldown_s: 0\n  backoff_s: 0\nproviders:\n  m: {kind: mock}\nroutes:\n  x: [m/x]\n"
    config = load_config_text(text, "<test>", {})
    assert config.defaults.retries == 0
    assert config.defaults.cooldown_s == 0
