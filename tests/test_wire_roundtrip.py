"""Round trips through the hub for every pair of wires it joins: what a client says in one wire
survives a path in another and back, for requests, whole responses and streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from turnout.ledger.usage import UsageMeter
from turnout.wire import CHAT, GEMINI, MESSAGES, RESPONSES, CannotCarry, Codec, hub
from turnout.wire.sse import Event, EventSplitter
from turnout.wire.translate import translate_request, translate_response, translate_stream

STREAMS = Path(__file__).parent / "data" / "streams"
OTHERS = [CHAT, MESSAGES, GEMINI]
WIRES = [CHAT, MESSAGES, RESPONSES, GEMINI]

texts = st.text(min_size=1, max_size=20)
names = st.from_regex(r"[a-z][a-z_]{0,11}", fullmatch=True)
arguments = st.dictionaries(
    names, st.integers(-(10**6), 10**6) | st.text(max_size=8) | st.booleans(), max_size=3
)


@st.composite
def responses_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A Responses conversation as Codex sends one: instructions, user turns, function calls
    with their outputs, assistant text."""
    tool_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    items: list[dict[str, Any]] = []
    for turn in range(draw(st.integers(1, 4))):
        text = draw(texts)
        items.append({"role": "user", "content": [{"type": "input_text", "text": text}]})
        for i in range(draw(st.integers(0, 2))):
            call_id = f"call_{turn}_{i}"
            items.append(
                {
                    "type": "function_call",
                    "call_id": call_id,
                    "name": draw(st.sampled_from(tool_names)),
                    "arguments": orjson.dumps(draw(arguments)).decode(),
                }
            )
            output = draw(texts)
            items.append({"type": "function_call_output", "call_id": call_id, "output": output})
        answer = [{"type": "output_text", "text": draw(texts), "annotations": []}]
        items.append({"type": "message", "role": "assistant", "content": answer})
    items.append({"role": "user", "content": [{"type": "input_text", "text": draw(texts)}]})
    tools = [
        {
            "type": "function",
            "name": n,
            "description": draw(texts),
            "parameters": {"type": "object"},
        }
        for n in tool_names
    ]
    request: dict[str, Any] = {"model": "m", "input": items, "tools": tools}
    if draw(st.booleans()):
        request["instructions"] = draw(texts)
    if draw(st.booleans()):
        request["max_output_tokens"] = draw(st.integers(16, 64000))
    if draw(st.booleans()):
        request["tool_choice"] = draw(st.sampled_from(["auto", "required", "none"]))
    return request


def meaning(request: dict[str, Any]) -> dict[str, Any]:
    """What must survive: instructions, each item's role and words, calls with their parsed
    arguments, outputs by call id, tools, the cap and the tool choice."""
    items: list[tuple[Any, ...]] = []
    for item in request["input"]:
        kind = item.get("type", "message")
        if kind == "message":
            words = "".join(part["text"] for part in item["content"])
            items.append(("message", item["role"], words))
        elif kind == "function_call":
            items.append(("call", item["call_id"], item["name"], orjson.loads(item["arguments"])))
        else:
            items.append(("output", item["call_id"], item["output"]))
    tools = [(t["name"], t["description"], t["parameters"]) for t in request["tools"]]
    return {
        "instructions": request.get("instructions"),
        "items": items,
        "tools": tools,
        "max_output_tokens": request.get("max_output_tokens"),
        "tool_choice": request.get("tool_choice"),
    }


@pytest.mark.parametrize("other", OTHERS, ids=lambda codec: codec.name)
@settings(max_examples=100, deadline=None)
@given(request=responses_requests())
def test_a_responses_request_survives_another_wire_and_back(
    other: Codec, request: dict[str, Any]
) -> None:
    there = translate_request(request, RESPONSES, other, "x", allow_drop=False)
    back = translate_request(there.body, other, RESPONSES, "m", allow_drop=False)
    assert there.dropped == back.dropped == ()
    if "max_output_tokens" not in request:  # Anthropic needs a cap: it gets the default one
        back.body.pop("max_output_tokens", None)
    assert meaning(back.body) == meaning(request)


