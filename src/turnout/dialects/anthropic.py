"""Anthropic messages: `POST /v1/messages`, errors as `{"type": "error", "error": {...}}`."""

from __future__ import annotations

from typing import Any

import orjson

from turnout.dialects.base import (
    FieldRule,
    ParsedRequest,
    check_fields,
    parse_json_object,
    require_model,
    text_list,
)
from turnout.errors import ClientRequestError

_ERROR_TYPES = {
    "auth": "authentication_error",
    "permission": "permission_error",
    "quota": "rate_limit_error",
    "rate_limit": "rate_limit_error",
    "overloaded": "overloaded_error",
    "model_not_found": "not_found_error",
    "context_length": "invalid_request_error",
    "invalid_request": "invalid_request_error",
    "content_policy": "invalid_request_error",
    "payload_too_large": "request_too_large",
}


#: Fields a translation reads, with the type it needs.
_FIELDS: dict[str, FieldRule] = {"stop_sequences": (text_list, "a list of strings")}


class AnthropicDialect:
    name = "anthropic"

    def parse(self, body: bytes) -> ParsedRequest:
        data = parse_json_object(body)
        model = require_model(data)
        messages = data.get("messages")
        if not isinstance(messages, list):
            raise ClientRequestError(400, "messages: Field required (a list of messages)")
        check_fields(data, _FIELDS)
        return ParsedRequest(body, data, model, data.get("stream") is True)

    def error_body(self, status: int, category: str, message: str, extra: dict[str, Any]) -> bytes:
        return orjson.dumps(
            {"type": "error", "error": self._error(category, message), "turnout": extra}
        )

    def error_event(self, category: str, message: str, extra: dict[str, Any]) -> bytes:
        payload = {"type": "error", "error": self._error(category, message), "turnout": extra}
        return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"

    @staticmethod
    def _error(category: str, message: str) -> dict[str, str]:
        return {"type": _ERROR_TYPES.get(category, "api_error"), "message": message}
