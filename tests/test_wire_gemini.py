"""The Gemini codec: what Google's generateContent wire says, read into the hub and written out
of it, to and from the other three wires; thought signatures go back where they came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from turnout.wire import CHAT, GEMINI, MESSAGES, RESPONSES, CannotCarry, UpstreamStreamError, hub
from turnout.wire.gemini.requests import FOREIGN_CALL_SIGNATURE
from turnout.wire.sse import Event, EventSplitter
from turnout.wire.translate import translate_request, translate_response, translate_stream

STREAMS = Path(__file__).parent / "data" / "streams"
WEATHER_SCHEMA: Any = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
#: A Gemini 3 conversation as the google-genai SDK sends it back: the thought signature beside
#: the function call and on the last text part, a thought summary, snake_case system field.
SIGNED_HISTORY: Any = {
    "system_instruction": {"parts": [{"text": "Be brief."}]},
    "contents": [
        {"role": "user", "parts": [{"text": "Weather in Oslo and Bergen?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Planning the calls", "thought": True, "thoughtSignature": "sig-thought"},
                {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}},
                 "thoughtSignature": "sig-call-1"},
                {"functionCall": {"name": "get_weather", "args": {"city": "Bergen"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"output": "rain"}}},
                {"functionResponse": {"name": "get_weather", "response": {"output": "sun"}}},
            ],
        },
        {"role": "model", "parts": [{"text": "Oslo rain, Bergen sun.", "thoughtSignature": "sig-text"}]},
        {"role": "user", "parts": [{"text": "Thanks"}]},
    ],
    "tools": [{"functionDeclarations": [
        {"name": "get_weather", "description": "Weather", "parametersJsonSchema": WEATHER_SCHEMA}
    ]}],
    "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    "generationConfig": {"maxOutputTokens": 800, "temperature": 0.2, "topP": 0.9,
                         "stopSequences": ["END"], "thinkingConfig": {"thinkingBudget": 2048}},
}  # fmt: skip


def with_edge(data: dict[str, Any], model: str = "gemini-2.5-flash", stream: bool = False) -> Any:
    """The request's data as the edge hands it on: the URL's model and the endpoint's stream."""
    return {**data, "model": model, "stream": stream}


def signatures(contents: list[dict[str, Any]]) -> list[tuple[str, str]]:
    found = []
    for content in contents:
        for part in content["parts"]:
            kind = next(k for k in ("functionCall", "functionResponse", "text") if k in part)
            if "thought" in part:
                kind = "thought"
            if "thoughtSignature" in part:
                found.append((kind, part["thoughtSignature"]))
    return found


def test_thought_signatures_go_back_on_the_parts_they_came_on() -> None:
    body = translate_request(with_edge(SIGNED_HISTORY), GEMINI, GEMINI, "gemini-3-pro").body
    assert signatures(body["contents"]) == [
        ("thought", "sig-thought"),
        ("functionCall", "sig-call-1"),
        ("text", "sig-text"),
    ]
    assert "model" not in body
    assert "stream" not in body
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    calls = [p["functionCall"] for p in body["contents"][1]["parts"] if "functionCall" in p]
    answers = [p["functionResponse"] for p in body["contents"][2]["parts"]]
    # Calls without ids got theirs; each response the id of the call of its name, in order.
    assert [c["id"] for c in calls] == [a["id"] for a in answers]
    assert [a["response"] for a in answers] == [{"output": "rain"}, {"output": "sun"}]
    assert body["generationConfig"] == {
        "maxOutputTokens": 800,
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["END"],
        # Thinking asked for is thinking shown, as every other wire shows it.
        "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True},
    }


