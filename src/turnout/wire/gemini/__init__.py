"""Google's Gemini API: `POST /v1beta/models/{model}:generateContent` and
`:streamGenerateContent?alt=sse`, errors as `{"error": {"code", "message", "status"}}`.

The model is in the URL and streaming is the endpoint, so the edge reads a request with
`parse_for`; `parse` alone (a body) serves a request whose data already names them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from turnout.errors import ClientRequestError
from turnout.wire import hub
from turnout.wire.base import ParsedRequest, parse_json_object
from turnout.wire.gemini import requests, streams, whole
from turnout.wire.gemini.requests import field
from turnout.wire.sse import Event

#: Google's canonical status names, by HTTP status, then by category.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
CATEGORY_STATUS = {
    "auth": (401, "UNAUTHENTICATED"),
    "permission": (403, "PERMISSION_DENIED"),
    "quota": (429, "RESOURCE_EXHAUSTED"),
    "rate_limit": (429, "RESOURCE_EXHAUSTED"),
    "overloaded": (503, "UNAVAILABLE"),
    "server_error": (500, "INTERNAL"),
    "timeout": (504, "DEADLINE_EXCEEDED"),
    "connection": (503, "UNAVAILABLE"),
    "endpoint_not_found": (404, "NOT_FOUND"),
    "model_not_found": (404, "NOT_FOUND"),
}


def google_error(
    status: int | None, category: str, message: str, extra: dict[str, Any]
) -> dict[str, Any]:
    code, name = CATEGORY_STATUS.get(category, (400, "INVALID_ARGUMENT"))
    if status is not None:
        code, name = status, STATUS_NAMES.get(status, name)
    return {"error": {"code": code, "message": message, "status": name, "turnout": extra}}


class GeminiCodec:
    name = "gemini"
    cannot_carry = requests.CANNOT_CARRY

    def parse(self, body: bytes) -> ParsedRequest:
        data = parse_json_object(body)
        return self._parsed(body, data, str(data.get("model") or ""), data.get("stream") is True)

    def parse_for(self, body: bytes, model: str, stream: bool) -> ParsedRequest:
        """A request to `models/{model}:generateContent` (or the streaming endpoint)."""
        data = parse_json_object(body)
        if any(key in data for key in requests.EDGE_KEYS):
            raise ClientRequestError(
                400, 'Invalid JSON payload received. Unknown name "model" or "stream".'
            )
        return self._parsed(body, {**data, "model": model, "stream": stream}, model, stream)

    @staticmethod
    def _parsed(body: bytes, data: dict[str, Any], model: str, stream: bool) -> ParsedRequest:
        if not isinstance(data.get("contents"), list) or not data["contents"]:
            raise ClientRequestError(
                400, "* GenerateContentRequest.contents: contents is not specified"
            )
        if not model:
            raise ClientRequestError(
                400, "the request names no model (models/{model}:generateContent)"
            )
        return ParsedRequest(body, data, model, stream)

    def error_body(self, status: int, category: str, message: str, extra: dict[str, Any]) -> bytes:
        return orjson.dumps(google_error(status, category, message, extra))

    def error_event(
        self, category: str, message: str, extra: dict[str, Any], told: Sequence[Event] = ()
    ) -> bytes:
        return b"data: " + orjson.dumps(google_error(None, category, message, extra)) + b"\n\n"

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
        """The model is in the URL: the client's bytes go as they came."""
        return request.body

    def passthrough(self, data: Mapping[str, Any]) -> streams.Passthrough:
        return streams.Passthrough()

    def usage(self, data: dict[str, Any], current: hub.Usage) -> hub.Usage | None:
        """Each event's usage is the total so far."""
        block = field(data, "usageMetadata")
        return whole.read_usage(block) if isinstance(block, dict) else None


GEMINI = GeminiCodec()
