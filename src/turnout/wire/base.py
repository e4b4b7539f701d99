"""What a dialect must say: how to read a request, write an error and follow a stream."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import orjson

from turnout.errors import ClientRequestError
from turnout.wire.sse import Event


class ParsedRequest:
    """A client's request: its bytes, the top-level fields routing reads (`head`), and the
    whole body parsed on first use of `data` (a same-wire path never asks for it)."""

    __slots__ = ("_data", "body", "head", "model", "stream")

    def __init__(
        self,
        body: bytes,
        data: dict[str, Any] | None,
        model: str,
        stream: bool,
        head: Mapping[str, Any] | None = None,
    ) -> None:
        self.body = body
        self._data = data
        self.model = model
        self.stream = stream
        self.head: Mapping[str, Any] = head if head is not None else (data or {})

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = parse_json_object(self.body)
        return self._data


class Dialect(Protocol):
    name: str

    def parse(self, body: bytes) -> ParsedRequest: ...

    def error_body(
        self, status: int, category: str, message: str, extra: dict[str, Any]
    ) -> bytes: ...

    def error_event(
        self, category: str, message: str, extra: dict[str, Any], told: Sequence[Event] = ()
    ) -> bytes:
        """The event that ends a stream in failure. `told`: the events the client already had
        in this stream; a wire that numbers its events numbers the error after them."""
        ...


#: How deep a request body may nest. Real requests, JSON Schemas of tools included, stay far
#: below; the gateway's JSON writer stops at 254 levels and a translation adds a few, so a
#: deeper body would fail inside the gateway, after routing, instead of here.
MAX_JSON_DEPTH = 128
TOO_DEEP = (
    f"the request body nests deeper than {MAX_JSON_DEPTH} levels of objects and arrays; "
    "flatten it (a tool's input_schema rarely needs more than ten)"
)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a ClientRequestError saying what is wrong."""
    if not body:
        raise ClientRequestError(400, "the request body is empty; send a JSON object")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise ClientRequestError(400, TOO_DEEP) from exc
        raise ClientRequestError(400, f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ClientRequestError(400, "the request body must be a JSON object")
    # A body cannot nest deeper than it has openers: most are not even walked.
    if body.count(b"{") + body.count(b"[") > MAX_JSON_DEPTH and nests_deeper(data):
        raise ClientRequestError(400, TOO_DEEP)
    return data


#: orjson writes at most 254 levels; wrapped in this many arrays, a body writes only if it
#: nests at most MAX_JSON_DEPTH levels itself.
_WRAP = 254 - MAX_JSON_DEPTH


def nests_deeper(data: object) -> bool:
    """Whether objects and arrays nest more than MAX_JSON_DEPTH levels. Asked of the JSON
    writer (a tenth of a millisecond for a large agent request) rather than a walk in Python
    (fifty times that); it is the writer a translation would fail in."""
    for _ in range(_WRAP):
        data = [data]
    try:
        orjson.dumps(data)
    except orjson.JSONEncodeError:
        return True
    return False


#: A field's test and what the field must be, for `check_fields`.
FieldRule = tuple[Callable[[Any], bool], str]


def text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def text_or_text_list(value: Any) -> bool:
    return isinstance(value, str) or text_list(value)


def check_fields(data: Mapping[str, Any], rules: Mapping[str, FieldRule]) -> None:
    """Refuse a field of the wrong type (null means unset) before any path is tried: a
    translation would otherwise meet it after routing, and a same-dialect path would refuse it
    anyway."""
    for name, (fits, wanted) in rules.items():
        value = data.get(name)
        if value is not None and not fits(value):
            raise ClientRequestError(400, f"'{name}' must be {wanted}")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def require_model(data: dict[str, Any]) -> str:
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise ClientRequestError(400, "the request has no 'model' (a string naming the model)")
    if _CONTROL.search(model) or len(model) > 256:
        raise ClientRequestError(
            400, "'model' must be a model name: printable, at most 256 characters"
        )
    return model


def replace_model(body: bytes, old: str, new: str, first: bytes = b"") -> bytes:
    """The same body with only the top-level model changed (and `first`, members ending in a
    comma, put first in the object); untouched bytes elsewhere, written in one copy.

    When the model string occurs once as a `"model": "..."` pair, only those bytes change;
    otherwise (escapes, duplicates) the body is re-serialised.
    """
    if old == new and not first:
        return body
    old_json = orjson.dumps(old)
    pattern = re.compile(rb'"model"\s*:\s*' + re.escape(old_json))
    found = [match for match, _ in zip(pattern.finditer(body), range(2), strict=False)]
    if len(found) == 1:
        value_at = found[0].end() - len(old_json)
        start = body.index(b"{") + 1
        return b"".join(
            (body[:start], first, body[start:value_at], orjson.dumps(new), body[found[0].end() :])
        )
    data = orjson.loads(body)
    data["model"] = new
    if first:
        data = {**orjson.loads(b"{" + first.rstrip(b",") + b"}"), **data}
    return orjson.dumps(data)
