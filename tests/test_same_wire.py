"""A same-wire request leaves the conversation's bytes as the client sent them: only the model
(and, for a streamed Chat request, the usage option the ledger needs) changes."""

from __future__ import annotations

import orjson

from turnout.wire import CHAT

MESSAGES = b'[{"role":"user","content":"keep   these bytes \\u00e9 exactly"}]'


def test_a_streamed_chat_request_gains_the_usage_option_without_being_rewritten() -> None:
    body = b'{"model":"m","stream":true,"messages":' + MESSAGES + b"}"
    sent = CHAT.same_wire_body(CHAT.parse(body), "gpt-4o")
    assert MESSAGES in sent  # the conversation is the client's bytes, not a re-serialisation
    data = orjson.loads(sent)
    assert data["model"] == "gpt-4o"
    assert data["stream_options"] == {"include_usage": True}
    assert data["messages"] == orjson.loads(MESSAGES)


def test_a_client_that_asked_for_usage_is_left_as_it_asked() -> None:
    body = (
        b'{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":'
        + MESSAGES
        + b"}"
    )
    sent = CHAT.same_wire_body(CHAT.parse(body), "gpt-4o")
    assert sent == body.replace(b'"model":"m"', b'"model":"gpt-4o"')


def test_other_stream_options_are_replaced_by_the_usage_option() -> None:
    body = b'{"model":"m","stream":true,"stream_options":{"x":1},"messages":' + MESSAGES + b"}"
    data = orjson.loads(CHAT.same_wire_body(CHAT.parse(body), "gpt-4o"))
    assert data["stream_options"] == {"include_usage": True}
    assert data["model"] == "gpt-4o"
