"""The bedrock kind against a fake Bedrock Runtime on 127.0.0.1 that recomputes every SigV4
signature and streams event-stream frames (exception frames and bad CRCs included): Claude
through InvokeModel, other vendors' models through Converse."""

from __future__ import annotations

import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anthropic
import orjson
import pytest

from tests.clients import Clients
from tests.fakes import Fail, RunningUpstream
from tests.fakes.bedrock_wire import (
    BedrockStep,
    FakeBedrock,
    Keys,
    chunk_frame,
    converse_refusal,
    frame,
)
from tests.gateway import RunningGateway, running_gateway
from turnout.config import ConfigError
from turnout.errors import ResponseRefused
from turnout.providers.eventstream import EventStreamDecoder
from turnout.runtime.configs import load_config_text

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
LLAMA = "us.meta.llama3-3-70b-instruct-v1:0"
LLAMA_PATH = "/model/us.meta.llama3-3-70b-instruct-v1%3A0"
ACCESS = "AKIAFAKEFAKEFAKE0001"
SECRET = "fake/secret/key/for/tests/0123456789abcd"
WEATHER: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Credentials from the environment, shared files in a scratch folder, no metadata service."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    return tmp_path


@contextmanager
def bedrock_gateway(
    keys: Keys | None = None,
    provider_extra: str = "",
    backup: RunningUpstream | None = None,
    model: str = MODEL,
    aws_clock: Callable[[], float] = time.time,
) -> Iterator[tuple[RunningGateway, FakeBedrock]]:
    with FakeBedrock(keys or Keys(ACCESS, SECRET), clock=aws_clock) as fake:
        targets = f'"br/{model}"' + (", backup/claude-backup" if backup else "")
        backup_provider = (
            f"  backup: {{kind: anthropic, base_url: '{backup.url}', api_key: '${{K}}'}}"
            if backup
            else ""
        )
        config = f"""
defaults: {{retries: 0}}
providers:
  br:
    kind: bedrock
    base_url: {fake.url}
    region: us-east-1
    {provider_extra}
{backup_provider}
routes:
  m: {{targets: [{targets}]}}
"""
        with running_gateway(config, env={"K": "backup-key-000000000000"}) as gateway:
            yield gateway, fake


def raw_stream(gw: RunningGateway) -> str:
    body = orjson.dumps(
        {
            "model": "m",
            "max_tokens": 50,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
    request = urllib.request.Request(
        gw.url + "/v1/messages", data=body, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.read().decode())


def test_invoke_model_is_signed_and_shaped_for_bedrock(clients: Clients) -> None:
    with bedrock_gateway() as (gw, fake):
        reply = clients.anthropic(gw.url).messages.create(
            model="m",
            max_tokens=50,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"anthropic-beta": "context-1m-2025-08-07"},
        )
        assert reply.content[0].type == "text"
        assert reply.content[0].text == "hello from bedrock"
        sent = fake.requests[-1]
        assert sent.path == "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke"
        assert sent.json["anthropic_version"] == "bedrock-2023-05-31"
        assert sent.json["anthropic_beta"] == ["context-1m-2025-08-07"]
        assert "model" not in sent.json
        assert fake.signature_checks == 1
        assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS}/")


def test_stream_frames_become_anthropic_events_with_the_tool_call_intact(
    clients: Clients,
) -> None:
    with bedrock_gateway() as (gw, fake):
        fake.script(
            BedrockStep(text="let me look", tool={"name": "get_weather", "input": {"city": "Oslo"}})
        )
        with clients.anthropic(gw.url).messages.stream(
            model="m",
            max_tokens=50,
            tools=[WEATHER],
            messages=[{"role": "user", "content": "weather?"}],
        ) as stream:
            final = stream.get_final_message()
        assert final.content[0].type == "text"
        assert final.content[0].text == "let me look"
        assert final.content[1].type == "tool_use"
        assert final.content[1].input == {"city": "Oslo"}
        assert final.stop_reason == "tool_use"
        assert fake.requests[-1].path.endswith("/invoke-with-response-stream")
        assert "stream" not in fake.requests[-1].json
        # The same stream, translated for an OpenAI client.
        chunks: list[Any] = list(
            clients.openai(gw.url).chat.completions.create(
                model="m",
                stream=True,
                messages=[{"role": "user", "content": "weather?"}],
                tools=[
                    {
                        "type": "function",
                        "function": {"name": "get_weather", "parameters": WEATHER["input_schema"]},
                    }
                ],
            )
        )
        calls = [
            c.choices[0].delta.tool_calls
            for c in chunks
            if c.choices and c.choices[0].delta.tool_calls
        ]
        arguments = "".join(call[0].function.arguments or "" for call in calls)
        assert orjson.loads(arguments) == {"city": "Oslo"}


