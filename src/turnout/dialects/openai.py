"""OpenAI chat completions: `POST /v1/chat/completions`, errors as `{"error": {...}}`."""

from __future__ import annotations

from typing import Any

import orjson

from turnout.errors import ClientRequestError
from turnout.wire.base import (
    FieldRule,
    ParsedRequest,
    check_fields,
    parse_json_object,
    require_model,
    text_or_text_list,
)

_ERROR_TYPES = {
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


#: Fields a translation reads, with the type it needs.
_FIELDS: dict[str, FieldRule] = {"stop": (text_or_text_list, "a string or a list of strings")}


class OpenAIDialect:
    name = "openai"

    def parse(self, body: bytes) -> ParsedRequest:
        data = parse_json_object(body)
        model = require_model(data)
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ClientRequestError(400, "'messages' must be a non-empty list")
        check_fields(data, _FIELDS)
        return ParsedRequest(body, data, model, data.get("stream") is True)

    def error_body(self, status: int, category: str, message: str, extra: dict[str, Any]) -> bytes:
        return orjson.dumps({"error": self._error(category, message, extra)})

    def error_event(self, category: str, message: str, extra: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps({"error": self._error(category, message, extra)}) + b"\n\n"

    @staticmethod
    def _error(category: str, message: str, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "message": message,
            "type": _ERROR_TYPES.get(category, "api_error"),
            "param": None,
            "code": extra.get("code", category),
            "turnout": extra,
        }
