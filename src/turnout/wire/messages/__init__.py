"""Anthropic Messages: `POST /v1/messages`, errors as `{"type": "error", "error": {...}}`."""

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
    require_model,
    text_list,
)
from turnout.wire.head import is_list, read_head, with_model
from turnout.wire.messages import requests, streams, whole
from turnout.wire.sse import Event

ERROR_TYPES = {
    "auth": "authentication_error",
    "permission": "permission_error",
    "quota": "invalid_request_error",  # as Anthropic answers "out of extra usage"
    "rate_limit": "rate_limit_error",
    "overloaded": "overloaded_error",
    "model_not_found": "not_found_error",
    "context_length": "invalid_request_error",
    "invalid_request": "invalid_request_error",
    "content_policy": "invalid_request_error",
    "payload_too_large": "request_too_large",
}
#: Anthropic's documented error type for each status, which wins over the category's.
_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


#: Fields a translation reads, with the type it needs.
_FIELDS: dict[str, FieldRule] = {"stop_sequences": (text_list, "a list of strings")}


def _error(category: str, message: str) -> dict[str, str]:
    return {"type": ERROR_TYPES.get(category, "api_error"), "message": message}


class MessagesCodec:
    name = "anthropic"
    cannot_carry = requests.CANNOT_CARRY

    def parse(self, body: bytes) -> ParsedRequest:
        head = read_head(body)
        model = require_model(head)
        if not is_list(head, "messages"):
            raise ClientRequestError(400, "messages: Field required (a list of messages)")
        check_fields(head, _FIELDS)
        return ParsedRequest(body, None, model, head.get("stream") is True, head)

    def error_body(self, status: int, category: str, message: str, extra: dict[str, Any]) -> bytes:
        error = _error(category, message)
        error["type"] = _STATUS_TYPES.get(status, error["type"])
        return orjson.dumps({"type": "error", "error": error, "turnout": extra})

    def error_event(
        self, category: str, message: str, extra: dict[str, Any], told: Sequence[Event] = ()
    ) -> bytes:
        payload = {"type": "error", "error": _error(category, message), "turnout": extra}
        return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"

    # The hub's side of this wire: its modules' own functions, as they are.
    decode_request = staticmethod(requests.decode)
    encode_request = staticmethod(requests.encode)
    decode_response = staticmethod(whole.decode)
    encode_response = staticmethod(whole.encode)
    stream_decoder = staticmethod(streams.Decoder)
    carries_content = staticmethod(streams.carries_content)
    is_error_event = staticmethod(streams.is_error_event)

    def stream_encoder(self, model: str, request: hub.Request) -> streams.Encoder:
        return streams.Encoder(model)

    def same_wire_body(self, request: ParsedRequest, model: str) -> bytes:
        return with_model(request, model)

    def passthrough(self, data: Mapping[str, Any]) -> streams.Passthrough:
        return streams.Passthrough()

    def usage(self, data: dict[str, Any], current: hub.Usage) -> hub.Usage | None:
        block = data.get("usage")
        if not isinstance(block, dict) and isinstance(data.get("message"), dict):
            block = data["message"].get("usage")
        return whole.merge_usage(current, block) if isinstance(block, dict) else None


MESSAGES = MessagesCodec()