def test_an_exception_frame_before_content_fails_over(clients: Clients) -> None:
    with RunningUpstream() as backup, bedrock_gateway(backup=backup) as (gw, fake):
        fake.script(BedrockStep(exception_after=0))
        raw = clients.anthropic(gw.url).messages.with_raw_response.create(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = "".join(
            e.delta.text
            for e in raw.parse()
            if e.type == "content_block_delta" and e.delta.type == "text_delta"
        )
        assert text
        assert raw.headers["x-turnout-attempts"] == "br:rate_limit -> backup:ok"


def test_an_exception_frame_mid_stream_reaches_the_client_as_an_error_event() -> None:
    with bedrock_gateway() as (gw, fake):
        fake.script(BedrockStep(text="one two three", exception_after=4))
        body = raw_stream(gw)
        assert '"text":"one"' in body
        assert "event: error" in body
        assert "throttlingException: Too many tokens" in body
        assert "message_stop" not in body


def test_a_frame_with_a_bad_crc_is_refused() -> None:
    with bedrock_gateway() as (gw, fake):
        fake.script(BedrockStep(text="one two three", corrupt_after=4))
        body = raw_stream(gw)
        assert '"text":"one"' in body
        assert "event: error" in body
        assert "message_stop" not in body


def test_a_throttled_invoke_is_read_as_a_rate_limit(clients: Clients) -> None:
    with bedrock_gateway() as (gw, fake):
        fake.script(BedrockStep(throttle=True))
        with pytest.raises(anthropic.APIStatusError) as raised:
            clients.anthropic(gw.url).messages.create(
                model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            )
        assert raised.value.response.headers["x-turnout-attempts"] == "br:rate_limit"


def test_a_wrong_secret_fails_the_signature_check_and_is_not_retried(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not/the/right/secret/0000000000000000")
    with bedrock_gateway() as (gw, fake):
        with pytest.raises(anthropic.APIStatusError) as raised:
            clients.anthropic(gw.url).messages.create(
                model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            )
        assert "signature we calculated does not match" in raised.value.response.text
        # A credential fault: the path is not tried again for this call.
        assert raised.value.response.headers["x-turnout-attempts"] == "br:auth"
        assert raised.value.response.json()["turnout"]["code"] == "invalid_api_key"
        assert len(fake.requests) == 1


def test_a_shared_profile_with_a_session_token_signs_with_it(
    clients: Clients, monkeypatch: pytest.MonkeyPatch, aws_env: Path
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    token = "FwoGZXIvYXdzEFAKESESSIONTOKEN0123456789"
    (aws_env / "credentials").write_text(
        f"[work]\naws_access_key_id = {ACCESS}\naws_secret_access_key = {SECRET}\n"
        f"aws_session_token = {token}\n"
    )
    keys = Keys(ACCESS, SECRET, session_token=token)
    with bedrock_gateway(keys, provider_extra="profile: work") as (gw, _fake):
        reply = clients.anthropic(gw.url).messages.create(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.content[0].type == "text"
        assert keys.seen_tokens == [token]


@pytest.mark.parametrize(
    ("aws_ahead_s", "words"),
    [(20 * 60, "Signature expired"), (-20 * 60, "Signature not yet current")],
)
def test_a_clock_off_by_minutes_is_clock_skew_and_the_next_path_serves(
    clients: Clients, aws_ahead_s: float, words: str
) -> None:
    """AWS's clock 20 minutes ahead of (or behind) this machine's: the signature's time is
    refused, read as this machine's clock, and the call goes on to the next path unretried."""
    with RunningUpstream() as backup:
        with bedrock_gateway(backup=backup, aws_clock=lambda: time.time() + aws_ahead_s) as (
            gw,
            fake,
        ):
            raw = clients.anthropic(gw.url).messages.with_raw_response.create(
                model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            )
            assert raw.parse().content[0].type == "text"
            assert raw.headers["x-turnout-attempts"].startswith("br:auth")
            assert fake.signature_checks == 0  # refused on its time, before the signature
            assert len(fake.requests) == 1
        assert len(backup.requests) == 1
    with bedrock_gateway(aws_clock=lambda: time.time() + aws_ahead_s) as (gw, fake):
        with pytest.raises(anthropic.APIStatusError) as raised:
            clients.anthropic(gw.url).messages.create(
                model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            )
        assert words in raised.value.response.text
        assert raised.value.response.headers["x-turnout-attempts"] == "br:auth"
        assert raised.value.response.json()["turnout"]["code"] == "clock_skew"


def test_a_gated_anthropic_path_fails_over_to_bedrock_with_tools_intact(clients: Clients) -> None:
    with RunningUpstream() as anthropic_path, FakeBedrock(Keys(ACCESS, SECRET)) as fake:
        anthropic_path.script(
            Fail(
                429,
                '{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your account\'s rate limit."}}',
                headers={"retry-after": "3600"},
            )
        )
        fake.script(
            BedrockStep(text="checking", tool={"name": "get_weather", "input": {"city": "Lima"}})
        )
        config = f"""
defaults: {{retries: 0}}
providers:
  claude: {{kind: anthropic, base_url: '{anthropic_path.url}', api_key: '${{K}}'}}
  br: {{kind: bedrock, base_url: '{fake.url}', region: us-east-1}}
routes:
  m: {{targets: [claude/claude-sonnet-4-5, "br/{MODEL}"]}}
"""
        with running_gateway(config, env={"K": "anthropic-key-0000000000"}) as gw:
            with clients.anthropic(gw.url).messages.stream(
                model="m",
                max_tokens=50,
                tools=[WEATHER],
                messages=[{"role": "user", "content": "weather?"}],
            ) as stream:
                final = stream.get_final_message()
            assert final.content[1].type == "tool_use"
            assert final.content[1].input == {"city": "Lima"}
            assert fake.requests[-1].json["tools"][0]["name"] == "get_weather"


def _load(table: str, env: dict[str, str] | None = None) -> None:
    load_config_text(f"providers: {{a: {table}}}\nroutes: {{m: [a/x]}}", "<t>", env or {})


def test_a_missing_aws_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "botocore", None)
    with pytest.raises(ConfigError) as raised:
        _load("{kind: bedrock, region: us-east-1}")
    assert "botocore" in str(raised.value)
    assert raised.value.hint == "pip install 'turnout[aws]'"
    # A Bedrock API key is a bearer token: no signing, so no extra needed.
    _load("{kind: bedrock, region: us-east-1, api_key: '${K}'}", {"K": "bedrock-api-key"})


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ("{kind: bedrock}", "no AWS region"),
        ("{kind: bedrock, region: mars-north-1x}", "not an AWS region"),
        ("{kind: anthropic, base_url: 'https://x', region: us-east-1}", "unknown key"),
    ],
)
def test_bedrock_options_are_checked_by_the_kind(table: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(table)
    assert says in str(raised.value)


def test_region_comes_from_the_environment_and_makes_the_endpoint() -> None:
    config = load_config_text(
        "providers: {a: {kind: bedrock}}\nroutes: {m: [a/x]}", "<t>", {"AWS_REGION": "eu-west-3"}
    )
    assert config.providers["a"].base_url == "https://bedrock-runtime.eu-west-3.amazonaws.com"


def test_decoder_reassembles_split_frames_and_refuses_hostile_ones() -> None:
    data = chunk_frame({"type": "ping"}) * 2
    decoder = EventStreamDecoder(max_frame=4096)
    frames = [f for i in range(len(data)) for f in decoder.feed(data[i : i + 1])]
    assert [f.header(":event-type") for f in frames] == ["chunk", "chunk"]
    decoder.finish()
    huge = frame({":message-type": "event"}, b"x" * 5000)
    with pytest.raises(ResponseRefused, match="over the bound"):
        list(EventStreamDecoder(max_frame=4096).feed(huge[:12]))  # refused from the prelude alone
    bad_prelude = bytearray(chunk_frame({"type": "ping"}))
    bad_prelude[9] ^= 1
    with pytest.raises(ResponseRefused, match="prelude fails its CRC"):
        list(EventStreamDecoder(max_frame=4096).feed(bytes(bad_prelude)))
    cut = EventStreamDecoder(max_frame=4096)
    list(cut.feed(data[:30]))
    with pytest.raises(ResponseRefused, match="ended inside a frame"):
        cut.finish()


CHAT_WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def test_a_chat_client_is_served_by_converse_with_a_tool_across_turns(clients: Clients) -> None:
    with bedrock_gateway(model=LLAMA) as (gw, fake):
        fake.script(
            BedrockStep(text="checking", tool={"name": "get_weather", "input": {"city": "Oslo"}}),
            BedrockStep(text="Rain in Oslo."),
        )
        chat = clients.openai(gw.url)
        messages: list[Any] = [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Oslo?"},
        ]
        first = chat.chat.completions.create(
            model="m", messages=messages, tools=[CHAT_WEATHER], max_tokens=200, temperature=0.2
        )
        [call] = first.choices[0].message.tool_calls or []
        assert call.type == "function"
        assert (call.function.name, orjson.loads(call.function.arguments)) == (
            "get_weather",
            {"city": "Oslo"},
        )
        assert first.choices[0].finish_reason == "tool_calls"
        assert first.usage is not None
        assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (14, 9)
        sent = fake.requests[-1]
        assert sent.path == f"{LLAMA_PATH}/converse"
        assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS}/")
        assert sent.json["system"] == [{"text": "Be brief."}]
        assert sent.json["inferenceConfig"] == {"maxTokens": 200, "temperature": 0.2}
        [spec] = sent.json["toolConfig"]["tools"]
        assert spec["toolSpec"]["name"] == "get_weather"
        assert spec["toolSpec"]["inputSchema"]["json"]["properties"] == {"city": {"type": "string"}}
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "rain"},
        ]
        stream = chat.chat.completions.create(
            model="m", messages=messages, tools=[CHAT_WEATHER], stream=True
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        assert text == "Rain in Oslo."
        sent = fake.requests[-1]
        assert sent.path == f"{LLAMA_PATH}/converse-stream"
        assert fake.signature_checks == 2
        turns = sent.json["messages"]
        assert [turn["role"] for turn in turns] == ["user", "assistant", "user"]
        use = next(b["toolUse"] for b in turns[1]["content"] if "toolUse" in b)
        assert (use["toolUseId"], use["input"]) == (call.id, {"city": "Oslo"})
        [result] = turns[2]["content"]
        assert result["toolResult"] == {
            "toolUseId": call.id,
            "content": [{"text": "rain"}],
            "status": "success",
        }


def test_a_converse_stream_reaches_a_claude_client_with_its_tool_call_and_usage(
    clients: Clients,
) -> None:
    with bedrock_gateway(model=LLAMA) as (gw, fake):
        fake.script(
            BedrockStep(text="let me look", tool={"name": "get_weather", "input": {"city": "Oslo"}})
        )
        with clients.anthropic(gw.url).messages.stream(
            model="m", max_tokens=50, tools=[WEATHER], messages=[{"role": "user", "content": "?"}]
        ) as stream:
            final = stream.get_final_message()
        assert final.content[0].type == "text"
        assert final.content[0].text == "let me look"
        assert final.content[1].type == "tool_use"
        assert (final.content[1].id, final.content[1].input) == ("tooluse_bdrk_1", {"city": "Oslo"})
        assert final.stop_reason == "tool_use"
        assert (final.usage.input_tokens, final.usage.output_tokens) == (14, 9)
        assert fake.requests[-1].path == f"{LLAMA_PATH}/converse-stream"
        assert "x-amzn-bedrock-accept" not in fake.requests[-1].headers


def test_a_converse_exception_before_content_fails_over(clients: Clients) -> None:
    with RunningUpstream() as backup, bedrock_gateway(backup=backup, model=LLAMA) as (gw, fake):
        fake.script(BedrockStep(exception_after=1))  # after messageStart, before any text
        raw = clients.anthropic(gw.url).messages.with_raw_response.create(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = "".join(
            e.delta.text
            for e in raw.parse()
            if e.type == "content_block_delta" and e.delta.type == "text_delta"
        )
        assert text
        assert raw.headers["x-turnout-attempts"] == "br:rate_limit -> backup:ok"


def test_a_converse_exception_mid_stream_reaches_the_client_as_an_error_event() -> None:
    with bedrock_gateway(model=LLAMA) as (gw, fake):
        fake.script(BedrockStep(text="one two three", exception_after=3))
        body = raw_stream(gw)
        assert '"text":"one"' in body
        error = orjson.loads(body.split("event: error\ndata: ")[1].split("\n")[0])
        assert error["error"]["type"] == "rate_limit_error"  # the exception, diagnosed
        assert "The provider said: Too many tokens" in error["error"]["message"]
        assert "message_stop" not in body


def test_the_fake_refuses_converse_bodies_bedrock_refuses() -> None:
    """Its checks are real: the shapes the tests above pass are the ones it takes."""
    turn = {"role": "user", "content": [{"text": "hi"}]}
    assert converse_refusal({"messages": [turn]}) is None
    assert "extraneous key [model]" in str(converse_refusal({"model": "x", "messages": [turn]}))
    assert "alternate" in str(converse_refusal({"messages": [turn, turn]}))
    orphan = {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": []}}]}
    assert "do not match" in str(converse_refusal({"messages": [orphan]}))
    typed = {"role": "user", "content": [{"type": "text", "text": "hi"}]}  # Anthropic's shape
    assert "unknown block" in str(converse_refusal({"messages": [typed]}))
