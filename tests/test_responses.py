"""The OpenAI Responses API as a client wire, with the `openai` SDK's `responses` client:
served by an OpenAI Chat path and an Anthropic path through the hub, and by a Responses path
as same-wire passthrough; and a Responses path serving Chat and Anthropic clients."""

from __future__ import annotations

import json
import socket
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, cast

import openai
import pytest
import yaml
from aiohttp import web

from tests.clients import Clients
from tests.fakes import (
    DEFAULT_TEXT,
    Cut,
    ErrorAfterHandshake,
    Reply,
    RunningUpstream,
    ToolCall,
)
from tests.fakes.anthropic_wire import SIGNATURE
from tests.fakes.hostile import HostileUpstream
from tests.gateway import (
    PATH_KEY,
    RunningGateway,
    gateway_over,
    provider_entry,
    request,
    running_gateway,
)

WIRES = ["openai", "anthropic", "responses"]
READ_FILE: Any = {
    "type": "function",
    "name": "read_file",
    "description": "Read a file",
    "parameters": {
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
    },
}
ANSWER_SCHEMA: Any = {
    "type": "json_schema",
    "name": "answer",
    "schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
    "strict": True,
}


def chain(
    *kinds: str, **settings: object
) -> AbstractContextManager[tuple[RunningGateway, list[RunningUpstream]]]:
    """Route `m` over one fake upstream per kind, each sent the model `upstream-<kind>`."""
    models = [f"upstream-{kind}" for kind in kinds]
    return gateway_over(*kinds, route="m", models=models, defaults={"retries": 0, **settings})


def test_the_fake_responses_upstream_satisfies_the_sdk(clients: Clients) -> None:
    with RunningUpstream() as up:
        client = clients.openai(up.url)
        assert client.responses.create(model="x", input="hi").output_text == DEFAULT_TEXT
        events = list(client.responses.create(model="x", input="hi", stream=True))
        assert events[-1].type == "response.completed"


@pytest.mark.parametrize("kind", WIRES)
def test_a_text_answer_through_every_wire(clients: Clients, kind: str) -> None:
    with chain(kind) as (gw, [up]):
        up.script(Reply(text=f"answer from {kind}", usage=(12, 3)))
        response = clients.openai(gw.url).responses.create(
            model="m", instructions="Be brief.", input="hi", max_output_tokens=50
        )
        assert response.output_text == f"answer from {kind}"
        assert response.status == "completed"
        assert response.usage is not None
        assert (response.usage.input_tokens, response.usage.output_tokens) == (12, 3)
        sent = up.requests[-1].json
        assert sent["model"] == f"upstream-{kind}"
        if kind == "openai":
            assert sent["messages"] == [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
            ]
            assert sent["max_tokens"] == 50
        elif kind == "anthropic":
            assert sent["system"] == "Be brief."
            assert sent["messages"] == [{"role": "user", "content": "hi"}]
            assert sent["max_tokens"] == 50
        else:  # same wire: the client's own request, only the model changed
            assert sent == {
                "model": "upstream-responses",
                "instructions": "Be brief.",
                "input": "hi",
                "max_output_tokens": 50,
            }


@pytest.mark.parametrize("kind", WIRES)
def test_a_stream_is_the_documented_event_sequence(clients: Clients, kind: str) -> None:
    with chain(kind) as (gw, [up]):
        up.script(Reply(text="streamed through the hub", usage=(7, 4)))
        events = list(clients.openai(gw.url).responses.create(model="m", input="hi", stream=True))
    types = [event.type for event in events]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert types[4 : 4 + len(deltas)] == ["response.output_text.delta"] * len(deltas)
    added = events[2]
    assert added.type == "response.output_item.added"
    assert {(d.item_id, d.output_index, d.content_index) for d in deltas} == {(added.item.id, 0, 0)}
    assert "".join(d.delta for d in deltas) == "streamed through the hub"
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == "streamed through the hub"
    assert completed.response.usage is not None
    assert completed.response.usage.output_tokens == 4


def tool_result_sent(kind: str, sent: dict[str, Any]) -> Any:
    """The tool output the upstream received for call_7, in its own wire."""
    if kind == "openai":
        return next(m for m in sent["messages"] if m["role"] == "tool")
    if kind == "anthropic":
        return sent["messages"][-1]["content"][0]
    return next(i for i in sent["input"] if i.get("type") == "function_call_output")


