"""Request translation between Anthropic Messages and OpenAI Chat Completions, by example."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from turnout.wire.chat import CHAT
from turnout.wire.messages import MESSAGES
from turnout.wire.translate import Translated, translate_request


def anthropic_to_openai_request(data: dict[str, Any], model: str) -> Translated:
    return translate_request(data, MESSAGES, CHAT, model)


def openai_to_anthropic_request(data: dict[str, Any], model: str) -> Translated:
    return translate_request(data, CHAT, MESSAGES, model)


TOOL = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}
FUNCTION = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": TOOL["input_schema"],
    },
}


def to_openai(**fields: Any) -> dict[str, Any]:
    request = {"model": "claude-x", "max_tokens": 100, "messages": [], **fields}
    return anthropic_to_openai_request(request, "gpt-x").body


def to_anthropic(**fields: Any) -> dict[str, Any]:
    return openai_to_anthropic_request({"model": "gpt-x", **fields}, "claude-x").body


# --- Anthropic -> OpenAI ---------------------------------------------------------------


def test_the_model_is_the_target_model_and_the_system_prompt_leads() -> None:
    body = to_openai(system="Be brief.", messages=[{"role": "user", "content": "Hi"}])
    assert body["model"] == "gpt-x"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert body["max_tokens"] == 100


def test_a_system_prompt_of_blocks_becomes_one_system_message() -> None:
    system = [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "Answer in English.", "cache_control": {"type": "ephemeral"}},
    ]
    result = anthropic_to_openai_request(
        {"model": "m", "max_tokens": 5, "system": system, "messages": []}, "gpt-x"
    )
    assert result.body["messages"][0] == {
        "role": "system",
        "content": "You are terse.\n\nAnswer in English.",
    }
    assert result.dropped == ("cache_control",)


def test_text_blocks_and_images_become_content_parts() -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
    ]
    body = to_openai(messages=[{"role": "user", "content": content}])
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
    ]


def test_tool_definitions_and_choices() -> None:
    body = to_openai(tools=[TOOL], tool_choice={"type": "any", "disable_parallel_tool_use": True})
    assert body["tools"] == [FUNCTION]
    assert body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("anthropic", "openai"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        (
            {"type": "tool", "name": "get_weather"},
            {"type": "function", "function": {"name": "get_weather"}},
        ),
    ],
)
def test_tool_choice_table(anthropic: dict[str, Any], openai: Any) -> None:
    assert to_openai(tools=[TOOL], tool_choice=anthropic)["tool_choice"] == openai
    back = to_anthropic(messages=[], tools=[FUNCTION], tool_choice=openai)["tool_choice"]
    assert back == anthropic


def test_server_tools_cannot_run_elsewhere_and_are_named() -> None:
    search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
    result = anthropic_to_openai_request(
        {"model": "m", "max_tokens": 5, "messages": [], "tools": [TOOL, search]}, "gpt-x"
    )
    assert result.body["tools"] == [FUNCTION]
    assert result.dropped == ("tools.web_search (web_search_20250305)",)


def test_a_tool_round_trip_keeps_ids_in_both_dialects() -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"q": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "get_weather",
                    "input": {"q": "Oslo"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18°C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "4°C"}, {"type": "text", "text": "snow"}],
                },
                {"type": "text", "text": "Thanks!"},
            ],
        },
    ]
    body = to_openai(messages=messages)
    assert body["messages"][1] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"q":"Paris"}'},
            },
            {
                "id": "toolu_2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"q":"Oslo"}'},
            },
        ],
    }
    assert body["messages"][2:] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18°C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "4°C\nsnow"},
        {"role": "user", "content": [{"type": "text", "text": "Thanks!"}]},
    ]


def test_a_failed_tool_says_so_in_its_text() -> None:
    result = {
        "type": "tool_result",
        "tool_use_id": "t",
        "content": "no such city",
        "is_error": True,
    }
    body = to_openai(messages=[{"role": "user", "content": [result]}])
    assert body["messages"] == [
        {"role": "tool", "tool_call_id": "t", "content": "Error: no such city"}
    ]


def test_thinking_in_history_is_dropped_and_named() -> None:
    assistant = {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Let me see.", "signature": "EqQB"},
            {"type": "text", "text": "21"},
        ],
    }
    result = anthropic_to_openai_request(
        {"model": "m", "max_tokens": 5, "messages": [assistant]}, "gpt-x"
    )
    assert result.body["messages"] == [{"role": "assistant", "content": "21"}]
    assert result.dropped == ("thinking",)


def test_sampling_stop_metadata_and_stream() -> None:
    result = anthropic_to_openai_request(
        {
            "model": "m",
            "max_tokens": 300,
            "messages": [],
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 40,
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u-42"},
            "stream": True,
        },
        "gpt-x",
    )
    assert result.body == {
        "model": "gpt-x",
        "messages": [],
        "max_tokens": 300,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["END"],
        "user": "u-42",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert result.dropped == ("top_k",)


@pytest.mark.parametrize(
    ("budget", "effort"), [(1024, "low"), (4095, "low"), (8192, "medium"), (16384, "high")]
)
def test_a_thinking_budget_becomes_a_reasoning_effort(budget: int, effort: str) -> None:
    body = to_openai(max_tokens=32000, thinking={"type": "enabled", "budget_tokens": budget})
    assert body["reasoning_effort"] == effort
    # Reasoning models take only max_completion_tokens, which counts reasoning too.
    assert body["max_completion_tokens"] == 32000
    assert "max_tokens" not in body


def test_disabled_thinking_sets_no_effort() -> None:
    assert "reasoning_effort" not in to_openai(thinking={"type": "disabled"})


# --- OpenAI -> Anthropic ---------------------------------------------------------------


def test_system_and_developer_messages_become_the_system_prompt() -> None:
    body = to_anthropic(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
            {"role": "user", "content": "Hi"},
        ]
    )
    assert body["system"] == "Be brief.\n\nUse metric units."
    assert body["messages"] == [{"role": "user", "content": "Hi"}]
    assert body["max_tokens"] == 8192  # Anthropic requires it; the default fills in


def test_a_system_message_mid_conversation_stays_in_place_as_marked_user_text() -> None:
    body = to_anthropic(
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "system", "content": "The user is now in Oslo."},
            {"role": "user", "content": "Weather?"},
        ]
    )
    assert "system" not in body
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {
                "type": "text",
                "text": "<system-reminder>\nThe user is now in Oslo.\n</system-reminder>",
            },
            {"type": "text", "text": "Weather?"},
        ],
    }


def test_tool_calls_and_tool_messages_become_tool_use_and_one_user_turn() -> None:
    body = to_anthropic(
        messages=[
            {"role": "user", "content": "Weather in Paris and Oslo?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"q": "Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"q": "Oslo"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18°C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "4°C"},
            {"role": "user", "content": "And tomorrow?"},
        ]
    )
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "get_weather",
                    "input": {"q": "Paris"},
                },
                {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"q": "Oslo"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18°C"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "4°C"},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]


def test_consecutive_user_messages_merge_for_alternation() -> None:
    body = to_anthropic(
        messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


def test_data_url_images_become_base64_sources() -> None:
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "high"}},
    ]
    result = openai_to_anthropic_request(
        {"model": "m", "messages": [{"role": "user", "content": parts}]}, "claude-x"
    )
    assert result.body["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
    ]
    assert result.dropped == ("image_url.detail",)


def test_parameters_anthropic_lacks_are_dropped_and_named() -> None:
    result = openai_to_anthropic_request(
        {
            "model": "m",
            "messages": [],
            "max_completion_tokens": 500,
            "max_tokens": 100,
            "temperature": 0.5,
            "top_p": 0.8,
            "stop": "END",
            "user": "u-42",
            "stream": True,
            "stream_options": {"include_usage": True},
            "logprobs": True,
            "presence_penalty": 0.5,
            "frequency_penalty": 0.0,
            "seed": 7,
            "response_format": {"type": "json_object"},
            "n": 1,
        },
        "claude-x",
    )
    assert result.body == {
        "model": "claude-x",
        "messages": [],
        "max_tokens": 500,
        "temperature": 0.5,
        "top_p": 0.8,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u-42"},
        "stream": True,
    }
    # Values that ask for nothing (n=1, a zero penalty) are not worth a ledger line.
    assert result.dropped == ("logprobs", "presence_penalty", "seed", "response_format")


def test_several_choices_cannot_be_honoured() -> None:
    with pytest.raises(ValueError, match="n=3"):
        openai_to_anthropic_request({"model": "m", "messages": [], "n": 3}, "claude-x")


def test_parallel_tool_calls_false_disables_parallel_tool_use() -> None:
    body = to_anthropic(messages=[], tools=[FUNCTION], parallel_tool_calls=False)
    assert body["tools"] == [TOOL]
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_reasoning_effort_becomes_a_thinking_budget_on_top_of_the_default_cap() -> None:
    body = to_anthropic(messages=[], reasoning_effort="medium")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert body["max_tokens"] == 8192 + 8192


def test_an_explicit_cap_includes_the_thinking_budget() -> None:
    body = to_anthropic(messages=[], reasoning_effort="high", max_completion_tokens=4000)
    assert body["max_tokens"] == 4000
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 3999}


def test_a_cap_too_small_for_thinking_drops_the_effort() -> None:
    result = openai_to_anthropic_request(
        {"model": "m", "messages": [], "reasoning_effort": "low", "max_tokens": 500}, "claude-x"
    )
    assert "thinking" not in result.body
    assert result.dropped == ("reasoning_effort",)


def test_reasoning_in_history_cannot_be_signed_and_is_dropped() -> None:
    assistant = {"role": "assistant", "content": "21", "reasoning_content": "1071 = 2 × 462 + 147"}
    result = openai_to_anthropic_request({"model": "m", "messages": [assistant]}, "claude-x")
    assert result.body["messages"] == [{"role": "assistant", "content": "21"}]
    assert result.dropped == ("assistant.reasoning_content",)


# --- Round trips -----------------------------------------------------------------------

texts = st.text(min_size=1, max_size=20)
names = st.from_regex(r"[a-z][a-z_]{0,11}", fullmatch=True)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=6,
)
arguments = st.dictionaries(names, json_values, max_size=4)
text_blocks = st.lists(texts.map(lambda t: {"type": "text", "text": t}), min_size=1, max_size=3)


@st.composite
def anthropic_requests(draw: st.DrawFn) -> dict[str, Any]:
    tool_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    tools = [
        {"name": n, "description": draw(texts), "input_schema": {"type": "object"}}
        for n in tool_names
    ]
    messages: list[dict[str, Any]] = []
    for turn in range(draw(st.integers(1, 4))):
        user: Any = draw(texts | text_blocks)
        if messages and messages[-1]["content"] and isinstance(messages[-1]["content"], list):
            results = [
                {
                    "type": "tool_result",
                    "tool_use_id": b["id"],
                    "content": draw(texts | text_blocks),
                }
                for b in messages[-1]["content"]
                if b["type"] == "tool_use"
            ]
            if results:
                extra = [{"type": "text", "text": draw(texts)}] if draw(st.booleans()) else []
                user = results + extra
        messages.append({"role": "user", "content": user})
        calls = [
            {
                "type": "tool_use",
                "id": f"toolu_{turn}_{i}",
                "name": draw(st.sampled_from(tool_names)),
                "input": draw(arguments),
            }
            for i in range(draw(st.integers(0, 2)))
        ]
        text = draw(texts)
        messages.append({"role": "assistant", "content": [{"type": "text", "text": text}, *calls]})
    request: dict[str, Any] = {
        "model": "claude-x",
        "max_tokens": draw(st.integers(1, 64000)),
        "messages": messages,
        "tools": tools,
    }
    if draw(st.booleans()):
        request["system"] = draw(texts)
    if draw(st.booleans()):
        request["temperature"] = draw(st.floats(0, 1))
    if draw(st.booleans()):
        request["stop_sequences"] = draw(st.lists(texts, min_size=1, max_size=4))
    return request


def anthropic_meaning(request: dict[str, Any]) -> dict[str, Any]:
    """What must survive: roles, texts, tool calls and results, tools, stop, sampling, cap."""
    turns = []
    for message in request["messages"]:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        items: list[tuple[Any, ...]] = []
        for block in blocks:
            if block["type"] == "text":
                items.append(("text", block["text"]))
            elif block["type"] == "tool_use":
                items.append(("tool_use", block["id"], block["name"], block["input"]))
            else:
                result = block["content"]
                text = result if isinstance(result, str) else "\n".join(b["text"] for b in result)
                items.append(("tool_result", block["tool_use_id"], text))
        turns.append((message["role"], items))
    return {
        "system": request.get("system"),
        "turns": turns,
        "tools": [(t["name"], t["description"], t["input_schema"]) for t in request["tools"]],
        "stop": request.get("stop_sequences"),
        "temperature": request.get("temperature"),
        "max_tokens": request["max_tokens"],
    }


@settings(max_examples=150)
@given(anthropic_requests())
def test_anthropic_to_openai_and_back_keeps_the_meaning(request: dict[str, Any]) -> None:
    there = anthropic_to_openai_request(request, "gpt-x")
    back = openai_to_anthropic_request(there.body, "claude-x")
    assert there.dropped == back.dropped == ()
    assert anthropic_meaning(back.body) == anthropic_meaning(request)


@st.composite
def openai_requests(draw: st.DrawFn) -> dict[str, Any]:
    tool_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    tools = [
        {
            "type": "function",
            "function": {"name": n, "description": draw(texts), "parameters": {"type": "object"}},
        }
        for n in tool_names
    ]
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        messages.append(
            {"role": draw(st.sampled_from(["system", "developer"])), "content": draw(texts)}
        )
    for turn in range(draw(st.integers(1, 4))):
        messages.append({"role": "user", "content": draw(texts | text_blocks)})
        calls = [
            {
                "id": f"call_{turn}_{i}",
                "type": "function",
                "function": {
                    "name": draw(st.sampled_from(tool_names)),
                    "arguments": orjson.dumps(draw(arguments)).decode(),
                },
            }
            for i in range(draw(st.integers(0, 2)))
        ]
        assistant: dict[str, Any] = {
            "role": "assistant",
            "content": draw(texts | st.none()) if calls else draw(texts),
        }
        if calls:
            assistant["tool_calls"] = calls
        messages.append(assistant)
        messages += [
            {"role": "tool", "tool_call_id": c["id"], "content": draw(texts)} for c in calls
        ]
    request: dict[str, Any] = {"model": "gpt-x", "messages": messages, "tools": tools}
    request["max_tokens"] = draw(st.integers(1, 64000))
    if draw(st.booleans()):
        request["temperature"] = draw(st.floats(0, 1))
    if draw(st.booleans()):
        request["stop"] = draw(texts | st.lists(texts, min_size=1, max_size=4))
    return request


def openai_meaning(request: dict[str, Any]) -> dict[str, Any]:
    messages = []
    for message in request["messages"]:
        content = message.get("content") or ""
        texts = [content] if isinstance(content, str) else [p["text"] for p in content]
        calls = [
            (c["id"], c["function"]["name"], orjson.loads(c["function"]["arguments"]))
            for c in message.get("tool_calls", [])
        ]
        role = "system" if message["role"] == "developer" else message["role"]
        messages.append((role, message.get("tool_call_id"), [t for t in texts if t], calls))
    stop = request.get("stop")
    return {
        "messages": messages,
        "tools": [
            (t["function"]["name"], t["function"]["description"], t["function"]["parameters"])
            for t in request["tools"]
        ],
        "stop": [stop] if isinstance(stop, str) else stop,
        "temperature": request.get("temperature"),
        "max_tokens": request.get("max_tokens"),
    }


@settings(max_examples=150)
@given(openai_requests())
def test_openai_to_anthropic_and_back_keeps_the_meaning(request: dict[str, Any]) -> None:
    there = openai_to_anthropic_request(request, "claude-x")
    back = anthropic_to_openai_request(there.body, "gpt-x")
    assert there.dropped == back.dropped == ()
    assert openai_meaning(back.body) == openai_meaning(request)


def test_a_system_turn_sent_as_blocks_stays_a_system_message() -> None:
    data = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 10,
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "# Environment"},
                    {"type": "text", "text": "cwd: /tmp"},
                ],
            },
        ],
    }
    body = anthropic_to_openai_request(data, "gpt-4o").body
    assert body["messages"][-1] == {"role": "system", "content": "# Environment\n\ncwd: /tmp"}
