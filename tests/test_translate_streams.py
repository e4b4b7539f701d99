"""Streams translated one upstream event at a time, replayed from published examples.

The captured streams in tests/data/streams/ are the examples of Anthropic's streaming docs and
OpenAI's API reference and function calling guide; their first lines say which.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from turnout.wire import hub
from turnout.wire.chat import CHAT
from turnout.wire.codec import UpstreamStreamError
from turnout.wire.messages import MESSAGES
from turnout.wire.messages.whole import write_usage
from turnout.wire.sse import Event
from turnout.wire.streams import StreamTranslator
from turnout.wire.translate import translate_stream


class Replay:
    """A stream translator fed (event name, data) pairs as the captured streams hold them."""

    def __init__(self, translator: StreamTranslator) -> None:
        self.translator = translator

    def feed(self, *event: str) -> list[bytes]:
        name, data = event if len(event) == 2 else ("", event[0])
        lines = ([f"event: {name}"] if name else []) + [f"data: {data}"]
        raw = ("\n".join(lines) + "\n\n").encode()
        return self.translator.feed(Event(raw, name, data))

    def finish(self) -> list[bytes]:
        return self.translator.finish()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.translator, name)


def AnthropicToOpenAIStream(model: str, include_usage: bool) -> Replay:
    request = hub.Request(model=model, messages=[], include_usage=include_usage)
    return Replay(translate_stream(MESSAGES, CHAT, model, request))


def OpenAIToAnthropicStream(model: str) -> Replay:
    return Replay(translate_stream(CHAT, MESSAGES, model))


STREAMS = Path(__file__).parent / "data" / "streams"
ANTHROPIC_STREAMS = ["anthropic_text.txt", "anthropic_tool_use.txt", "anthropic_thinking.txt"]
OPENAI_STREAMS = ["openai_text.txt", "openai_tool_call.txt"]


# --- reading and checking streams ------------------------------------------------------


def parse_sse(text: str) -> list[tuple[str, str]]:
    """(event name, data) for each event; comment lines (`: …`) are skipped, as SSE says."""
    events = []
    for raw in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "", []
        for line in raw.split("\n"):
            field, _, value = line.partition(":")
            if field == "event":
                name = value.strip()
            elif field == "data":
                data.append(value.removeprefix(" "))
        if name or data:
            events.append((name, "\n".join(data)))
    return events


def captured(name: str) -> list[tuple[str, str]]:
    return parse_sse((STREAMS / name).read_text(encoding="utf-8"))


def replay_anthropic(name: str, include_usage: bool = True) -> tuple[list[bytes], Replay]:
    stream = AnthropicToOpenAIStream("gpt-x", include_usage=include_usage)
    out = [chunk for event, data in captured(name) for chunk in stream.feed(event, data)]
    return out, stream


def replay_openai(name: str) -> tuple[list[bytes], Replay]:
    stream = OpenAIToAnthropicStream("claude-x")
    out = [event for _, data in captured(name) for event in stream.feed(data)]
    return out, stream


def anthropic_events(out: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    """Each output is one whole event, named as its data's type."""
    events = []
    for raw in out:
        assert raw.endswith(b"\n\n")
        assert raw.count(b"\n\n") == 1
        ((name, data),) = parse_sse(raw.decode())
        payload = orjson.loads(data)
        assert payload["type"] == name
        events.append((name, payload))
    return events


def assert_anthropic_protocol(events: list[tuple[str, dict[str, Any]]]) -> None:
    names = [name for name, _ in events]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    open_index, next_index = None, 0
    for name, payload in events:
        if name == "content_block_start":
            assert open_index is None
            assert payload["index"] == next_index
            open_index, next_index = payload["index"], next_index + 1
        elif name in ("content_block_delta", "content_block_stop"):
            assert payload["index"] == open_index
            if name == "content_block_stop":
                open_index = None
    assert open_index is None


