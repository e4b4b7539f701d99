"""OpenAI Chat Completions: `POST /v1/chat/completions`, errors as `{"error": {...}}`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from turnout.errors import ClientRequestError
from turnout.wire import hub
from turnout.wire.base import (
    FieldRule,
    ParsedRequest,
    check_fields,
    parse_json_object,
    require_model,
    text_or_text_list,
)
from turnout.wire.chat import requests, streams, whole
from turnout.wire.head import is_list, read_head, with_model
from turnout.wire.sse import Event

ERROR_TYPES = {
    "auth": "authentication_error",
    "permission": "permission_error",
    "quota": "insufficient_quota",
    "rate_limit": "rate_limit_exceeded",
    "overloaded": "server_overloaded",
    "model_not_found": "invalid_request_error",
    "context_length": "invalid_request_error",
    "invalid_request": "invalid_request_error",
    "payload_too_large": "invalid_request_error",
    "content_policy": "invalid_request_error",
}


def openai_error(category: str, message: str, extra: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's error object; the Responses API answers errors in the same shape."""
    return {
        "message": message,
        "type": ERROR_TYPES.get(category, "api_error"),
        "param": extra.get("param"),
        "code": extra.get("code", category),
        "turnout": extra,
    }


def openai_error_body(category: str, message: str, extra: dict[str, Any]) -> bytes:
    return orjson.dumps({"error": openai_error(category, message, extra)})


def parse_embeddings(body: bytes) -> ParsedRequest:
    """`POST /v1/embeddings`: a model and an `input` of text (or token arrays)."""
    data = parse_json_object(body)
    model = require_model(data)
    if not isinstance(data.get("input"), str | list) or not data["input"]:
        raise ClientRequestError(400, "'input' must be a string or a non-empty list")
    if data.get("stream"):
        raise ClientRequestError(400, "embeddings are not streamed: leave out 'stream'")
    return ParsedRequest(body, data, model, False)


def wants_usage(data: Mapping[str, Any]) -> bool:
    options = data.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


#: Fields a translation reads, with the type it needs.
_FIELDS: dict[str, FieldRule] = {"stop": (text_or_text_list, "a string or a list of strings")}


#: Put first in a streamed request's object, so the upstream reports usage in its last chunk.
_USAGE_OPTION = {"stream_options": b'{"include_usage":true}'}


class ChatCodec:
    name = "openai"
    cannot_carry = requests.CANNOT_CARRY

    def parse(self, body: bytes) -> ParsedRequest:
        head = read_head(body)
        model = require_model(head)
        if not is_list(head, "messages", empty=False):
            raise ClientRequestError(400, "'messages' must be a non-empty list")
        check_fields(head, _FIELDS)
        return ParsedRequest(body, None, model, head.get("stream") is True, head)

    def error_body(self, status: int, category: str, message: str, extra: dict[str, Any]) -> bytes:
        return openai_error_body(category, message, extra)

    def error_event(
        self, category: str, message: str, extra: dict[str, Any], told: Sequence[Event] = ()
    ) -> bytes:
        return b"data: " + openai_error_body(category, message, extra) + b"\n\n"

    # The hub's side of this wire: its modules' own functions, as they are.
    decode_request = staticmethod(requests.decode)
    encode_request = staticmethod(requests.encode)
    decode_response = staticmethod(whole.decode)
    encode_response = staticmethod(whole.encode)
    stream_decoder = staticmethod(streams.Decoder)
    carries_content = staticmethod(streams.carries_content)
    is_error_event = staticmethod(streams.is_error_event)

    def stream_encoder(self, model: str, request: hub.Request) -> streams.Encoder:
        return streams.Encoder(model, request.include_usage)

    def same_wire_body(self, request: ParsedRequest, model: str) -> bytes:
        if request.stream and not wants_usage(request.head):
            # Ask for the usage chunk the ledger needs; the relay keeps it from the client.
            options = request.head.get("stream_options")
            if options is not None:  # rare: other stream options, kept, and the body rewritten
                merged = {**(options if isinstance(options, dict) else {}), "include_usage": True}
                return orjson.dumps({**request.data, "model": model, "stream_options": merged})
            # The common case, in bytes: a megabyte of conversation is not written again.
            return with_model(request, model, first=_USAGE_OPTION)
        return with_model(request, model)

    def passthrough(self, data: Mapping[str, Any]) -> streams.Passthrough:
        return streams.Passthrough(hide_usage=not wants_usage(data))

    def usage(self, data: dict[str, Any], current: hub.Usage) -> hub.Usage | None:
        block = data.get("usage")
        return whole.read_usage(block) if isinstance(block, dict) else None


CHAT = ChatCodec()
