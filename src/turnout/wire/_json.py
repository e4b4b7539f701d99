"""Reading JSON that upstreams and clients send loosely: nulls, wrong types, missing keys."""

from __future__ import annotations

import uuid
from typing import Any

import orjson


def as_dict(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one: upstreams send nulls freely."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def as_text(value: object) -> str:
    return value if isinstance(value, str) else ""


def count(value: object) -> int:
    """A token count: a non-negative int, or 0 for anything else (booleans included)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def load_object(raw: object) -> dict[str, Any] | None:
    """JSON text as an object ({} for empty text), or None when it is not a JSON object."""
    text = as_text(raw).strip()
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def dump(value: object) -> str:
    return orjson.dumps(value).decode()


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}{uuid.uuid4().hex[:length]}"


def prefixed(upstream_id: object, prefix: str) -> str:
    """An id in the client's wire that still shows the upstream's (`msg_chatcmpl-…`)."""
    text = as_text(upstream_id) or uuid.uuid4().hex
    return text if text.startswith(prefix) else f"{prefix}{text}"
