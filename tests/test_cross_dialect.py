"""Cross-dialect relaying: an Anthropic client on an OpenAI path and the other way round,
including the failover that keeps a gated Claude user working."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Any

import anthropic
import openai
import pytest

from tests.clients import Clients
from tests.fakes import Cut, Fail, Reply, RunningUpstream, ToolCall
from tests.gateway import RunningGateway, gateway_over

EXTRA_USAGE = Fail(
    400,
    '{"type":"error","error":{"type":"invalid_request_error","message":"You\'re out of extra '
    'usage. Add more at claude.ai/settings/usage and keep going."}}',
)
TOOL_ANTHROPIC: Any = {
    "name": "read_file",
    "description": "Read a file",
    "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
}
TOOL_OPENAI: Any = {
    "type": "function",
    "function": {
        "name": "read_file",
        "description": "Read a file",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
    },
}


def chain(*kinds: str) -> AbstractContextManager[tuple[RunningGateway, list[RunningUpstream]]]:
    """Route `m` over one fake upstream per kind, each sent the model `upstream-<kind>`."""
    models = [f"upstream-{kind}" for kind in kinds]
    return gateway_over(*kinds, route="m", models=models, defaults={"retries": 0})


def test_anthropic_client_is_served_by_an_openai_path(clients: Clients) -> None:
    with chain("openai") as (gw, [up]):
        up.script(Reply(text="translated answer"))
        message = clients.anthropic(gw.url).messages.create(
            model="m",
            max_tokens=64,
            system="Be brief.",
            messages=[{"role": "user", "content": "hi"}],
        )
        assert message.content[0].type == "text"
        assert message.content[0].text == "translated answer"
        assert message.model == "upstream-openai"
        sent = up.requests[-1].json
        assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
        assert sent["model"] == "upstream-openai"


def test_anthropic_client_streams_a_tool_call_from_an_openai_path(clients: Clients) -> None:
    with chain("openai") as (gw, [up]):
        up.script(Reply(tool_call=ToolCall("read_file", {"path": "a.txt"}, id="call_9")))
        with clients.anthropic(gw.url).messages.stream(
            model="m",
            max_tokens=64,
            tools=[TOOL_ANTHROPIC],
            messages=[{"role": "user", "content": "read a.txt"}],
        ) as stream:
            final = stream.get_final_message()
        calls = [(b.name, b.input, b.id) for b in final.content if b.type == "tool_use"]
        assert calls == [("read_file", {"path": "a.txt"}, "call_9")]
        assert final.stop_reason == "tool_use"
        assert up.requests[-1].json["stream_options"] == {"include_usage": True}


def test_openai_client_is_served_by_an_anthropic_path_with_tools(clients: Clients) -> None:
    with chain("anthropic") as (gw, [up]):
        up.script(Reply(tool_call=ToolCall("read_file", {"path": "b.txt"}, id="toolu_2")))
        completion = clients.openai(gw.url).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "read"}], tools=[TOOL_OPENAI]
        )
        call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
        assert (call.id, call.function.name) == ("toolu_2", "read_file")  # type: ignore[union-attr]
        assert json.loads(call.function.arguments) == {"path": "b.txt"}  # type: ignore[union-attr]
        assert completion.choices[0].finish_reason == "tool_calls"
        sent = up.requests[-1].json
        assert sent["tools"][0]["input_schema"]["properties"]["path"] == {"type": "string"}
        assert sent["max_tokens"] > 0


def test_openai_client_streams_text_from_an_anthropic_path_with_usage(clients: Clients) -> None:
    with chain("anthropic") as (gw, [up]):
        up.script(Reply(text="streamed across dialects", usage=(11, 4)))
        stream = clients.openai(gw.url).chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage = "", None
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            usage = chunk.usage or usage
        assert text == "streamed across dialects"
        assert usage is not None
        assert (usage.prompt_tokens, usage.completion_tokens) == (11, 4)


def test_gated_claude_path_fails_over_to_an_openai_relay(clients: Clients) -> None:
    with chain("anthropic", "openai") as (gw, [claude, relay]):
        claude.script(EXTRA_USAGE)
        relay.script(Reply(text="the relay answers"))
        client = clients.anthropic(gw.url)
        raw = client.messages.with_raw_response.create(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
        block = raw.parse().content[0]
        assert block.type == "text"
        assert block.text == "the relay answers"
        assert raw.headers["x-turnout-attempts"] == "p0:quota -> p1:ok"
        with client.messages.stream(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "again"}]
        ) as stream:
            assert "".join(stream.text_stream) == "the relay answers"
        assert len(claude.requests) == 1  # the gate is remembered


def test_an_upstream_error_reaches_the_client_in_its_own_dialect(clients: Clients) -> None:
    with chain("openai") as (gw, [up]):
        up.script(
            Fail(401, '{"error":{"message":"Incorrect API key provided","code":"invalid_api_key"}}')
        )
        with pytest.raises(anthropic.AuthenticationError) as caught:
            clients.anthropic(gw.url).messages.create(
                model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )
        body = caught.value.response.json()
        assert body["type"] == "error"
        assert body["error"]["type"] == "authentication_error"
        assert body["turnout"]["code"] == "invalid_api_key"


def test_a_cut_translated_stream_ends_with_an_error_event(clients: Clients) -> None:
    with chain("anthropic") as (gw, [up]):
        up.script(Cut(after_events=4, text="alpha beta gamma delta epsilon"))
        stream = clients.openai(gw.url).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        with pytest.raises(openai.APIError, match="incomplete"):
            for _ in stream:
                pass
