"""A request's top-level fields, read without building its conversation.

Agents send the whole conversation on every turn (100 KB to 1 MB). A path that speaks the
client's wire needs a few top-level fields of it: the model, whether to stream, the usage
option, the output cap, what reasoning is asked for. msgspec reads those and skips the rest
in C without making a Python object of each message: about half of `orjson.loads`' time on
agent-sized bodies (`scripts/bench_parse.py`). The whole body is parsed only where
it is needed: a translation, a continuation, an error to mask.

The skipped parts are checked as JSON (syntax, escapes, nesting within the interpreter's
limit) but not as UTF-8: a same-wire upstream reads those bytes as sent and says so itself.

The raw values are kept (`Head.raw`), so a same-wire body is written again from them
(`with_model`): the top level anew, every value but the model's as the client's bytes, in one
copy, without searching the conversation for the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import orjson

from turnout.errors import ClientRequestError
from turnout.wire.base import TOO_DEEP, ParsedRequest, replace_model

#: The top-level fields any codec reads before a path is chosen, decoded.
SMALL = frozenset(
    {
        "model",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "max_output_tokens",
        "reasoning_effort",
        "reasoning",
        "thinking",
        "stop",
        "stop_sequences",
        "background",
        "previous_response_id",
        "conversation",
    }
)
#: Fields whose values are the conversation: told by kind (`Shape`), never decoded here.
CONVERSATION = frozenset({"messages", "input"})
#: Every top-level value kept as its raw bytes: skipped in C, never made into objects.
_DECODER = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ENCODER = msgspec.json.Encoder()


class Head(dict[str, Any]):
    """The decoded top-level fields, and every top-level value as the client's bytes."""

    __slots__ = ("raw",)

    def __init__(self, fields: dict[str, Any], raw: dict[str, msgspec.Raw]) -> None:
        super().__init__(fields)
        self.raw = raw


class Shape(str):
    """What kind of JSON value a conversation field holds: "list", "empty list", "string",
    "object", "null", "number" or "boolean"."""


def _shape(raw: msgspec.Raw) -> Shape:
    start = bytes(memoryview(raw)[:64]).lstrip()
    first = start[:1]
    if first == b"[":
        return Shape("empty list" if start[1:].lstrip()[:1] == b"]" else "list")
    return Shape(
        {b'"': "string", b"{": "object", b"n": "null", b"t": "boolean", b"f": "boolean"}.get(
            first, "number"
        )
    )


def read_head(body: bytes) -> Head:
    """The top-level fields of a request object, decoded, with each conversation field as
    its `Shape`; absent fields are left out. A ClientRequestError says what is wrong."""
    if not body:
        raise ClientRequestError(400, "the request body is empty; send a JSON object")
    try:
        raw_fields = _DECODER.decode(body)
    except msgspec.ValidationError as exc:
        raise ClientRequestError(400, "the request body must be a JSON object") from exc
    except msgspec.DecodeError as exc:
        raise ClientRequestError(400, f"the request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ClientRequestError(400, TOO_DEEP) from exc
    fields: dict[str, Any] = {}
    for name, raw in raw_fields.items():
        if name in SMALL:
            try:
                fields[name] = orjson.loads(memoryview(raw))
            except orjson.JSONDecodeError as exc:
                raise ClientRequestError(
                    400, f"the request body is not valid JSON: '{name}': {exc}"
                ) from exc
        elif name in CONVERSATION:
            fields[name] = _shape(raw)
    return Head(fields, raw_fields)


def with_model(
    request: ParsedRequest, model: str, first: Mapping[str, bytes] | None = None
) -> bytes:
    """The request's body for a path with `model`, and `first` (names and JSON values) put
    first: a top level written again whose other values are the client's bytes, copied.

    Two top-level members of one name (which JSON leaves undefined) become one, the last, as
    every common JSON reader reads them. A body not read by `read_head` has its model found
    by pattern instead (`replace_model`)."""
    if model == request.model and not first:
        return request.body
    head = request.head
    if not isinstance(head, Head):
        return replace_model(
            request.body,
            request.model,
            model,
            b"".join(
                orjson.dumps(name) + b":" + value + b"," for name, value in (first or {}).items()
            ),
        )
    members = {name: msgspec.Raw(value) for name, value in (first or {}).items()}
    for name, value in head.raw.items():
        members.setdefault(name, value)  # what `first` sets wins (over a client's null)
    members["model"] = msgspec.Raw(orjson.dumps(model))
    return _ENCODER.encode(members)


def is_list(head: Mapping[str, Any], name: str, *, empty: bool = True) -> bool:
    """Whether the head's conversation field `name` is a list (a non-empty one if not `empty`)."""
    shape = head.get(name)
    return shape == "list" or (empty and shape == "empty list")