# --- whole responses -------------------------------------------------------------------------

ANSWER = hub.Response(
    "answer-1",
    "model-x",
    [
        hub.Reasoning("thinking it over", origin="anthropic", signature="sig-1"),
        hub.Text("Reading the file."),
        hub.ToolCall("call_9", "read_file", '{"path": "a.txt"}'),
    ],
    "tool_use",
    hub.Usage(input=100, output=20, cache_read=30),
)


def parts_of(response: hub.Response) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for part in response.parts:
        if isinstance(part, hub.Text):
            out.append(("text", part.text))
        elif isinstance(part, hub.ToolCall):
            out.append(("call", part.id, part.name, orjson.loads(part.arguments)))
        elif isinstance(part, hub.Reasoning):
            out.append(("reasoning", part.text))
    return out


@pytest.mark.parametrize("source", WIRES, ids=lambda codec: codec.name)
@pytest.mark.parametrize("target", WIRES, ids=lambda codec: codec.name)
def test_a_whole_response_survives_every_pair(source: Codec, target: Codec) -> None:
    sent = source.encode_response(ANSWER, "model-x")
    back = source.decode_response(
        translate_response(translate_response(sent, source, target, "y"), target, source, "z")
    )
    assert parts_of(back) == parts_of(ANSWER)
    assert back.stop == "tool_use"
    assert (back.usage.input + back.usage.cache_read, back.usage.output) == (130, 20)
    assert back.usage.cache_read == 30


def test_anthropic_thinking_keeps_its_signature_through_a_responses_client() -> None:
    sent = RESPONSES.encode_response(ANSWER, "model-x")
    [reasoning] = [item for item in sent["output"] if item["type"] == "reasoning"]
    history = {"model": "m", "input": [{"role": "user", "content": "go"}, reasoning]}
    body = translate_request(history, RESPONSES, MESSAGES, "claude").body
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "thinking it over", "signature": "sig-1"}
    ]


def test_foreign_encrypted_reasoning_cannot_reach_anthropic_and_is_named() -> None:
    item = {"type": "reasoning", "summary": [], "encrypted_content": "gAAAA-openai-own"}
    history = {"model": "m", "input": [{"role": "user", "content": "go"}, item]}
    translated = translate_request(history, RESPONSES, MESSAGES, "claude")
    assert translated.dropped == ("reasoning",)


# --- streams ---------------------------------------------------------------------------------


def captured(name: str) -> list[Event]:
    return EventSplitter().feed((STREAMS / name).read_bytes() + b"\n\n")


def through(events: list[Event], source: Codec, target: Codec) -> list[Event]:
    translator = translate_stream(
        source, target, "model-x", hub.Request("m", [], include_usage=True)
    )
    raw = b"".join(chunk for event in events for chunk in translator.feed(event))
    if translator.stopped:  # a wire with no end marker (Gemini) ends with its body
        raw += b"".join(translator.finish())
    assert translator.finished
    return EventSplitter().feed(raw)


def reassembled(events: list[Event], codec: Codec) -> list[tuple[str, str]]:
    """(kind, text) per part, as the hub sees the stream; a tool call's arguments by their
    meaning (a wire that carries them as an object writes them again)."""
    parts: list[tuple[str, str]] = []
    decoder = codec.stream_decoder()
    for event in events:
        for item in decoder.feed(event):
            if isinstance(item, hub.Opened):
                parts.append((item.kind, item.text))
            elif isinstance(item, hub.Delta):
                kind, text = parts[-1]
                parts[-1] = (kind, text + item.text)
    return [
        (kind, orjson.dumps(orjson.loads(text)).decode() if kind == "tool_call" else text)
        for kind, text in parts
    ]


