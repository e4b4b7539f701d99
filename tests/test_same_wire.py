"""A same-wire request leaves the conversation's bytes as the client sent them: only the model
(and, for a streamed Chat request, the usage option the ledger needs) changes, and the body is
read only as far as its top-level fields (wire/head.py). The top level is written again; every
value in it but the model's is the client's bytes."""

from __future__ import annotations

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from turnout.errors import ClientRequestError
from turnout.wire import CHAT, MESSAGES, RESPONSES
from turnout.wire.head import read_head

CONVERSATION = b'[{"role":"user","content":"keep   these bytes \\u00e9 exactly"}]'
_TOP = msgspec.json.Decoder(dict[str, msgspec.Raw])


def values(body: bytes) -> dict[str, bytes]:
    """Each top-level value of `body` as its bytes."""
    return {name: bytes(raw) for name, raw in _TOP.decode(body).items()}


def test_a_streamed_chat_request_gains_the_usage_option_without_being_rewritten() -> None:
    body = b'{"model":"m","stream":true,"messages":' + CONVERSATION + b"}"
    sent = CHAT.same_wire_body(CHAT.parse(body), "gpt-4o")
    assert CONVERSATION in sent  # the conversation is the client's bytes, not a re-serialisation
    data = orjson.loads(sent)
    assert data["model"] == "gpt-4o"
    assert data["stream_options"] == {"include_usage": True}
    assert data["messages"] == orjson.loads(CONVERSATION)


def test_a_client_that_asked_for_usage_is_left_as_it_asked() -> None:
    body = (
        b'{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":'
        + CONVERSATION
        + b"}"
    )
    sent = CHAT.same_wire_body(CHAT.parse(body), "gpt-4o")
    assert sent == body.replace(b'"model":"m"', b'"model":"gpt-4o"')  # no space to lose here


def test_null_stream_options_still_gain_the_usage_option() -> None:
    body = b'{"model":"m","stream":true,"stream_options":null,"messages":' + CONVERSATION + b"}"
    data = orjson.loads(CHAT.same_wire_body(CHAT.parse(body), "gpt-4o"))
    assert data["stream_options"] == {"include_usage": True}


def test_other_stream_options_are_kept_beside_the_usage_option() -> None:
    body = b'{"model":"m","stream":true,"stream_options":{"x":1},"messages":' + CONVERSATION + b"}"
    data = orjson.loads(CHAT.same_wire_body(CHAT.parse(body), "gpt-4o"))
    assert data["stream_options"] == {"x": 1, "include_usage": True}
    assert data["model"] == "gpt-4o"


def test_a_messages_request_changes_only_its_model() -> None:
    body = b'{"model" : "m", "max_tokens": 9, "stream": true, "messages": ' + CONVERSATION + b"}"
    sent = MESSAGES.same_wire_body(MESSAGES.parse(body), "claude-sonnet-4-5")
    assert values(sent) == {**values(body), "model": b'"claude-sonnet-4-5"'}
    assert list(values(sent)) == list(values(body))  # in the client's order


def test_the_same_model_leaves_the_body_as_it_came() -> None:
    body = b'{"model" : "m",  "messages": ' + CONVERSATION + b"}"
    assert MESSAGES.same_wire_body(MESSAGES.parse(body), "m") is body


def test_a_model_in_the_conversation_or_twice_at_the_top_is_no_confusion() -> None:
    """A tool's input may hold a "model" pair, and JSON readers keep the last of two
    top-level members of one name: only the top-level model changes, as readers read it."""
    inner = b'[{"role":"user","content":[{"type":"tool_result","content":{"model":"m"}}]}]'
    body = b'{"model":"x","messages":' + inner + b',"model":"m"}'
    sent = MESSAGES.same_wire_body(MESSAGES.parse(body), "claude-opus-4-1")
    assert orjson.loads(sent) == {**orjson.loads(body), "model": "claude-opus-4-1"}
    assert inner in sent