def test_a_gemini_history_reaches_anthropic_with_its_calls_answered() -> None:
    translated = translate_request(with_edge(SIGNED_HISTORY), GEMINI, MESSAGES, "claude")
    body = translated.body
    assert body["system"] == "Be brief."
    assert body["max_tokens"] == 800
    assert body["stop_sequences"] == ["END"]
    assert body["tools"] == [
        {"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}
    ]
    assistant = body["messages"][1]["content"]
    uses = [b for b in assistant if b["type"] == "tool_use"]
    results = body["messages"][2]["content"]
    assert [u["input"] for u in uses] == [{"city": "Oslo"}, {"city": "Bergen"}]
    assert [r["tool_use_id"] for r in results] == [u["id"] for u in uses]
    assert [r["content"] for r in results] == ["rain", "sun"]
    assert "thought" in translated.dropped  # Gemini's thought cannot go back to Anthropic


def test_a_gemini_history_reaches_chat_and_responses() -> None:
    chat = translate_request(with_edge(SIGNED_HISTORY, stream=True), GEMINI, CHAT, "gpt").body
    assert chat["stream"] is True
    assert chat["messages"][0] == {"role": "system", "content": "Be brief."}
    calls = chat["messages"][2]["tool_calls"]
    assert [orjson.loads(c["function"]["arguments"]) for c in calls] == [
        {"city": "Oslo"},
        {"city": "Bergen"},
    ]
    tool_turns = [m for m in chat["messages"] if m["role"] == "tool"]
    assert [t["tool_call_id"] for t in tool_turns] == [c["id"] for c in calls]
    responses = translate_request(with_edge(SIGNED_HISTORY), GEMINI, RESPONSES, "gpt").body
    kinds = [item.get("type", "message") for item in responses["input"]]
    assert kinds.count("function_call") == kinds.count("function_call_output") == 2
    assert responses["reasoning"]["effort"] == "low"


def test_a_chat_history_gets_the_foreign_signature_on_each_steps_first_call() -> None:
    data: Any = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Oslo and Bergen?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_a", "type": "function",
                     "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
                    {"id": "call_b", "type": "function",
                     "function": {"name": "get_weather", "arguments": '{"city": "Bergen"}'}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_a", "content": "rain"},
            {"role": "tool", "tool_call_id": "call_b", "content": '{"sky": "sun"}'},
        ],
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "max_completion_tokens": 300,
    }  # fmt: skip
    body = translate_request(data, CHAT, GEMINI, "gemini-3-pro").body
    assert body == {
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Oslo and Bergen?"}]},
            {
                "role": "model",
                "parts": [
                    {
                        "functionCall": {"id": "call_a", "name": "get_weather",
                                         "args": {"city": "Oslo"}},
                        "thoughtSignature": FOREIGN_CALL_SIGNATURE,
                    },
                    {"functionCall": {"id": "call_b", "name": "get_weather",
                                      "args": {"city": "Bergen"}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"id": "call_a", "name": "get_weather",
                                          "response": {"output": "rain"}}},
                    {"functionResponse": {"id": "call_b", "name": "get_weather",
                                          "response": {"sky": "sun"}}},
                ],
            },
        ],
        "tools": [{"functionDeclarations": [
            {"name": "get_weather", "description": "Weather", "parametersJsonSchema": WEATHER_SCHEMA}
        ]}],
        "toolConfig": {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
        },
        "generationConfig": {"maxOutputTokens": 300},
    }  # fmt: skip


def test_an_anthropic_tool_error_and_an_inline_image_reach_gemini() -> None:
    data: Any = {
        "model": "claude",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": "iVBORw0KGgo="}},
                {"type": "text", "text": "What is it?"}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
                 "content": "no such file"}]},
        ],
    }  # fmt: skip
    contents = translate_request(data, MESSAGES, GEMINI, "g").body["contents"]
    assert contents[0]["parts"][0] == {
        "inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}
    }
    assert contents[2]["parts"] == [
        {"functionResponse": {"id": "toolu_1", "name": "look", "response": {"error": "no such file"}}}
    ]  # fmt: skip


def test_an_image_by_url_needs_a_path_that_fetches_it() -> None:
    data: Any = {
        "model": "m",
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}],
    }  # fmt: skip
    with pytest.raises(CannotCarry) as caught:
        translate_request(data, CHAT, GEMINI, "g", allow_drop=False)
    assert caught.value.labels == ["image_url (by URL)"]


def test_several_choices_are_refused() -> None:
    data: Any = {"model": "m", "n": 2, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(CannotCarry):
        translate_request(data, CHAT, GEMINI, "g")


def test_cached_content_is_needed_and_safety_settings_are_named() -> None:
    data = with_edge(
        {
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "cachedContent": "cachedContents/abc",
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        }
    )
    translated = translate_request(data, GEMINI, CHAT, "gpt")
    assert translated.dropped == ("cachedContent", "safetySettings")
    with pytest.raises(CannotCarry) as caught:
        translate_request(data, GEMINI, CHAT, "gpt", allow_drop=False)
    assert caught.value.labels == ["cachedContent"]


# --- responses -------------------------------------------------------------------------------

GEMINI_ANSWER: Any = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {"text": "Thinking about weather", "thought": True},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}},
                     "thoughtSignature": "sig-answer"},
                ],
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 15, "thoughtsTokenCount": 40,
                      "cachedContentTokenCount": 100, "totalTokenCount": 175},
    "modelVersion": "gemini-2.5-pro",
    "responseId": "resp-1",
}  # fmt: skip


def test_a_gemini_answer_reads_as_a_tool_stop_with_its_thoughts_counted_as_output() -> None:
    answer = GEMINI.decode_response(GEMINI_ANSWER)
    assert answer.stop == "tool_use"
    assert answer.usage == hub.Usage(input=20, output=55, cache_read=100, reasoning=40)
    chat = translate_response(GEMINI_ANSWER, GEMINI, CHAT, "g")
    assert chat["choices"][0]["finish_reason"] == "tool_calls"
    assert chat["usage"]["prompt_tokens"] == 120
    assert chat["usage"]["completion_tokens"] == 55
    assert chat["choices"][0]["message"]["reasoning_content"] == "Thinking about weather"
    back = GEMINI.encode_response(answer, "gemini-2.5-pro")
    assert back["candidates"][0]["content"]["parts"][1]["thoughtSignature"] == "sig-answer"
    assert back["usageMetadata"] == GEMINI_ANSWER["usageMetadata"]