STREAM_CASES = [
    ("anthropic_text.txt", MESSAGES),
    ("anthropic_tool_use.txt", MESSAGES),
    ("anthropic_thinking.txt", MESSAGES),
    ("openai_text.txt", CHAT),
    ("openai_tool_call.txt", CHAT),
    ("responses_text.txt", RESPONSES),
    ("responses_tool_call.txt", RESPONSES),
    ("gemini_text.txt", GEMINI),
    ("gemini_tool_call.txt", GEMINI),
]


@pytest.mark.parametrize(
    ("name", "source", "target"),
    [
        (name, source, target)
        for name, source in STREAM_CASES
        for target in WIRES
        if target is not source  # a same-wire stream is passed through, never translated
    ],
    ids=lambda value: value.name if hasattr(value, "name") else str(value),
)
def test_a_stream_survives_every_other_wire_and_back(
    name: str, source: Codec, target: Codec
) -> None:
    original = captured(name)
    back = through(through(original, source, target), target, source)
    assert reassembled(back, source) == reassembled(original, source)


def test_the_published_responses_stream_reaches_a_chat_and_a_messages_client() -> None:
    """OpenAI's own streaming example (without sequence numbers, as published): its text and
    its usage reach the other wires."""
    original = captured("responses_text.txt")
    assert reassembled(original, RESPONSES) == [("text", "Hi")]  # the deltas it shows
    for target in (CHAT, MESSAGES):
        events = through(original, RESPONSES, target)
        assert reassembled(events, target) == [("text", "Hi")]
        usage = UsageMeter(target)
        for event in events:
            usage.observe(event)
        assert (usage.usage.tokens_in, usage.usage.tokens_out) == (37, 11)


def test_the_responses_event_sequence_from_an_anthropic_stream() -> None:
    events = through(captured("anthropic_tool_use.txt"), MESSAGES, RESPONSES)
    payloads = [orjson.loads(event.data) for event in events]
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert all(event.name == p["type"] for event, p in zip(events, payloads, strict=True))
    kinds = [p["type"] for p in payloads]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    added = [p["item"]["type"] for p in payloads if p["type"] == "response.output_item.added"]
    done = [p["item"] for p in payloads if p["type"] == "response.output_item.done"]
    assert added == [item["type"] for item in done] == ["message", "function_call"]
    assert payloads[-1]["response"]["output"] == done
    call = done[1]
    assert call["name"] == "get_weather"
    assert orjson.loads(call["arguments"]) == {"location": "San Francisco, CA"}
    assert [p["output_index"] for p in payloads if p["type"].endswith(".delta")] == sorted(
        p["output_index"] for p in payloads if p["type"].endswith(".delta")
    )


# --- what a wire cannot carry ----------------------------------------------------------------

FILE_IMAGE: Any = {"type": "image", "source": {"type": "file", "file_id": "file_123"}}
FTP_IMAGE: Any = {"type": "image_url", "image_url": {"url": "ftp://host/cat.png"}}


@pytest.mark.parametrize(
    ("data", "source", "target", "label"),
    [
        (
            {
                "model": "m",
                "max_tokens": 9,
                "messages": [{"role": "user", "content": [FILE_IMAGE]}],
            },
            MESSAGES,
            CHAT,
            "image (file source)",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": [FTP_IMAGE]}]},
            CHAT,
            MESSAGES,
            "image_url (unsupported URL)",
        ),
        (
            {"model": "m", "input": "hi", "text": {"format": {"type": "json_object"}}},
            RESPONSES,
            MESSAGES,
            "text.format",
        ),
    ],
)
def test_what_the_answer_needs_refuses_a_path_unless_dropping_is_allowed(
    data: dict[str, Any], source: Codec, target: Codec, label: str
) -> None:
    with pytest.raises(CannotCarry) as caught:
        translate_request(data, source, target, "x", allow_drop=False)
    assert caught.value.labels == [label]
    assert label in translate_request(data, source, target, "x", allow_drop=True).dropped
