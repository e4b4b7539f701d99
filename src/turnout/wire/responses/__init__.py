"""OpenAI Responses: `POST /v1/responses`, errors in OpenAI's `{"error": {...}}` shape.

turnout keeps no responses: a request must carry its whole conversation (`store: false`, as
Codex sends it). `previous_response_id` and `conversation` are refused with what to send
instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from turnout.errors import ClientRequestError
from turnout.wire import hub
from turnout.wire.base import ParsedRequest, require_model
from turnout.wire.chat import openai_error, openai_error_body
from turnout.wire.head import is_list, read_head, with_model
from turnout.wire.responses import requests, streams, whole
from turnout.wire.sse import Event

#: Fields that need responses stored at the gateway, which turnout does not keep.
STATEFUL = ("previous_response_id", "conversation")


class ResponsesCodec:
    name = "responses"
    cannot_carry = requests.CANNOT_CARRY

    def parse(self, body: bytes) -> ParsedRequest:
        head = read_head(body)
        model = require_model(head)
        for field in STATEFUL:
            if head.get(field):
                raise ClientRequestError(
                    400,
                    f"turnout keeps no stored responses, so '{field}' cannot be resolved: send "
                    "the whole conversation in 'input' with \"store\": false (and include "
                    '"reasoning.encrypted_content" to keep reasoning between turns)',
                    code="unsupported_parameter",
                )
        if head.get("background") is True:
            raise ClientRequestError(
                400, "turnout answers in the foreground only: send 'background': false"
            )
        if not (is_list(head, "input") or head.get("input") == "string"):
            raise ClientRequestError(400, "'input' must be a string or a list of input items")
        return ParsedRequest(body, None, model, head.get("stream") is True, head)

    def error_body(self, status: int, category: str, message: str, extra: dict[str, Any]) -> bytes:
        return openai_error_body(category, message, extra)

    def error_event(
        self, category: str, message: str, extra: dict[str, Any], told: Sequence[Event] = ()
    ) -> bytes:
        """An `error` event, then `response.failed`: clients that follow the lifecycle and
        clients that watch for errors both see the stream end in failure. Both are numbered
        after what the client was told, and the response that failed is the one it was told
        of (its id, the items it had whole), as every event of a Responses stream is."""
        code = openai_error(category, message, extra)["code"]
        sequence, told_response, output = streams.told_so_far(told)
        event = {"type": "error", "code": code, "message": message, "param": None}
        response = {
            "object": "response", **told_response, "status": "failed",
            "error": {"code": code, "message": message}, "output": output,
        }  # fmt: skip
        failed = {"type": "response.failed", "response": response}
        return (
            b"event: error\ndata: "
            + orjson.dumps({**event, "sequence_number": sequence, "turnout": extra})
            + b"\n\nevent: response.failed\ndata: "
            + orjson.dumps({**failed, "sequence_number": sequence + 1})
            + b"\n\n"
        )

    # The hub's side of this wire: its modules' own functions, as they are.
    decode_request = staticmethod(requests.decode)
    encode_request = staticmethod(requests.encode)
    decode_response = staticmethod(whole.decode)
    encode_response = staticmethod(whole.encode)
    stream_decoder = staticmethod(streams.Decoder)
    carries_content = staticmethod(streams.carries_content)
    is_error_event = staticmethod(streams.is_error_event)

    def stream_encoder(self, model: str, request: hub.Request) -> streams.Encoder:
        return streams.Encoder(model, request)

    def same_wire_body(self, request: ParsedRequest, model: str) -> bytes:
        return with_model(request, model)

    def passthrough(self, data: Mapping[str, Any]) -> streams.Passthrough:
        return streams.Passthrough()

    def usage(self, data: dict[str, Any], current: hub.Usage) -> hub.Usage | None:
        block = data.get("usage")
        if not isinstance(block, dict):
            block = dict(data.get("response") or {}).get("usage")
        return whole.read_usage(block) if isinstance(block, dict) else None


RESPONSES = ResponsesCodec()
