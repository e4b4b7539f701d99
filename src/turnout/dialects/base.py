"""What a dialect must say: how to read a request, write an error and follow a stream."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from turnout.errors import ClientRequestError


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    body: bytes
    data: dict[str, Any]
    model: str
    stream: bool


class Dialect(Protocol):
    name: str

    def parse(self, body: bytes) -> ParsedRequest: ...

    def error_body(
        self, status: int, category: str, message: str, extra: dict[str, Any]
    ) -> bytes: ...

    def error_event(self, category: str, message: str, extra: dict[str, Any]) -> bytes: ...


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a ClientRequestError saying what is wrong."""
    if not body:
        raise ClientRequestError(400, "the request body is empty; send a JSON object")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ClientRequestError(400, f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ClientRequestError(400, "the request body must be a JSON object")
    return data


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


def replace_model(body: bytes, old: str, new: str) -> bytes:
    """The same body with only the top-level model changed; untouched bytes elsewhere.

    When the model string occurs once as a `"model": "..."` pair, only those bytes change;
    otherwise (escapes, duplicates) the body is re-serialised.
    """
    if old == new:
        return body
    old_json = orjson.dumps(old)
    pattern = re.compile(rb'"model"\s*:\s*' + re.escape(old_json))
    matches = pattern.findall(body)
    if len(matches) == 1:
        return pattern.sub(lambda m: m.group(0)[: -len(old_json)] + orjson.dumps(new), body, 1)
    data = orjson.loads(body)
    data["model"] = new
    return orjson.dumps(data)