@pytest.mark.parametrize("kind", WIRES)
def test_a_function_call_round_trip(clients: Clients, kind: str) -> None:
    with chain(kind) as (gw, [up]):
        up.script(
            Reply(tool_call=ToolCall("read_file", {"path": "a.txt"}, id="call_7")),
            Reply(text="the file says hi"),
        )
        client = clients.openai(gw.url)
        question: Any = {"role": "user", "content": "read a.txt"}
        with client.responses.stream(
            model="m", input=[question], tools=[READ_FILE], parallel_tool_calls=False
        ) as stream:
            deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
            first = stream.get_final_response()
        [call] = [item for item in first.output if item.type == "function_call"]
        assert (call.name, call.call_id) == ("read_file", "call_7")
        assert json.loads(call.arguments) == json.loads("".join(deltas)) == {"path": "a.txt"}
        asked = up.requests[0].json
        if kind == "anthropic":
            assert asked["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
        else:
            assert asked["parallel_tool_calls"] is False
        output: Any = {"type": "function_call_output", "call_id": "call_7", "output": "hi"}
        second = client.responses.create(
            model="m",
            input=[question, cast(Any, call.model_dump(exclude_none=True)), output],
            tools=[READ_FILE],
        )
        assert second.output_text == "the file says hi"
        result = tool_result_sent(kind, up.requests[-1].json)
        if kind == "openai":
            assert result == {"role": "tool", "tool_call_id": "call_7", "content": "hi"}
        elif kind == "anthropic":
            assert result == {"type": "tool_result", "tool_use_id": "call_7", "content": "hi"}
        else:
            assert result == output


def test_structured_output_reaches_a_chat_path_as_response_format(clients: Clients) -> None:
    with chain("openai") as (gw, [up]):
        up.script(Reply(text='{"n": 3}'))
        response = clients.openai(gw.url).responses.create(
            model="m", input="how many?", text={"format": ANSWER_SCHEMA}
        )
        assert json.loads(response.output_text) == {"n": 3}
        schema = {k: v for k, v in ANSWER_SCHEMA.items() if k != "type"}
        assert up.requests[-1].json["response_format"] == {
            "type": "json_schema",
            "json_schema": schema,
        }


def test_a_path_that_cannot_carry_structured_output_is_refused_by_name(clients: Clients) -> None:
    with chain("anthropic") as (gw, [up]):
        with pytest.raises(openai.BadRequestError) as caught:
            clients.openai(gw.url).responses.create(
                model="m", input="how many?", text={"format": ANSWER_SCHEMA}
            )
        error = caught.value.response.json()["error"]
        assert error["code"] == "cannot_carry"
        assert "text.format" in error["message"]
        assert "allow_drop" in error["message"]
        assert up.requests == []


def test_a_route_that_allows_dropping_sends_it_without(clients: Clients) -> None:
    with chain("anthropic", allow_drop=True) as (gw, [up]):
        up.script(Reply(text="3"))
        response = clients.openai(gw.url).responses.create(
            model="m", input="how many?", text={"format": ANSWER_SCHEMA}
        )
        assert response.output_text == "3"
        assert "output_format" not in up.requests[-1].json


def test_anthropic_thinking_comes_back_signed_through_a_responses_client(
    clients: Clients,
) -> None:
    with chain("anthropic") as (gw, [up]):
        up.script(Reply(text="21", reasoning="1071 = 2 x 462 + 147"), Reply(text="yes"))
        client = clients.openai(gw.url)
        first = client.responses.create(
            model="m",
            input="gcd(1071, 462)?",
            reasoning={"effort": "medium"},
            include=["reasoning.encrypted_content"],
            store=False,
        )
        assert up.requests[0].json["thinking"] == {"type": "enabled", "budget_tokens": 8192}
        [reasoning] = [item for item in first.output if item.type == "reasoning"]
        assert [s.text for s in reasoning.summary] == ["1071 = 2 x 462 + 147"]
        assert reasoning.encrypted_content
        history: list[Any] = [item.model_dump(exclude_none=True) for item in first.output]
        client.responses.create(
            model="m",
            input=[
                {"role": "user", "content": "gcd(1071, 462)?"},
                *history,
                {"role": "user", "content": "sure?"},
            ],
            reasoning={"effort": "medium"},
        )
        assistant = up.requests[-1].json["messages"][1]
        assert assistant["role"] == "assistant"
        assert assistant["content"][0] == {
            "type": "thinking",
            "thinking": "1071 = 2 x 462 + 147",
            "signature": SIGNATURE,
        }
        assert assistant["content"][1] == {"type": "text", "text": "21"}


def test_stored_state_is_refused_with_what_to_send_instead(clients: Clients) -> None:
    with chain("openai") as (gw, [up]):
        with pytest.raises(openai.BadRequestError) as caught:
            clients.openai(gw.url).responses.create(
                model="m", input="and then?", previous_response_id="resp_123"
            )
        error = caught.value.response.json()["error"]
        assert "previous_response_id" in error["message"]
        assert '"store": false' in error["message"]
        assert up.requests == []


def test_the_openai_prefix_serves_responses_too() -> None:
    with chain("openai") as (gw, [up]):
        up.script(Reply(text="prefixed"))
        reply = request(gw.url, "POST", "/openai/v1/responses", {"model": "m", "input": "hi"})
        assert reply.status == 200
        body: Any = reply.json()
        assert body["output"][0]["content"][0]["text"] == "prefixed"


@pytest.mark.parametrize("gated_wire", WIRES)
def test_a_quota_error_after_the_handshake_still_fails_over(
    clients: Clients, gated_wire: str
) -> None:
    """A 200 stream that opens (a role chunk, message_start, response.created) and then says
    quota is nothing the client has seen yet: the next path answers."""
    with chain(gated_wire, "openai") as (gw, [gated, spare]):
        gated.script(ErrorAfterHandshake())
        spare.script(Reply(text="the spare path answers"))
        events = list(clients.openai(gw.url).responses.create(model="m", input="hi", stream=True))
        assert events[-1].type == "response.completed"
        assert events[-1].response.output_text == "the spare path answers"
        assert [e.type for e in events].count("response.created") == 1
        assert len(gated.requests) == 1


def test_a_broken_stream_ends_in_a_failed_response(clients: Clients) -> None:
    with chain("openai") as (gw, [up]):
        up.script(Cut(after_events=4, text="alpha beta gamma delta epsilon"))
        events = list(clients.openai(gw.url).responses.create(model="m", input="hi", stream=True))
        assert [e.type for e in events][-2:] == ["error", "response.failed"]
        assert "incomplete" in events[-1].response.error.message  # type: ignore[union-attr]


TOOL_OPENAI: Any = {
    "type": "function",
    "function": {k: v for k, v in READ_FILE.items() if k != "type"},
}


def test_a_chat_client_is_served_by_a_responses_path(clients: Clients) -> None:
    with chain("responses") as (gw, [up]):
        up.script(Reply(tool_call=ToolCall("read_file", {"path": "b.txt"}, id="call_2")))
        client = clients.openai(gw.url)
        completion = client.chat.completions.create(
            model="m",
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "r"}],
            tools=[TOOL_OPENAI],
        )
        call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
        assert (call.id, call.function.name) == ("call_2", "read_file")  # type: ignore[union-attr]
        assert completion.choices[0].finish_reason == "tool_calls"
        sent = up.requests[-1].json
        assert sent["instructions"] == "Be brief."
        assert sent["tools"] == [READ_FILE]
        assert sent["store"] is False
        up.script(Reply(text="streamed from responses", usage=(5, 2)))
        stream = client.chat.completions.create(
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
        assert text == "streamed from responses"
        assert usage is not None
        assert (usage.prompt_tokens, usage.completion_tokens) == (5, 2)


def test_an_anthropic_client_streams_from_a_responses_path(clients: Clients) -> None:
    with chain("responses") as (gw, [up]):
        up.script(Reply(text="from the responses wire"))
        with clients.anthropic(gw.url).messages.stream(
            model="m", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            assert "".join(stream.text_stream) == "from the responses wire"
            assert stream.get_final_message().stop_reason == "end_turn"


def test_a_websocket_upgrade_is_refused_so_codex_uses_http_at_once() -> None:
    with chain("openai") as (gw, _):
        host, port = gw.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                b"GET /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
            )
            head = sock.recv(4096).split(b"\r\n", 1)[0]
        assert head.startswith(b"HTTP/1.1 426")


def test_the_mock_provider_answers_a_responses_client_in_its_wire(clients: Clients) -> None:
    config = "providers: {demo: {kind: mock, script: [{reply: 'mock says hi'}]}}\n"
    with running_gateway(config + "routes: {m: [demo/x]}\nledger: 'off'\n") as gw:
        client = clients.openai(gw.url)
        assert client.responses.create(model="m", input="hi").output_text == "mock says hi"
        events = list(client.responses.create(model="m", input="hi", stream=True))
        assert events[-1].type == "response.completed"
        assert events[-1].response.output_text == "mock says hi"


PUBLISHED = Path(__file__).parent / "data" / "streams" / "responses_text.txt"


async def _published_stream(request: web.Request, up: HostileUpstream) -> web.StreamResponse:
    """OpenAI's published streaming example, as an upstream would send it."""
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    await response.write(PUBLISHED.read_bytes())
    await response.write_eof()
    return response


def test_the_published_responses_stream_passes_through_to_a_responses_client(
    clients: Clients,
) -> None:
    with HostileUpstream(_published_stream) as up:
        entry = provider_entry("responses", up.url)
        config = {"providers": {"oai": entry}, "routes": {"m": ["oai/gpt-4.1"]}}
        with running_gateway(yaml.safe_dump(config), env={"KEY": PATH_KEY}) as gw:
            stream = clients.openai(gw.url).responses.create(model="m", input="Hello!", stream=True)
            events = list(stream)
    assert [event.type for event in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    completed = events[-1]
    assert isinstance(completed, openai.types.responses.ResponseCompletedEvent)
    assert completed.response.output_text == "Hi there! How can I assist you today?"
    assert completed.response.usage is not None
    assert (completed.response.usage.input_tokens, completed.response.usage.output_tokens) == (
        37,
        11,
    )
    [sent] = up.requests
    assert sent.path == "/v1/responses"
