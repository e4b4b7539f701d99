"""Failures told to the client in its own dialect: every path with its diagnosis and advice.

Clients print `error.message` and nothing else of the body (Claude Code, Hermes Agent,
OpenCode, the SDKs), so the message itself carries what a person needs. Hermes Agent prints
only its first 300 characters, so those come first: the one-line title, what will not help,
and where the gate is (for a subscription gate: the official app may still work). Then each
path's reason (with the provider's reset time when it gave one), what to do, and the
provider's words. It is in the client's language when it asks for one (`accept-language`),
English otherwise. The JSON fields under `turnout` repeat it for programs.

Upstream words quoted here were masked by value where they entered (the transport, the event
splitter); the shape net runs again on them, since they are about to leave.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from turnout.diagnosis import Diagnosis
from turnout.diagnosis.messages import advice_for
from turnout.redaction import mask_shapes
from turnout.routing.chain import Attempt
from turnout.wire import Codec
from turnout.wire.sse import Event
from turnout.wire.statuses import client_status

#: The words around the advice, per language.
_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "none": "turnout: {title}; no path could serve {model!r}.",
        "wont": "Will not help: {items}.",
        "do": "Do: {action}",
        "detail": "The provider said: {detail}",
        "skipped": "skipped, remembered as ",
        "resets": "; the provider says it resets at {when} (in {left})",
        "probe": "; turnout tries it again in {left}",
        "sep": "; ",
    },
    "zh": {
        "none": "turnout:{title};没有路径能服务模型 {model!r}。",
        "wont": "没有用的做法:{items}。",
        "do": "建议:{action}",
        "detail": "服务商原话:{detail}",
        "skipped": "已跳过,记录为 ",
        "resets": ";服务商说在 {when} 重置(还有 {left})",
        "probe": ";turnout 将在 {left} 后再试",
        "sep": ";",
    },
}


def client_language(accept_language: str | None) -> str:
    """ "zh" when the client's first language is Chinese, else "en" (the texts there are)."""
    first = (accept_language or "").split(",")[0].strip().lower()
    return "zh" if first.startswith("zh") else "en"


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


def stream_error(
    dialect: Codec, diagnosis: Diagnosis, path: str, told: Sequence[Event] = ()
) -> bytes:
    """The event that ends a stream which broke after bytes had reached the client (`told`:
    the events it had, which a wire that numbers its events numbers the error after)."""
    said = f" The provider said: {mask_shapes(diagnosis.message)}" if diagnosis.message else ""
    message = (
        f"turnout: the stream from {path} broke before the answer was complete "
        f"({diagnosis.category.value}/{diagnosis.code}): {diagnosis.title}. "
        f"The text received so far is incomplete.{said}"
    )
    category = diagnosis.category.value
    return dialect.error_event(category, message, diagnosis_extra(diagnosis), told)


def _span(seconds: float) -> str:
    seconds = max(0, round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _when(attempt: Attempt, words: dict[str, str], now: float) -> str:
    """When the path may serve again: the provider's reset, else the gateway's next probe."""
    if attempt.resets_at is not None:
        stamp = datetime.fromtimestamp(attempt.resets_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return words["resets"].format(when=stamp, left=_span(attempt.resets_at - now))
    if attempt.probe_in_s is not None and attempt.probe_in_s > 0:
        return words["probe"].format(left=_span(attempt.probe_in_s))
    return ""


def attempt_line(attempt: Attempt, lang: str = "en", now: float | None = None) -> str:
    d = attempt.diagnosis
    if d is None:
        return f"- {attempt.target.path}: {attempt.outcome} {attempt.note}".rstrip()
    words = _WORDS[lang]
    state = words["skipped"] if attempt.outcome == "skipped" else ""
    title = advice_for(d.code, d.category, lang).title
    note = f" ({attempt.note})" if attempt.note else ""
    when = _when(attempt, words, time.time() if now is None else now)
    return f"- {attempt.target.path}: {state}{d.category.value} ({d.code}): {title}{when}{note}"


def _last_sentence(text: str) -> str:
    """The explanation's last sentence: the texts end on where the gate is and what still
    works ("the official app may still work"), which must fit in the first lines."""
    for end in ("。", ". "):
        head, found, tail = text.rstrip("。").rpartition(end)
        if found and head and tail.strip():
            return tail.strip() + ("。" if end == "。" else "")
    return text


def failure_message(
    model: str, decisive: Diagnosis, attempts: list[Attempt], lang: str, now: float
) -> str:
    """The text clients print: title, each path, what will not help, why, what to do."""
    words = _WORDS[lang]
    advice = advice_for(decisive.code, decisive.category, lang)
    lines = [words["none"].format(model=model, title=advice.title)]
    if advice.wont_help:
        short = [item.split(":")[0].strip() for item in advice.wont_help]
        lines.append(words["wont"].format(items=words["sep"].join(short)))
    where = _last_sentence(advice.explanation)
    lines.append(where)
    lines += [attempt_line(a, lang, now) for a in attempts]
    if where != advice.explanation:
        lines.append(advice.explanation)
    if advice.actions:
        lines.append(words["do"].format(action=advice.actions[0]))
    if decisive.message:
        lines.append(words["detail"].format(detail=mask_shapes(decisive.message)))
    return "\n".join(lines)


def failure_response(
    dialect: Codec,
    model: str,
    decisive: Diagnosis,
    attempts: list[Attempt],
    lang: str = "en",
    user_agent: str = "",
    clock: Callable[[], float] = time.time,
) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Status, body and retry headers for "no path could serve": a status clients retry only
    when waiting can help (`x-should-retry: false` otherwise, `retry-after` when known)."""
    message = failure_message(model, decisive, attempts, lang, clock())
    extra = diagnosis_extra(decisive)
    extra["attempts"] = [
        {
            "path": a.target.path,
            "outcome": a.outcome,
            "category": a.diagnosis.category.value if a.diagnosis else None,
            "code": a.diagnosis.code if a.diagnosis else None,
            "title": a.diagnosis.title if a.diagnosis else None,
            "provider_reset_at": a.resets_at,
            "note": a.note or None,
        }
        for a in attempts
    ]
    status = client_status(decisive.category.value, user_agent)
    headers: list[tuple[str, str]] = []
    if not decisive.retryable:
        headers.append(("x-should-retry", "false"))
    elif decisive.retry_after_s is not None:
        headers.append(("retry-after", str(max(1, round(decisive.retry_after_s)))))
    return status, dialect.error_body(status, decisive.category.value, message, extra), headers