@pytest.mark.parametrize(
    ("reason", "stop", "chat_reason"),
    [
        ("STOP", "end_turn", "stop"),
        ("MAX_TOKENS", "max_tokens", "length"),
        ("SAFETY", "refusal", "content_filter"),
        ("RECITATION", "refusal", "content_filter"),
        ("PROHIBITED_CONTENT", "refusal", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "end_turn", "stop"),
    ],
)
def test_finish_reasons(reason: str, stop: str, chat_reason: str) -> None:
    data = {"candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]},
                            "finishReason": reason}]}  # fmt: skip
    assert GEMINI.decode_response(data).stop == stop
    assert translate_response(data, GEMINI, CHAT, "g")["choices"][0]["finish_reason"] == chat_reason


def test_a_blocked_prompt_is_a_refusal() -> None:
    data = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4}}
    assert translate_response(data, GEMINI, MESSAGES, "g")["stop_reason"] == "refusal"


@pytest.mark.parametrize(("stop", "reason"), [("max_tokens", "MAX_TOKENS"), ("tool_use", "STOP")])
def test_hub_stops_are_written_as_finish_reasons(stop: hub.Stop, reason: str) -> None:
    written = GEMINI.encode_response(
        hub.Response("r", "m", [hub.Text("x")], stop, hub.Usage()), "m"
    )
    assert written["candidates"][0]["finishReason"] == reason


# --- streams ---------------------------------------------------------------------------------


def captured(name: str) -> list[Event]:
    return EventSplitter().feed((STREAMS / name).read_bytes() + b"\n\n")


def test_a_streamed_call_keeps_its_signature_through_the_hub() -> None:
    translator = translate_stream(GEMINI, GEMINI, "gemini-2.5-flash")
    out = b"".join(c for event in captured("gemini_tool_call.txt") for c in translator.feed(event))
    assert translator.stopped
    assert not translator.finished
    out += b"".join(translator.finish())
    chunks = [orjson.loads(e.data) for e in EventSplitter().feed(out)]
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    [call] = [p for p in parts if "functionCall" in p]
    assert call["functionCall"]["args"] == {"location": "San Francisco, CA", "unit": "celsius"}
    assert call["thoughtSignature"].startswith("CikB0e2K")
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["cachedContentTokenCount"] == 32


def test_a_gemini_stream_reaches_an_anthropic_client_as_a_tool_use() -> None:
    translator = translate_stream(GEMINI, MESSAGES, "m")
    out = b"".join(c for event in captured("gemini_tool_call.txt") for c in translator.feed(event))
    out += b"".join(translator.finish())
    events = [orjson.loads(e.data) for e in EventSplitter().feed(out)]
    delta = next(e for e in events if e["type"] == "message_delta")
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"]["cache_read_input_tokens"] == 32
    assert events[-1]["type"] == "message_stop"


def test_an_error_event_mid_stream_breaks_it() -> None:
    translator = translate_stream(GEMINI, CHAT, "m")
    event = Event(
        b"", "", '{"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}'
    )
    with pytest.raises(UpstreamStreamError, match="overloaded"):
        translator.feed(event)
    with pytest.raises(UpstreamStreamError):
        GEMINI.passthrough({}).feed(event)


def test_a_passthrough_is_whole_only_after_a_finish_reason() -> None:
    [first, last] = captured("gemini_tool_call.txt")
    cut = GEMINI.passthrough({})
    cut.feed(first)
    assert cut.finish() == []
    assert not cut.finished
    whole = GEMINI.passthrough({})
    whole.feed(first)
    whole.feed(last)
    whole.finish()
    assert whole.finished


# --- the client's side -----------------------------------------------------------------------


def test_errors_are_in_googles_shape() -> None:
    body = orjson.loads(GEMINI.error_body(429, "quota", "out of quota", {"code": "quota_exceeded"}))
    assert body["error"]["code"] == 429
    assert body["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert body["error"]["message"] == "out of quota"
    event = GEMINI.error_event("overloaded", "busy", {})
    assert orjson.loads(event.removeprefix(b"data: "))["error"]["status"] == "UNAVAILABLE"


def test_a_request_is_read_with_the_urls_model_and_stream() -> None:
    body = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    parsed = GEMINI.parse_for(body, "gemini-2.5-flash", True)
    assert (parsed.model, parsed.stream) == ("gemini-2.5-flash", True)
    assert GEMINI.same_wire_body(parsed, "gemini-2.5-pro") == body  # the model is in the URL
    assert GEMINI.decode_request(parsed.data).stream is True
