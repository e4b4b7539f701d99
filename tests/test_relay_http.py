"""The relay against real HTTP upstreams on 127.0.0.1, driven by the real OpenAI and Anthropic SDKs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anthropic
import openai
import pytest

from tests.clients import Clients
from tests.clock import FakeClock
from tests.fakes import Cut, Fail, Reply, Reset, RunningUpstream, Stall, ToolCall
from tests.gateway import PATH_KEY, RunningGateway, gateway_over

WEATHER_TOOL_OPENAI: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
WEATHER_TOOL_ANTHROPIC: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@contextmanager
def two_paths(
    kind: str, clock: FakeClock | None = None, **defaults: Any
) -> Iterator[tuple[RunningGateway, RunningUpstream, RunningUpstream]]:
    """A gateway whose route `m` goes to a primary upstream, then a backup, both of `kind`."""
    with gateway_over(
        kind, kind, route="m", names=["primary", "backup"], models=["model-a", "model-b"],
        defaults={"read_timeout_s": 1, **defaults}, clock=clock,
    ) as (gateway, [primary, backup]):  # fmt: skip
        yield gateway, primary, backup


def chat(client: openai.OpenAI, **extra: Any) -> Any:
    return client.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "hi"}], **extra
    )


def test_openai_pass_through_changes_only_the_model(clients: Clients) -> None:
    with two_paths("openai") as (gw, primary, _):
        primary.script(Reply(text="plain answer"))
        raw = chat(clients.openai(gw.url, key="client-key"), temperature=0.25, user="u1")
        assert raw.parse().choices[0].message.content == "plain answer"
        sent = primary.requests[-1]
        assert sent.path == "/v1/chat/completions"
        assert sent.json is not None
        assert sent.json["model"] == "model-a"
        assert (sent.json["temperature"], sent.json["user"]) == (0.25, "u1")
        assert sent.headers["authorization"] == f"Bearer {PATH_KEY}"
        assert "client-key" not in json.dumps(sent.headers)
        assert raw.headers["x-turnout-path"] == "primary/model-a"


def test_openai_streaming_with_a_tool_call(clients: Clients) -> None:
    with two_paths("openai") as (gw, primary, _):
        primary.script(Reply(tool_call=ToolCall("get_weather", {"city": "Oslo"}, id="call_1")))
        stream: Any = clients.openai(gw.url).chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "weather?"}],
            tools=[WEATHER_TOOL_OPENAI],
            stream=True,
        )
        arguments, names, finish = "", [], None
        for chunk in stream:
            for choice in chunk.choices:
                for call in choice.delta.tool_calls or []:
                    if call.function and call.function.name:
                        names.append(call.function.name)
                    if call.function and call.function.arguments:
                        arguments += call.function.arguments
                finish = choice.finish_reason or finish
        assert names == ["get_weather"]
        assert json.loads(arguments) == {"city": "Oslo"}
        assert finish == "tool_calls"
        assert primary.requests[-1].json is not None
        assert primary.requests[-1].json["tools"][0]["function"]["name"] == "get_weather"


def test_anthropic_pass_through_streaming_and_tools(clients: Clients) -> None:
    with two_paths("anthropic") as (gw, primary, _):
        primary.script(Reply(tool_call=ToolCall("get_weather", {"city": "Lima"}, id="toolu_1")))
        client = clients.anthropic(gw.url, key="client-key")
        with client.messages.stream(
            model="m",
            max_tokens=100,
            tools=[WEATHER_TOOL_ANTHROPIC],
            messages=[{"role": "user", "content": "weather?"}],
        ) as stream:
            final = stream.get_final_message()
        tool_use = [block for block in final.content if block.type == "tool_use"]
        assert [(b.name, b.input, b.id) for b in tool_use] == [
            ("get_weather", {"city": "Lima"}, "toolu_1")
        ]
        assert final.stop_reason == "tool_use"
        sent = primary.requests[-1]
        assert sent.path == "/v1/messages"
        assert sent.headers["x-api-key"] == PATH_KEY
        assert "client-key" not in json.dumps(sent.headers)
        assert "anthropic-version" in sent.headers


def test_anthropic_non_streaming_text(clients: Clients) -> None:
    with two_paths("anthropic") as (gw, primary, _):
        primary.script(Reply(text="bonjour"))
        message = clients.anthropic(gw.url).messages.create(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
        assert message.content[0].type == "text"
        assert message.content[0].text == "bonjour"


# Real provider error texts (see tests/corpus/) and what each category must do.
FAILOVER_CASES = [
    (
        "quota",
        Fail(
            429,
            '{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","code":"insufficient_quota"}}',
        ),
    ),
    (
        "auth",
        Fail(
            401,
            '{"error":{"message":"Incorrect API key provided: sk-abc.","type":"invalid_request_error","code":"invalid_api_key"}}',
        ),
    ),
    (
        "permission",
        Fail(
            403,
            '{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","type":"request_forbidden"}}',
        ),
    ),
    (
        "model_not_found",
        Fail(
            404,
            '{"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.","type":"invalid_request_error","code":"model_not_found"}}',
        ),
    ),
    ("endpoint_not_found", Fail(404, "404 page not found")),
    (
        "context_length",
        Fail(
            400,
            '{"error":{"message":"This model\'s maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}',
        ),
    ),
    (
        "overloaded",
        Fail(529, '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'),
    ),
    (
        "server_error",
        Fail(
            500,
            '{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error"}}',
        ),
    ),
    (
        "rate_limit",
        Fail(
            429,
            '{"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}}',
            {"retry-after-ms": "20"},
        ),
    ),
    ("connection", Reset()),
    ("timeout", Stall(before_first_byte_s=3, stall_s=3)),
]


@pytest.mark.parametrize(
    ("category", "failure"), FAILOVER_CASES, ids=[c for c, _ in FAILOVER_CASES]
)
def test_each_failing_category_fails_over(clients: Clients, category: str, failure: Any) -> None:
    with two_paths("openai", retries=1) as (gw, primary, backup):
        primary.script(failure)
        backup.script(Reply(text="served by backup"))
        raw = chat(clients.openai(gw.url))
        assert raw.parse().choices[0].message.content == "served by backup"
        trail = raw.headers["x-turnout-attempts"]
        assert trail.endswith(f"primary:{category} -> backup:ok"), trail
        retried = category in {"overloaded", "server_error", "rate_limit", "connection", "timeout"}
        assert trail.count(f"primary:{category}") == (2 if retried else 1)


def test_invalid_request_is_answered_not_failed_over(clients: Clients) -> None:
    with two_paths("openai") as (gw, primary, backup):
        primary.script(
            Fail(
                400,
                '{"error":{"message":"Unrecognized request argument supplied: foo","type":"invalid_request_error"}}',
            )
        )
        with pytest.raises(openai.BadRequestError) as caught:
            chat(clients.openai(gw.url))
        assert "Unrecognized request argument" in str(caught.value.message)
        assert backup.requests == []


def test_a_gated_path_is_skipped_without_a_call_then_probed_once(clients: Clients) -> None:
    gate = Fail(
        400,
        '{"type":"error","error":{"type":"invalid_request_error","message":"You\'re out of extra usage. Add more at claude.ai/settings/usage and keep going."}}',
    )
    clock = FakeClock()
    with two_paths("anthropic", clock, gate_s=0.4) as (gw, primary, backup):
        primary.script(gate, Reply(text="primary recovered"))
        client = clients.anthropic(gw.url)

        def ask() -> tuple[str, str]:
            raw = client.messages.with_raw_response.create(
                model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
            block = raw.parse().content[0]
            return (block.text if block.type == "text" else ""), raw.headers["x-turnout-attempts"]

        assert ask()[1] == "primary:quota -> backup:ok"
        calls = len(primary.requests)
        clock.advance(0.39)
        assert ask()[1] == "primary:skipped(quota) -> backup:ok"
        assert len(primary.requests) == calls  # no call to the gated path
        clock.advance(0.02)  # the gate is over: one probe
        assert ask() == ("primary recovered", "primary:ok")
        assert len(backup.requests) == 2


def test_retry_after_is_honoured_before_the_retry(clients: Clients) -> None:
    clock = FakeClock()
    with two_paths("openai", clock) as (gw, primary, _):
        primary.script(
            Fail(
                429,
                '{"error":{"type":"rate_limit_error","message":"slow down"}}',
                {"retry-after-ms": "300"},
            ),
            Reply(text="after waiting"),
        )
        raw = chat(clients.openai(gw.url))
        assert raw.parse().choices[0].message.content == "after waiting"
        assert raw.headers["x-turnout-attempts"] == "primary:rate_limit -> primary:ok"
        assert clock.slept == [pytest.approx(0.3)]  # the wait the provider asked for, not backoff


def test_a_cut_stream_ends_with_an_error_event_in_the_anthropic_dialect(clients: Clients) -> None:
    # No retries: the path that broke has none left to continue with, so only the backup may.
    with two_paths("anthropic", retries=0) as (gw, primary, backup):
        primary.script(Cut(after_events=5, text="one two three four five six seven"))
        backup.script(Fail(500, '{"type":"error","error":{"type":"api_error","message":"boom"}}'))
        client = clients.anthropic(gw.url)
        with (
            pytest.raises(anthropic.APIStatusError) as caught,
            client.messages.stream(
                model="m", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
            ) as stream,
        ):
            for _ in stream.text_stream:
                pass
        assert "incomplete" in str(caught.value)
        # Bytes had reached the client: the backup was only asked to continue, with the text
        # so far as a prefill, and it could not.
        [continuation] = backup.requests
        assert continuation.json["messages"][-1] == {"role": "assistant", "content": "one two"}


def test_every_path_down_lists_both_with_advice(clients: Clients) -> None:
    with two_paths("openai", retries=0) as (gw, primary, backup):
        primary.script(
            Fail(402, '{"error":{"message":"Insufficient Balance","type":"unknown_error"}}')
        )
        backup.script(
            Fail(
                401,
                '{"error":{"message":"Authentication Fails (no such user)","type":"authentication_error"}}',
            )
        )
        with pytest.raises(openai.APIStatusError) as caught:
            chat(clients.openai(gw.url))
        message = str(caught.value.message)
        assert "primary/model-a: quota (insufficient_balance)" in message
        assert "backup/model-b: auth (invalid_api_key)" in message
        assert caught.value.response.headers["x-should-retry"] == "false"
        assert "sk-primary-secret" not in caught.value.response.text
        assert "sk-backup-secret" not in caught.value.response.text
