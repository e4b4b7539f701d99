"""Logging for `turnout serve`: JSON lines for machines, plain text for a person at a terminal.

A JSON line is one object: `ts`, `level`, `logger`, `message`, `request_id` (of the request
being served, when there is one) and any `extra=` fields. Whatever the format, text that looks
like a credential (an `sk-`/`tk-` key, a bearer token) is masked before it is written: the
gateway never logs keys on purpose, and this catches the accidents (an upstream echoing a key
in an error body, an exception repr).
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

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
_SECRETS = (
    # Provider and gateway keys: sk-..., sk-ant-..., tk-..., rk-..., pk-... (a prefix is kept).
    (re.compile(r"\b((?:sk|tk|rk|pk)-[A-Za-z0-9]{0,5})[A-Za-z0-9_\-]{6,}"), r"\1****"),
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+"), r"\1****"),
    (re.compile(r"(?i)(x-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+"), r"\1****"),
)


def redact(text: str) -> str:
    """`text` with anything that looks like a credential masked."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id and `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """The human format: time, level, logger, message (masked like the JSON one)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(level: str = "info", stream: TextIO | None = None) -> logging.Handler:
    """Send every logger (uvicorn's too) to `stream` (stderr): JSON lines unless it is a
    terminal. Replaces a handler an earlier call installed; returns the new one."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter() if _is_terminal(stream) else JsonFormatter())
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