def reassemble_anthropic(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    stop = None
    for name, payload in events:
        if name == "content_block_start":
            blocks.append({**payload["content_block"], "partial_json": ""})
        elif name == "content_block_delta":
            delta, block = payload["delta"], blocks[payload["index"]]
            for field in ("text", "thinking", "partial_json"):
                if field in delta:
                    block[field] += delta[field]
        elif name == "message_delta":
            stop = payload
    for block in blocks:
        if block["type"] == "tool_use":
            block["input"] = orjson.loads(block.pop("partial_json") or "{}")
        else:
            del block["partial_json"]
    return {"content": blocks, "message_delta": stop}


def openai_chunks(out: list[bytes]) -> list[dict[str, Any]]:
    assert out[-1] == b"data: [DONE]\n\n"
    chunks = []
    for raw in out[:-1]:
        assert raw.startswith(b"data: ")
        assert raw.endswith(b"\n\n")
        chunks.append(orjson.loads(raw[len(b"data: ") :]))
    assert len({chunk["id"] for chunk in chunks}) == 1
    return chunks


def reassemble_openai(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    text, reasoning, finish, usage = "", "", [], None
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            delta = choice["delta"]
            text += delta.get("content") or ""
            reasoning += delta.get("reasoning_content") or ""
            for call in delta.get("tool_calls", []):
                entry = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                entry["id"] += call.get("id") or ""
                entry["name"] += (call.get("function") or {}).get("name") or ""
                entry["arguments"] += (call.get("function") or {}).get("arguments") or ""
            if choice["finish_reason"]:
                finish.append(choice["finish_reason"])
    return {
        "content": text,
        "reasoning": reasoning,
        "calls": calls,
        "finish": finish,
        "usage": usage,
    }


def upstream_text(name: str, delta_type: str, field: str) -> str:
    parts = [orjson.loads(data) for _, data in captured(name)]
    return "".join(p["delta"][field] for p in parts if p.get("delta", {}).get("type") == delta_type)


# --- Anthropic upstream -> OpenAI client -----------------------------------------------


def test_a_text_stream_becomes_chunks_then_usage_then_done() -> None:
    out, stream = replay_anthropic("anthropic_text.txt")
    chunks = openai_chunks(out)
    result = reassemble_openai(chunks)
    assert result["content"] == "Hello!"
    assert result["finish"] == ["stop"]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[0]["id"] == "chatcmpl-msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"
    assert chunks[0]["model"] == "gpt-x"
    # The last chunk before [DONE] carries usage and no choices, as stream_options asks.
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 25,
        "completion_tokens": 15,
        "total_tokens": 40,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    assert stream.finished
    assert stream.usage.input == 25


def test_without_include_usage_there_is_no_usage_chunk() -> None:
    chunks = openai_chunks(replay_anthropic("anthropic_text.txt", include_usage=False)[0])
    assert all("usage" not in chunk for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_a_tool_use_stream_streams_the_arguments_as_they_come() -> None:
    out, stream = replay_anthropic("anthropic_tool_use.txt")
    result = reassemble_openai(openai_chunks(out))
    assert result["content"] == "Okay, let's check the weather for San Francisco, CA:"
    assert result["calls"] == {
        0: {
            "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "name": "get_weather",
            "arguments": upstream_text(
                "anthropic_tool_use.txt", "input_json_delta", "partial_json"
            ),
        }
    }
    assert orjson.loads(result["calls"][0]["arguments"]) == {"location": "San Francisco, CA"}
    assert result["finish"] == ["tool_calls"]
    assert stream.finished


def test_a_thinking_stream_becomes_reasoning_content() -> None:
    out, stream = replay_anthropic("anthropic_thinking.txt")
    result = reassemble_openai(openai_chunks(out))
    assert result["reasoning"] == upstream_text(
        "anthropic_thinking.txt", "thinking_delta", "thinking"
    )
    assert result["content"] == "The greatest common divisor of 1071 and 462 is **21**."
    assert stream.finished


def test_the_stream_says_which_block_is_open() -> None:
    events = captured("anthropic_tool_use.txt")
    stream = AnthropicToOpenAIStream("gpt-x", include_usage=False)
    states = []
    for event, data in events:
        stream.feed(event, data)
        states.append((event, stream.in_tool_call, stream.in_thinking))
    assert states[2] == ("ping", False, False)  # inside the text block
    assert ("content_block_start", True, False) in states[15:]  # the tool_use block opened
    assert states[-1] == ("message_stop", False, False)
    thinking = AnthropicToOpenAIStream("gpt-x", include_usage=False)
    for event, data in captured("anthropic_thinking.txt")[:3]:
        thinking.feed(event, data)
    assert thinking.in_thinking
    assert not thinking.in_tool_call


def test_an_anthropic_error_event_is_handed_to_the_gateway() -> None:
    stream = AnthropicToOpenAIStream("gpt-x", include_usage=True)
    stream.feed(*captured("anthropic_text.txt")[0])
    data = '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
    with pytest.raises(UpstreamStreamError) as caught:
        stream.feed("error", data)
    assert caught.value.message == "Overloaded"
    assert caught.value.data == data


def test_finish_closes_a_stream_that_ended_without_message_stop_once() -> None:
    stream = AnthropicToOpenAIStream("gpt-x", include_usage=False)
    for event, data in captured("anthropic_text.txt")[:4]:
        stream.feed(event, data)
    closing = stream.finish()
    assert closing[-1] == b"data: [DONE]\n\n"
    assert orjson.loads(closing[0][6:])["choices"][0]["finish_reason"] == "stop"
    assert stream.finished
    assert stream.finish() == []
    assert stream.feed("message_stop", '{"type": "message_stop"}') == []


# --- OpenAI upstream -> Anthropic client -----------------------------------------------


def test_an_openai_text_stream_becomes_a_protocol_correct_anthropic_stream() -> None:
    out, stream = replay_openai("openai_text.txt")
    events = anthropic_events(out)
    assert_anthropic_protocol(events)
    message = events[0][1]["message"]
    assert message["id"] == "msg_chatcmpl-123"
    assert message["model"] == "claude-x"
    result = reassemble_anthropic(events)
    assert result["content"] == [{"type": "text", "text": "Hello"}]
    assert result["message_delta"]["delta"]["stop_reason"] == "end_turn"
    assert stream.finished


def test_an_openai_tool_call_stream_becomes_a_tool_use_block() -> None:
    out, stream = replay_openai("openai_tool_call.txt")
    events = anthropic_events(out)
    assert_anthropic_protocol(events)
    assert reassemble_anthropic(events)["content"] == [
        {
            "type": "tool_use",
            "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
            "name": "get_weather",
            "input": {"location": "Paris, France"},
        }
    ]
    upstream = "".join(
        call["function"]["arguments"]
        for _, data in captured("openai_tool_call.txt")[:-1]
        for call in orjson.loads(data)["choices"][0]["delta"].get("tool_calls", [])
    )
    streamed = "".join(
        payload["delta"]["partial_json"]
        for name, payload in events
        if name == "content_block_delta"
    )
    assert streamed == upstream
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert stream.finished


def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return orjson.dumps({"id": "chatcmpl-9", "model": "m", "choices": [choice]}).decode()


def call(
    index: int, arguments: str, id: str | None = None, name: str | None = None
) -> dict[str, Any]:
    return {
        "index": index,
        "id": id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def test_parallel_tool_calls_and_the_final_usage_chunk() -> None:
    stream = OpenAIToAnthropicStream("claude-x")
    upstream = [
        chunk({"role": "assistant", "content": "Checking both."}),
        chunk({"tool_calls": [call(0, "", "call_a", "get_weather")]}),
        chunk({"tool_calls": [call(0, '{"q": "Paris"}')]}),
        chunk({"tool_calls": [call(1, "", "call_b", "get_weather")]}),
        chunk({"tool_calls": [call(1, '{"q": ')]}),
        chunk({"tool_calls": [call(1, '"Oslo"}')]}),
        chunk({}, "tool_calls"),
        '{"id":"chatcmpl-9","choices":[],"usage":{"prompt_tokens":1200,"completion_tokens":40,'
        '"total_tokens":1240,"prompt_tokens_details":{"cached_tokens":1024}}}',
        "[DONE]",
    ]
    out = [event for data in upstream for event in stream.feed(data)]
    events = anthropic_events(out)
    assert_anthropic_protocol(events)
    result = reassemble_anthropic(events)
    assert [block.get("text") or block.get("input") for block in result["content"]] == [
        "Checking both.",
        {"q": "Paris"},
        {"q": "Oslo"},
    ]
    assert [block.get("id") for block in result["content"]] == [None, "call_a", "call_b"]
    assert result["message_delta"]["delta"]["stop_reason"] == "tool_use"
    assert result["message_delta"]["usage"] == {
        "input_tokens": 176,
        "output_tokens": 40,
        "cache_read_input_tokens": 1024,
        "cache_creation_input_tokens": 0,
    }
    assert write_usage(stream.usage) == result["message_delta"]["usage"]


def test_reasoning_deltas_become_a_thinking_block_before_the_text() -> None:
    stream = OpenAIToAnthropicStream("claude-x")
    upstream = [
        chunk({"role": "assistant", "content": None, "reasoning_content": "Euclid: "}),
        chunk({"content": None, "reasoning_content": "GCD is 21."}),
        chunk({"content": "21", "reasoning_content": None}),
        chunk({}, "stop"),
    ]
    out = []
    for data in upstream[:2]:
        out += stream.feed(data)
    assert stream.in_thinking
    assert not stream.in_tool_call
    for data in [*upstream[2:], "[DONE]"]:
        out += stream.feed(data)
    events = anthropic_events(out)
    assert_anthropic_protocol(events)
    assert reassemble_anthropic(events)["content"] == [
        {"type": "thinking", "thinking": "Euclid: GCD is 21.", "signature": ""},
        {"type": "text", "text": "21"},
    ]


def test_openrouter_reasoning_deltas_count_too() -> None:
    stream = OpenAIToAnthropicStream("claude-x")
    out = stream.feed(chunk({"reasoning": "hmm"})) + stream.finish()
    content = reassemble_anthropic(anthropic_events(out))["content"]
    assert content == [{"type": "thinking", "thinking": "hmm", "signature": ""}]


def test_a_reused_index_with_a_new_id_is_a_new_tool_call() -> None:
    # Some servers (Ollama) number every parallel call 0 and tell them apart by id.
    stream = OpenAIToAnthropicStream("claude-x")
    out = stream.feed(chunk({"tool_calls": [call(0, "{}", "a", "f"), call(0, "{}", "b", "g")]}))
    out += stream.finish()
    content = reassemble_anthropic(anthropic_events(out))["content"]
    assert [(block["id"], block["name"]) for block in content] == [("a", "f"), ("b", "g")]


def test_arguments_for_a_closed_tool_call_are_an_upstream_fault() -> None:
    stream = OpenAIToAnthropicStream("claude-x")
    stream.feed(chunk({"tool_calls": [call(0, "", "a", "f")]}))
    stream.feed(chunk({"content": "text in between"}))
    with pytest.raises(UpstreamStreamError, match="was closed"):
        stream.feed(chunk({"tool_calls": [call(0, "{}")]}))


def test_an_openai_error_chunk_is_handed_to_the_gateway() -> None:
    stream = OpenAIToAnthropicStream("claude-x")
    stream.feed(chunk({"content": "Hel"}))
    data = '{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}'
    with pytest.raises(UpstreamStreamError) as caught:
        stream.feed(data)
    assert caught.value.message == "The server had an error while processing your request."
    assert caught.value.data == data


def test_finish_closes_open_blocks_once_and_done_after_finish_adds_nothing() -> None:
    stream = OpenAIToAnthropicStream("claude-x")
    out = stream.feed(chunk({"tool_calls": [call(0, '{"a": 1}', "a", "f")]}))
    assert stream.in_tool_call
    out += stream.finish()
    events = anthropic_events(out)
    assert_anthropic_protocol(events)
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert stream.finished
    assert not stream.in_tool_call
    assert stream.finish() == []
    assert stream.feed("[DONE]") == []


def test_an_empty_upstream_stream_still_makes_a_whole_message() -> None:
    stream = OpenAIToAnthropicStream("claude-x")
    names = [name for name, _ in anthropic_events(stream.feed("[DONE]"))]
    assert names == ["message_start", "message_delta", "message_stop"]


# --- through both translators and back -------------------------------------------------


@pytest.mark.parametrize("name", ANTHROPIC_STREAMS)
def test_anthropic_streams_survive_openai_and_back(name: str) -> None:
    to_openai = AnthropicToOpenAIStream("gpt-x", include_usage=True)
    back = OpenAIToAnthropicStream("claude-x")
    out = []
    for event, data in captured(name):
        for raw in to_openai.feed(event, data):
            out += back.feed(raw.decode().removeprefix("data: ").strip())
    original = reassemble_anthropic(
        [(e, orjson.loads(d)) for e, d in captured(name) if e not in ("ping",)]
    )
    events = anthropic_events(out)
    assert_anthropic_protocol(events)
    result = reassemble_anthropic(events)
    for block in original["content"]:
        block.pop("signature", None)  # signatures are Anthropic's own and cannot travel
    for block in result["content"]:
        block.pop("signature", None)
    assert result["content"] == original["content"]
    assert (
        result["message_delta"]["delta"]["stop_reason"]
        == original["message_delta"]["delta"]["stop_reason"]
    )
    assert back.finished
    assert to_openai.finished


@pytest.mark.parametrize("name", OPENAI_STREAMS)
def test_openai_streams_survive_anthropic_and_back(name: str) -> None:
    to_anthropic = OpenAIToAnthropicStream("claude-x")
    back = AnthropicToOpenAIStream("gpt-x", include_usage=False)
    out = []
    for _, data in captured(name):
        for raw in to_anthropic.feed(data):
            ((event, payload),) = parse_sse(raw.decode())
            out += back.feed(event, payload)
    upstream = [orjson.loads(data) for _, data in captured(name) if data != "[DONE]"]
    original, result = reassemble_openai(upstream), reassemble_openai(openai_chunks(out))
    assert result == original
    assert back.finished
    assert to_anthropic.finished
