"""Logging for `turnout serve`: JSON lines for machines, plain text for a person at a terminal.

A JSON line is one object: `ts`, `level`, `logger`, `message`, `request_id` (of the request
being served, when there is one) and any `extra=` fields. Whatever the format, the configured
secrets (by value) and text shaped like a credential (`sk-...`, `AIza...`, a bearer token) are
masked before a line is written: the gateway never logs keys on purpose, and this catches the
accidents (an upstream echoing a key in an error body, an exception repr).
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from turnout.redaction import SecretMask, mask_shapes

__all__ = ["REQUEST_ID", "JsonFormatter", "TextFormatter", "redact", "setup_logging"]

#: The id of the request the current task serves; set where a request starts.
REQUEST_ID: ContextVar[str | None] = ContextVar("turnout_request_id", default=None)

#: Attributes every LogRecord has: anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


def redact(text: str) -> str:
    """`text` with anything shaped like a credential masked (see `turnout.redaction`)."""
    return mask_shapes(text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id and `extra=` fields."""

    def __init__(self, mask: SecretMask | None = None) -> None:
        super().__init__()
        self._mask = mask if mask is not None else SecretMask()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self._mask.text(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = self._mask.text(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = self._mask.text(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """The human format: time, level, logger, message (masked like the JSON one)."""

    def __init__(self, mask: SecretMask | None = None) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self._mask = mask if mask is not None else SecretMask()

    def format(self, record: logging.LogRecord) -> str:
        return self._mask.text(super().format(record))


def setup_logging(
    level: str = "info", stream: TextIO | None = None, mask: SecretMask | None = None
) -> logging.Handler:
    """Send every logger (uvicorn's too) to `stream` (stderr): JSON lines unless it is a
    terminal, with `mask`'s secrets masked. Replaces a handler an earlier call installed;
    returns the new one."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    formatter = TextFormatter(mask) if _is_terminal(stream) else JsonFormatter(mask)
    handler.setFormatter(formatter)
    handler.set_name("turnout")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "turnout"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False
