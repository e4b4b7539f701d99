"""The vertex kind against fake Vertex AI and Google token endpoints on 127.0.0.1: a real
service-account key signs the token request, and tokens are renewed before they expire.
Claude models go through rawPredict, Gemini models through generateContent, on one path."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.clients import Clients
from tests.clock import FakeClock
from tests.fakes import Reply, ToolCall
from tests.fakes.vertex_wire import EMAIL, PROJECT, FakeVertex, service_account_file
from tests.gateway import RunningGateway, running_gateway
from turnout.config import ConfigError
from turnout.providers import vertex
from turnout.providers.tokens import BearerRefresher
from turnout.runtime.configs import load_config_text
from turnout.wire.gemini.requests import FOREIGN_CALL_SIGNATURE

MODEL = "claude-sonnet-4-5@20250929"
GEMINI_MODEL = "gemini-2.5-pro"
GOOGLE_MODELS = f"/v1/projects/{PROJECT}/locations/us-east5/publishers/google/models"
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@contextmanager
def vertex_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, credentials: str = "file"
) -> Iterator[tuple[RunningGateway, FakeVertex, FakeClock]]:
    clock = FakeClock()
    monkeypatch.setattr(vertex, "BearerRefresher", functools.partial(BearerRefresher, clock=clock))
    with FakeVertex(clock, EMAIL) as fake:
        key_file = service_account_file(tmp_path, f"{fake.url}/token")
        line = f"credentials_file: {key_file}"
        if credentials == "adc":
            monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
            line = ""
        config = f"""
defaults: {{retries: 0}}
providers:
  vx:
    kind: vertex
    base_url: {fake.url}
    project: {PROJECT}
    region: us-east5
    {line}
routes:
  m: {{targets: ["vx/{MODEL}"]}}
  g: {{targets: ["vx/{GEMINI_MODEL}"]}}
"""
        with running_gateway(config) as gateway:
            yield gateway, fake, clock


def ask(clients: Clients, gw: RunningGateway) -> str:
    reply = clients.anthropic(gw.url).messages.create(
        model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.content[0].type == "text"
    return reply.content[0].text


def test_raw_predict_with_a_service_account_token(
    clients: Clients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with vertex_gateway(tmp_path, monkeypatch) as (gw, fake, _clock):
        assert ask(clients, gw) == f"hello from vertex {MODEL}"
        sent = fake.requests[-1]
        assert sent.path == (
            f"/v1/projects/{PROJECT}/locations/us-east5/publishers/anthropic/models/{MODEL}:rawPredict"
        )
        assert sent.json["anthropic_version"] == "vertex-2023-10-16"
        assert "model" not in sent.json


def test_stream_raw_predict_through_application_default_credentials(
    clients: Clients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with vertex_gateway(tmp_path, monkeypatch, credentials="adc") as (gw, fake, _clock):
        with clients.anthropic(gw.url).messages.stream(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            assert stream.get_final_text() == f"hello from vertex {MODEL}"
        assert fake.requests[-1].path.endswith(":streamRawPredict")


def test_the_token_is_renewed_before_it_expires_once_for_a_burst(
    clients: Clients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with vertex_gateway(tmp_path, monkeypatch) as (gw, fake, clock):
        ask(clients, gw)
        assert fake.token_requests == 1
        clock.advance(3000)  # 10 minutes left: still used
        ask(clients, gw)
        assert fake.token_requests == 1
        clock.advance(400)  # under the 5-minute margin: renewed, though still valid
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: ask(clients, gw), range(16)))
        assert answers == [f"hello from vertex {MODEL}"] * 16
        assert fake.token_requests == 2
        tokens = {r.headers["authorization"] for r in fake.requests if "publishers" in r.path}
        assert len(tokens) == 2


def test_a_missing_gcp_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.auth", None)
    with pytest.raises(ConfigError) as raised:
        load_config_text(
            "providers: {a: {kind: vertex, project: my-project}}\nroutes: {m: [a/x]}", "<t>", {}
        )
    assert raised.value.hint == "pip install 'turnout[gcp]'"


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ("{kind: vertex}", "has no project"),
        ("{kind: vertex, project: my-project, region: 'us east'}", "not a Vertex AI region"),
        ("{kind: vertex, project: my-project, credentials_file: /nonexistent.json}", "no file"),
    ],
)
def test_vertex_options_are_checked_by_the_kind(table: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config_text(f"providers: {{a: {table}}}\nroutes: {{m: [a/x]}}", "<t>", {})
    assert says in str(raised.value)


def test_global_region_has_no_region_in_its_host() -> None:
    config = load_config_text(
        "providers: {a: {kind: vertex, project: my-project}}\nroutes: {m: [a/x]}", "<t>", {}
    )
    assert config.providers["a"].base_url == "https://aiplatform.googleapis.com"
    assert config.providers["a"].options["region"] == "global"


def test_a_chat_client_is_served_by_vertex_gemini_with_a_tool_across_turns(
    clients: Clients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with vertex_gateway(tmp_path, monkeypatch) as (gw, fake, _clock):
        fake.script(
            Reply(tool_call=ToolCall("get_weather", {"city": "Oslo"}, id="call_w1")),
            Reply(text="Rain in Oslo."),
        )
        chat = clients.openai(gw.url)
        messages: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
        first = chat.chat.completions.create(model="g", messages=messages, tools=[WEATHER])
        [call] = first.choices[0].message.tool_calls or []
        assert call.type == "function"
        assert call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "Oslo"}
        sent = fake.requests[-1]
        assert sent.path == f"{GOOGLE_MODELS}/{GEMINI_MODEL}:generateContent"
        assert sent.headers["authorization"].removeprefix("Bearer ") in fake.issued
        assert "model" not in sent.json
        declared = sent.json["tools"][0]["functionDeclarations"][0]
        assert declared["name"] == "get_weather"
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "rain"},
        ]
        with chat.chat.completions.create(
            model="g",
            messages=messages,
            tools=[WEATHER],
            stream=True,
        ) as stream:
            text = "".join(
                chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices
            )
        assert text == "Rain in Oslo."
        sent = fake.requests[-1]
        assert sent.path == f"{GOOGLE_MODELS}/{GEMINI_MODEL}:streamGenerateContent?alt=sse"
        model_turn, answer = sent.json["contents"][1:]
        # A Chat client keeps no signature: the call goes back with Google's foreign one.
        assert model_turn["parts"][0]["thoughtSignature"] == FOREIGN_CALL_SIGNATURE
        assert answer["parts"][0]["functionResponse"]["name"] == "get_weather"


def test_one_vertex_path_serves_claude_and_gemini_models_with_one_token(
    clients: Clients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with vertex_gateway(tmp_path, monkeypatch) as (gw, fake, _clock):
        assert ask(clients, gw) == f"hello from vertex {MODEL}"
        reply = clients.anthropic(gw.url).messages.create(
            model="g", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.content[0].type == "text"
        assert reply.content[0].text == f"hello from vertex {GEMINI_MODEL}"
        claude, gemini = (r for r in fake.requests if "/publishers/" in r.path)
        assert "/publishers/anthropic/models/" in claude.path
        assert gemini.path == f"{GOOGLE_MODELS}/{GEMINI_MODEL}:generateContent"
        assert "anthropic_version" not in gemini.json
        assert fake.token_requests == 1
        assert claude.headers["authorization"] == gemini.headers["authorization"]
