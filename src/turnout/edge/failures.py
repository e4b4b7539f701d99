"""Failures told to the client in its own dialect: every path with its diagnosis and advice.

Upstream words quoted here were masked by value where they entered (the transport, the event
splitter); the shape net runs again on them, since they are about to leave.
"""

from __future__ import annotations

from typing import Any

from turnout.diagnosis import Diagnosis
from turnout.dialects.base import Dialect
from turnout.dialects.statuses import CLIENT_STATUS
from turnout.redaction import mask_shapes
from turnout.routing.chain import Attempt


def diagnosis_extra(diagnosis: Diagnosis) -> dict[str, Any]:
    return {
        "category": diagnosis.category.value,
        "code": diagnosis.code,
        "retryable": diagnosis.retryable,
        "retry_after_s": diagnosis.retry_after_s,
        "title": diagnosis.title,
        "explanation": diagnosis.explanation,
        "actions": list(diagnosis.actions),
        "wont_help": list(diagnosis.wont_help),
    }


def stream_error(dialect: Dialect, diagnosis: Diagnosis, path: str) -> bytes:
    """The event that ends a stream which broke after bytes had reached the client."""
    said = f" The provider said: {mask_shapes(diagnosis.message)}" if diagnosis.message else ""
    message = (
        f"turnout: the stream from {path} broke before the answer was complete "
        f"({diagnosis.category.value}/{diagnosis.code}): {diagnosis.title}. "
        f"The text received so far is incomplete.{said}"
    )
    return dialect.error_event(diagnosis.category.value, message, diagnosis_extra(diagnosis))


def attempt_line(attempt: Attempt) -> str:
    d = attempt.diagnosis
    if d is None:
        return f"- {attempt.target.path}: {attempt.outcome} {attempt.note}".rstrip()
    state = "skipped, remembered as " if attempt.outcome == "skipped" else ""
    advice = f" Do: {d.actions[0]}" if d.actions else ""
    return f"- {attempt.target.path}: {state}{d.category.value} ({d.code}): {d.title}.{advice}"


def failure_response(
    dialect: Dialect, model: str, decisive: Diagnosis, attempts: list[Attempt]
) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Status, body and retry headers for "no path could serve": clients retry only when
    waiting can help (`x-should-retry: false` otherwise, `retry-after` when known)."""
    lines = "\n".join(attempt_line(a) for a in attempts)
    detail = f"\nDetail: {mask_shapes(decisive.message)}" if decisive.message else ""
    message = f"turnout: no path could serve model {model!r}.\n{lines}{detail}"
    extra = diagnosis_extra(decisive)
    extra["attempts"] = [
        {
            "path": a.target.path,
            "outcome": a.outcome,
            "category": a.diagnosis.category.value if a.diagnosis else None,
            "code": a.diagnosis.code if a.diagnosis else None,
            "title": a.diagnosis.title if a.diagnosis else None,
        }
        for a in attempts
    ]
    status = CLIENT_STATUS[decisive.category.value]
    headers: list[tuple[str, str]] = []
    if not decisive.retryable:
        headers.append(("x-should-retry", "false"))
    elif decisive.retry_after_s is not None:
        headers.append(("retry-after", str(max(1, round(decisive.retry_after_s)))))
    return status, dialect.error_body(status, decisive.category.value, message, extra), headers
