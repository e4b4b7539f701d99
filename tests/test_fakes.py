"""The fake upstream, checked with the real OpenAI and Anthropic SDKs pointed straight at it.

If the SDKs accept what the fake sends, the gateway's tests that use the fake
exercise real wire formats; if the SDKs fail the way they would against a real
provider, the fake's failure modes are realistic too.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from tests.fakes import (
    Cut,
    Fail,
    FakeUpstream,
    Malformed,
    Reply,
    Reset,
    RunningUpstream,
    Stall,
    ToolCall,
)
from tests.fakes.fixtures import upstream_fixture  # noqa: F401  (registers `upstream`)
from tests.waiting import wait_until

HI: list[Any] = [{"role": "user", "content": "hi"}]  # a message both dialects accept
WEATHER = ToolCall("get_weather", {"city": "Oslo", "unit": "celsius", "days": 3})
OVERLOADED = (
    '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},'
    '"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}'
)
QUOTA = (
    '{"error": {"message": "You exceeded your current quota, please check your plan and '
    'billing details.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}'
)


@pytest.fixture
def oai(upstream: RunningUpstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=upstream.url + "/v1", api_key="test", max_retries=0) as client:
        yield client


@pytest.fixture
def claude(upstream: RunningUpstream) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=upstream.url, api_key="test", max_retries=0) as client:
        yield client


def chat(client: openai.OpenAI, **kwargs):
    return client.chat.completions.create(model="gpt-test", messages=HI, **kwargs)


def message(client: anthropic.Anthropic, **kwargs):
    return client.messages.create(model="claude-test", max_tokens=64, messages=HI, **kwargs)


# Successful replies


def test_openai_text_reply(oai) -> None:
    completion = chat(oai)
    assert completion.choices[0].message.content == "Hello from the fake upstream."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-test"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (10, 5)


def test_openai_text_stream_one_chunk_a_word_then_usage(oai) -> None:
    chunks = list(chat(oai, stream=True, stream_options={"include_usage": True}))
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert pieces == ["Hello", " from", " the", " fake", " upstream."]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 15


def test_openai_stream_has_no_usage_chunk_unless_asked(oai) -> None:
    chunks = list(chat(oai, stream=True))
    assert all(c.choices and c.usage is None for c in chunks)


def test_anthropic_text_reply(claude) -> None:
    reply = message(claude)
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "Hello from the fake upstream."
    assert reply.stop_reason == "end_turn"
    assert reply.model == "claude-test"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (10, 5)


def test_anthropic_text_stream(claude) -> None:
    with claude.messages.stream(model="claude-test", max_tokens=64, messages=HI) as stream:
        assert "".join(stream.text_stream) == "Hello from the fake upstream."
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 5


def test_anthropic_stream_event_order(claude) -> None:
    kinds = [event.type for event in message(claude, stream=True)]
    assert kinds[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]


def test_openai_tool_call(upstream, oai) -> None:
    upstream.script(Reply(tool_call=WEATHER))
    choice = chat(oai).choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"city":"Oslo","unit":"celsius","days":3}'


def test_openai_tool_call_streamed_in_fragments(upstream, oai) -> None:
    upstream.script(Reply(tool_call=ToolCall("get_weather", WEATHER.arguments, id="call_42")))
    with oai.chat.completions.stream(model="gpt-test", messages=HI) as stream:
        fragments = [e for e in stream if e.type == "tool_calls.function.arguments.delta"]
        final = stream.get_final_completion()
    assert len(fragments) > 2
    call = final.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name) == ("call_42", "get_weather")
    assert json.loads(call.function.arguments) == WEATHER.arguments
    assert final.choices[0].finish_reason == "tool_calls"


def test_anthropic_tool_use(upstream, claude) -> None:
    upstream.script(Reply(tool_call=WEATHER))
    reply = message(claude)
    assert reply.stop_reason == "tool_use"
    [block] = reply.content
    assert block.type == "tool_use"
    assert (block.name, block.input) == ("get_weather", WEATHER.arguments)
    assert block.id.startswith("toolu_")


def test_anthropic_tool_use_streamed_in_fragments(upstream, claude) -> None:
    upstream.script(Reply(text="Checking.", tool_call=WEATHER))
    with claude.messages.stream(model="claude-test", max_tokens=64, messages=HI) as stream:
        partials = [e for e in stream if e.type == "input_json"]
        final = stream.get_final_message()
    assert len(partials) > 2
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[1].input == WEATHER.arguments
    assert final.stop_reason == "tool_use"


def test_reasoning_in_both_dialects(upstream, oai, claude) -> None:
    upstream.script(Reply(reasoning="Think it through.", model="served-model"))
    completion = chat(oai)
    assert completion.choices[0].message.reasoning_content == "Think it through."
    assert completion.model == "served-model"
    with claude.messages.stream(model="claude-test", max_tokens=64, messages=HI) as stream:
        thoughts = "".join(e.thinking for e in stream if e.type == "thinking")
        final = stream.get_final_message()
    assert thoughts == "Think it through."
    assert final.content[0].type == "thinking"
    assert final.content[0].signature


def test_slow_reply_still_arrives(upstream, oai) -> None:
    upstream.script(Reply(first_byte_delay_s=0.3))
    started = time.monotonic()
    assert chat(oai).choices[0].message.content
    assert time.monotonic() - started >= 0.3


# Failures


def test_anthropic_fail_carries_status_and_exact_body(upstream, claude) -> None:
    upstream.script(Fail(529, OVERLOADED, {"retry-after": "7"}))
    with pytest.raises(anthropic.APIStatusError) as caught:
        message(claude)
    assert caught.value.status_code == 529
    assert caught.value.response.text == OVERLOADED
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.response.headers["content-type"] == "application/json"


def test_openai_fail_carries_status_and_exact_body(upstream, oai) -> None:
    upstream.script(Fail(429, QUOTA))
    with pytest.raises(openai.RateLimitError) as caught:
        chat(oai, stream=True)
    assert caught.value.status_code == 429
    assert caught.value.response.text == QUOTA
    assert caught.value.code == "insufficient_quota"


def test_fail_with_a_plain_text_body(upstream, oai) -> None:
    upstream.script(Fail(502, "<html>Bad Gateway</html>"))
    with pytest.raises(openai.APIStatusError) as caught:
        chat(oai)
    assert caught.value.status_code == 502
    assert caught.value.response.text == "<html>Bad Gateway</html>"


def test_openai_cut_stream_raises_after_the_first_events(upstream, oai) -> None:
    upstream.script(Cut(after_events=3))
    seen = []
    with pytest.raises(openai.APIConnectionError):
        seen.extend(chat(oai, stream=True))
    assert [c.choices[0].delta.content for c in seen] == ["", "Hello", " from"]


def test_anthropic_cut_stream_raises(upstream, claude) -> None:
    upstream.script(Cut(after_events=4))
    # Mid-stream, this SDK lets the transport's error through unwrapped.
    with pytest.raises((anthropic.APIConnectionError, httpx2.RemoteProtocolError)):
        list(message(claude, stream=True))


def test_cut_body_of_a_non_streaming_reply(upstream, oai, claude) -> None:
    upstream.script(Cut(after_events=0))
    with pytest.raises(openai.APIConnectionError):
        chat(oai)
    with pytest.raises(anthropic.APIConnectionError):
        message(claude)


def test_reset_is_a_connection_error(upstream, oai, claude) -> None:
    upstream.script(Reset())
    with pytest.raises(openai.APIConnectionError):
        chat(oai)
    with pytest.raises(anthropic.APIConnectionError):
        message(claude, stream=True)


def test_stall_before_first_byte_times_out(upstream, oai, claude) -> None:
    upstream.script(Stall(before_first_byte_s=5))
    with pytest.raises(openai.APITimeoutError):  # the stall outlasts the client's timeout
        chat(oai.with_options(timeout=0.5))
    with pytest.raises(anthropic.APITimeoutError):
        message(claude.with_options(timeout=0.5))


def test_stall_mid_stream_then_completes(upstream, oai) -> None:
    upstream.script(Stall(after_events=2, stall_s=0.3))
    started = time.monotonic()
    text = "".join(c.choices[0].delta.content or "" for c in chat(oai, stream=True))
    assert text == "Hello from the fake upstream."
    assert time.monotonic() - started >= 0.3


def test_stall_mid_stream_trips_a_read_timeout(upstream, oai) -> None:
    upstream.script(Stall(after_events=2, stall_s=5))
    stream = chat(oai.with_options(timeout=0.4), stream=True)
    with stream, pytest.raises(openai.APITimeoutError):
        list(stream)


def test_malformed_json_body(upstream, oai) -> None:
    upstream.script(Malformed("json"))
    with pytest.raises(ValueError, match="Expecting"):
        chat(oai)


def test_malformed_sse_event(upstream, claude) -> None:
    upstream.script(Malformed("sse"))
    with pytest.raises(ValueError, match="string"):
        list(message(claude, stream=True))


# Scripting, recording, lifecycle


def test_steps_are_used_in_order_and_the_last_repeats(upstream, oai) -> None:
    upstream.script(Fail(500, "first"), Reply(text="second"), Reply(text="again"))
    with pytest.raises(openai.InternalServerError):
        chat(oai)
    assert [chat(oai).choices[0].message.content for _ in range(3)] == ["second", "again", "again"]
    upstream.script()
    assert chat(oai).choices[0].message.content == "Hello from the fake upstream."


def test_requests_are_recorded(upstream, oai, claude) -> None:
    chat(oai, stream=True)
    message(claude)
    first, second = upstream.requests
    assert (first.method, first.path) == ("POST", "/v1/chat/completions")
    assert first.headers["authorization"] == "Bearer test"
    assert first.json["stream"] is True
    assert second.path == "/v1/messages"
    # This SDK version sends the key as a bearer token, not as x-api-key.
    assert (
        second.headers.get("authorization") == "Bearer test"
        or second.headers["x-api-key"] == "test"
    )
    assert "anthropic-version" in second.headers
    assert second.json["messages"] == HI
    assert second.body.startswith(b"{")


def test_models_and_token_counting(upstream, oai, claude) -> None:
    upstream.models[:] = ["m-one", "m-two"]
    assert [m.id for m in oai.models.list()] == ["m-one", "m-two"]
    assert [m.id for m in claude.models.list()] == ["m-one", "m-two"]
    counted = claude.messages.count_tokens(model="claude-test", messages=HI)
    assert counted.input_tokens > 0


def test_path_without_v1_speaks_openai(upstream) -> None:
    with openai.OpenAI(base_url=upstream.url, api_key="test", max_retries=0) as client:
        assert chat(client).choices[0].message.content
    assert upstream.requests[-1].path == "/chat/completions"


#: A stall far longer than any test run: stopping must not wait for it. Each stop below is
#: bounded at a tenth of it, a bound that only a stop waiting out the stall can reach.
ENDLESS_S = 600
STOPS_WITHIN_S = ENDLESS_S / 10


def test_async_fake_stops_promptly_despite_a_stalled_handler() -> None:
    async def scenario() -> None:
        async with FakeUpstream() as fake:
            fake.script(Stall(after_events=1, stall_s=ENDLESS_S))
            client = openai.AsyncOpenAI(base_url=fake.url + "/v1", api_key="test", max_retries=0)
            async with client:
                stream = await client.chat.completions.create(
                    model="gpt-test", messages=HI, stream=True
                )
                await anext(aiter(stream))
                await asyncio.wait_for(fake.stop(), STOPS_WITHIN_S)
                with pytest.raises(openai.APIConnectionError):
                    [chunk async for chunk in stream]

    asyncio.run(scenario())


def test_running_upstream_closes_promptly_while_a_request_hangs() -> None:
    running = RunningUpstream()
    running.script(Stall(before_first_byte_s=ENDLESS_S))
    errors: list[Exception] = []

    def call() -> None:
        with openai.OpenAI(base_url=running.url + "/v1", api_key="test", max_retries=0) as client:
            try:
                chat(client.with_options(timeout=STOPS_WITHIN_S * 2))
            except openai.APIConnectionError as exc:
                errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: running.requests, what="the request arriving")

    def close_twice() -> None:  # a second close is harmless
        running.close()
        running.close()

    closer = threading.Thread(target=close_twice)
    closer.start()
    closer.join(STOPS_WITHIN_S)
    assert not closer.is_alive(), "close() waited for the stalled handler"
    caller.join(STOPS_WITHIN_S)
    assert len(errors) == 1
