"""Whole responses between OpenAI Chat Completions and Anthropic Messages, by example."""

from __future__ import annotations

from typing import Any

import pytest

from turnout.wire.chat import CHAT
from turnout.wire.messages import MESSAGES
from turnout.wire.translate import translate_response


def anthropic_to_openai_response(data: dict[str, Any], model: str) -> dict[str, Any]:
    return translate_response(data, MESSAGES, CHAT, model)


def openai_to_anthropic_response(data: dict[str, Any], model: str) -> dict[str, Any]:
    return translate_response(data, CHAT, MESSAGES, model)


def completion(
    message: dict[str, Any], finish: str = "stop", usage: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": 1677652288,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": usage or {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
    }


def anthropic_message(
    content: list[dict[str, Any]], stop: str = "end_turn", usage: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-8",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 12, "output_tokens": 6},
    }


# --- OpenAI -> Anthropic ---------------------------------------------------------------


def test_a_text_answer() -> None:
    message = {"role": "assistant", "content": "\n\nHello there, how may I assist you today?"}
    assert openai_to_anthropic_response(completion(message), "claude-x") == {
        "id": "msg_chatcmpl-123",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": "\n\nHello there, how may I assist you today?"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 9,
            "output_tokens": 12,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
        },
    }


def test_tool_calls_become_tool_use_blocks_with_parsed_input() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location":"Paris, France"}'},
            }
        ],
    }
    result = openai_to_anthropic_response(completion(message, "tool_calls"), "claude-x")
    assert result["content"] == [
        {
            "type": "tool_use",
            "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
            "name": "get_weather",
            "input": {"location": "Paris, France"},
        }
    ]
    assert result["stop_reason"] == "tool_use"


def test_tool_calls_mean_tool_use_even_when_the_server_says_stop() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    message = {"role": "assistant", "content": "", "tool_calls": [call]}
    assert (
        openai_to_anthropic_response(completion(message, "stop"), "m")["stop_reason"] == "tool_use"
    )


def test_arguments_that_are_not_json_stay_visible() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    block = openai_to_anthropic_response(completion(message, "tool_calls"), "m")["content"][0]
    assert block["input"] == {"_raw_arguments": "{oops"}


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_becomes_a_leading_thinking_block(field: str) -> None:
    message = {"role": "assistant", "content": "21", field: "1071 = 2 × 462 + 147 …"}
    content = openai_to_anthropic_response(completion(message), "m")["content"]
    assert content == [
        {"type": "thinking", "thinking": "1071 = 2 × 462 + 147 …", "signature": ""},
        {"type": "text", "text": "21"},
    ]


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
    ],
)
def test_finish_reasons(finish: str, stop: str) -> None:
    message = {"role": "assistant", "content": "x"}
    assert openai_to_anthropic_response(completion(message, finish), "m")["stop_reason"] == stop


def test_a_refusal_is_text_with_stop_reason_refusal() -> None:
    message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    result = openai_to_anthropic_response(completion(message), "m")
    assert result["content"] == [{"type": "text", "text": "I can't help with that."}]
    assert result["stop_reason"] == "refusal"


def test_cached_prompt_tokens_are_counted_apart_as_anthropic_does() -> None:
    usage = {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920},
    }
    result = openai_to_anthropic_response(completion({"content": "x"}, usage=usage), "m")
    assert result["usage"] == {
        "input_tokens": 86,
        "output_tokens": 300,
        "cache_read_input_tokens": 1920,
        "cache_creation_input_tokens": 0,
    }


def test_deepseek_cache_hits_count_as_cache_reads() -> None:
    usage = {"prompt_tokens": 100, "completion_tokens": 5, "prompt_cache_hit_tokens": 64}
    result = openai_to_anthropic_response(completion({"content": "x"}, usage=usage), "m")
    assert result["usage"]["cache_read_input_tokens"] == 64
    assert result["usage"]["input_tokens"] == 36


# --- Anthropic -> OpenAI ---------------------------------------------------------------


def test_a_text_answer_in_openai_words() -> None:
    result = anthropic_to_openai_response(
        anthropic_message([{"type": "text", "text": "Hi! My name is Claude."}]), "gpt-x"
    )
    assert result["id"] == "chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL"
    assert result["object"] == "chat.completion"
    assert result["model"] == "gpt-x"
    assert isinstance(result["created"], int)
    assert result["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi! My name is Claude."},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert result["usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 6,
        "total_tokens": 18,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def test_tool_use_becomes_tool_calls_with_json_string_arguments() -> None:
    content: list[dict[str, Any]] = [
        {"type": "text", "text": "Let me check."},
        {
            "type": "tool_use",
            "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "name": "get_weather",
            "input": {"location": "San Francisco, CA"},
        },
    ]
    result = anthropic_to_openai_response(anthropic_message(content, "tool_use"), "gpt-x")
    assert result["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            {
                "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "arguments": '{"location":"San Francisco, CA"}',
                },
            }
        ],
    }
    assert result["choices"][0]["finish_reason"] == "tool_calls"


def test_only_tool_calls_leave_content_null() -> None:
    content = [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]
    message = anthropic_to_openai_response(anthropic_message(content, "tool_use"), "g")
    assert message["choices"][0]["message"]["content"] is None


def test_thinking_becomes_reasoning_content() -> None:
    content = [
        {"type": "thinking", "thinking": "GCD by Euclid…", "signature": "EqQB"},
        {"type": "text", "text": "21"},
    ]
    message = anthropic_to_openai_response(anthropic_message(content), "g")["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "21", "reasoning_content": "GCD by Euclid…"}


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
    ],
)
def test_stop_reasons(stop: str, finish: str) -> None:
    result = anthropic_to_openai_response(anthropic_message([], stop), "g")
    assert result["choices"][0]["finish_reason"] == finish


def test_every_input_token_is_a_prompt_token_and_cache_reads_are_cached() -> None:
    usage = {
        "input_tokens": 50,
        "cache_creation_input_tokens": 248,
        "cache_read_input_tokens": 1800,
        "output_tokens": 503,
    }
    result = anthropic_to_openai_response(anthropic_message([], usage=usage), "g")
    assert result["usage"] == {
        "prompt_tokens": 2098,
        "completion_tokens": 503,
        "total_tokens": 2601,
        "prompt_tokens_details": {"cached_tokens": 1800},
    }


def test_a_response_survives_a_round_trip() -> None:
    content: list[dict[str, Any]] = [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"q": "Oslo"}},
    ]
    usage = {"input_tokens": 10, "output_tokens": 3, "cache_read_input_tokens": 90}
    original = anthropic_message(content, "tool_use", usage)
    back = openai_to_anthropic_response(
        anthropic_to_openai_response(original, "g"), "claude-opus-4-8"
    )
    assert back["content"] == content
    assert back["stop_reason"] == "tool_use"
    assert back["usage"] == {
        "input_tokens": 10,
        "output_tokens": 3,
        "cache_read_input_tokens": 90,
        "cache_creation_input_tokens": 0,
    }