def test_the_head_holds_the_fields_routing_reads_and_only_the_kind_of_the_conversation() -> None:
    body = orjson.dumps(
        {
            "tools": [{"name": "t", "input_schema": {"properties": {"model": {"type": "string"}}}}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": '"model": "x"'}]}],
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "model": "claude-opus-4-1",
            "stream": False,
            "max_tokens": 100,
        }
    )
    head = read_head(body)
    assert head["model"] == "claude-opus-4-1"  # the top-level one, not a schema's or a text's
    assert head["stream"] is False
    assert head["max_tokens"] == 100
    assert head["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert head["messages"] == "list"
    assert "tools" not in head


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the request body is empty"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"model": "m", "messages": [1, 2,]}', "not valid JSON"),
        (b'{"model": "m", "messages": []', "not valid JSON"),
        (b'{"model": "m", "messages": ["\\q"]}', "not valid JSON"),
        (b'{"model": "m", "messages": []} and more', "not valid JSON"),
        (b'{"model": "m", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nests deeper"),
    ],
)
def test_a_broken_body_is_refused_before_any_path(body: bytes, message: str) -> None:
    with pytest.raises(ClientRequestError) as refused:
        MESSAGES.parse(body)
    assert refused.value.status == 400
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("codec", "body", "message"),
    [
        (CHAT, b'{"model": "m", "messages": []}', "'messages' must be a non-empty list"),
        (CHAT, b'{"model": "m", "messages": "hi"}', "'messages' must be a non-empty list"),
        (MESSAGES, b'{"model": "m", "messages": {}}', "messages: Field required"),
        (MESSAGES, b'{"model": "m", "messages": [], "stop_sequences": "x"}', "a list of strings"),
        (RESPONSES, b'{"model": "m", "input": 3}', "'input' must be a string or a list"),
        (RESPONSES, b'{"model": "m", "input": [], "previous_response_id": "r"}', "stored"),
        (CHAT, b'{"model": 7, "messages": [{}]}', "no 'model'"),
    ],
)
def test_a_wrong_shape_is_told_in_the_codecs_words(
    codec: object, body: bytes, message: str
) -> None:
    with pytest.raises(ClientRequestError) as refused:
        codec.parse(body)  # type: ignore[attr-defined]
    assert message in str(refused.value)


def test_the_whole_body_is_parsed_on_first_use_and_matches_the_bytes() -> None:
    body = b'{"model":"m","messages":' + CONVERSATION + b',"temperature":0.5}'
    request = CHAT.parse(body)
    assert request.data == orjson.loads(body)
    assert request.data is request.data  # parsed once


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(extra=st.dictionaries(st.text(max_size=8), _json, max_size=4), model=st.text(min_size=1))
def test_the_head_agrees_with_a_whole_parse(extra: dict[str, object], model: str) -> None:
    data = {**extra, "model": model, "messages": [{"role": "user", "content": "hi"}]}
    body = orjson.dumps(data)
    head = read_head(body)
    whole = orjson.loads(body)
    for name, value in head.items():
        if name == "messages":
            assert value == "list"
        else:
            assert whole[name] == value


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    extra=st.dictionaries(st.text(max_size=8), _json, max_size=4),
    model=st.text(min_size=1, max_size=20),
    stream=st.booleans(),
)
def test_a_same_wire_body_is_the_request_with_only_its_model_and_usage_option_changed(
    extra: dict[str, object], model: str, stream: bool
) -> None:
    data = {**extra, "model": "client-model", "messages": [{"role": "user", "content": "hi"}]}
    data["stream"] = stream
    data.pop("stream_options", None)
    sent = orjson.loads(CHAT.same_wire_body(CHAT.parse(orjson.dumps(data)), model))
    expected = {**data, "model": model}
    if stream:
        expected["stream_options"] = {"include_usage": True}
    assert sent == expected
