"""Anthropic messages: `POST /v1/messages`, errors as `{"type": "error", "error": {...}}`."""

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
    text_list,
)

_ERROR_TYPES = {
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
        error = self._error(category, message)
        error["type"] = _STATUS_TYPES.get(status, error["type"])
        return orjson.dumps({"type": "error", "error": error, "turnout": extra})

    def error_event(self, category: str, message: str, extra: dict[str, Any]) -> bytes:
        payload = {"type": "error", "error": self._error(category, message), "turnout": extra}
        return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"

    @staticmethod
    def _error(category: str, message: str) -> dict[str, str]:
        return {"type": _ERROR_TYPES.get(category, "api_error"), "message": message}
