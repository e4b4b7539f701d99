"""Read a pasted log or exception text: the status, the embedded error body and where it came from.

Harnesses print errors in their own ways: Hermes Agent's multi-line blocks ("🔌 Provider: ...",
"🌐 Endpoint: ..."), Claude Code's "API Error: 400 {...}", the SDKs' "Error code: 429 - {...}"
reprs, LiteLLM's "litellm.RateLimitError: AnthropicException - {...}". We look for each fact
with a small table of patterns and take the first hit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from turnout.diagnosis.facts import parse_body
from turnout.diagnosis.literals import required_literals

#: A pattern with the lower-cased literals one of which it needs (None: always try it). Most
#: logs hold none of a pattern's literals, and a substring test is far cheaper than a search.
Guarded = tuple[tuple[str, ...] | None, re.Pattern[str]]


def _guarded(patterns: tuple[re.Pattern[str], ...]) -> tuple[Guarded, ...]:
    guarded = []
    for pattern in patterns:
        literals = required_literals(pattern.pattern)
        guarded.append((tuple(lit.lower() for lit in literals) if literals else None, pattern))
    return tuple(guarded)


_STATUS_PATTERNS = _guarded(
    tuple(
        re.compile(p, re.IGNORECASE)
        for p in (
            r"\bHTTP[ /](?:1\.[01] |2 )?([1-5]\d\d)\b",
            r"\bError code: ([1-5]\d\d)\b",
            r"\bAPI Error: ([1-5]\d\d)\b",
            r"\bAPI Error \(([1-5]\d\d)\b",
            r"\[([1-5]\d\d)\] ",
            r"\bstatus(?:[ _]?code)?[\"']?\s*[=:]\s*\"?([1-5]\d\d)\b",
            r"\bstatus code ([1-5]\d\d)\b",
            r"\b([1-5]\d\d) status code \(no body\)",
            r"\b([1-5]\d\d) (?:Bad Request|Unauthorized|Payment Required|Forbidden|Not Found|"
            r"Method Not Allowed|Request Timeout|Payload Too Large|Request Entity Too Large|"
            r"Too Many Requests|Internal Server Error|Bad Gateway|Service Unavailable|"
            r"Gateway Time-?out)\b",
            r"^Error: ([1-5]\d\d) ",
            r"\bstatus ([1-5]\d\d)\b",
        )
    )
)
#: The SDKs' exception classes stand for one status each (the OpenAI and Anthropic SDKs and
#: LiteLLM share these names); read only when the log states no status of its own.
_EXCEPTION_STATUS = {
    "badrequesterror": 400,
    "invalidrequesterror": 400,
    "authenticationerror": 401,
    "permissiondeniederror": 403,
    "notfounderror": 404,
    "conflicterror": 409,
    "unprocessableentityerror": 422,
    "ratelimiterror": 429,
    "internalservererror": 500,
    "serviceunavailableerror": 503,
}
_EXCEPTION_NAME = re.compile(
    r"\b(BadRequestError|InvalidRequestError|AuthenticationError|PermissionDeniedError|NotFoundError|ConflictError|"
    r"UnprocessableEntityError|RateLimitError|InternalServerError|ServiceUnavailableError)\b"
)
_PROVIDER_PATTERNS = _guarded(
    tuple(
        re.compile(p, re.IGNORECASE)
        for p in (
            r"Provider:\s*([\w.@/-]+)",
            r"\bprovider[\"']?\s*[=:]\s*[\"']?([\w.-]+)",
        )
    )
)
_MODEL_PATTERNS = _guarded(
    tuple(
        re.compile(p, re.IGNORECASE)
        for p in (
            r"\bModel:\s*([\w.:/@-]+)",
            r"\bmodel[\"']?\s*[=:]\s*[\"'`]?([\w.:/@-]+)",
            r"\bmodel[ `\"']+([\w.:/@-]+)[`\"']? (?:not found|does not exist)",
        )
    )
)
_ENDPOINT_PATTERNS = _guarded(
    tuple(
        re.compile(p, re.IGNORECASE)
        for p in (
            r"Endpoint:\s*(\S+)",
            r"\bbase_url\s*[=:]\s*[\"']?(https?://[^\s\"']+)",
            r"\b(https?://[^\s\"'<>)\]},]+)",
            r"HTTP(?:S)?ConnectionPool\(host='([^']+)', port=(\d+)\)",
            r"Cannot connect to host ([\w.-]+:\d+)",
            r"connect ECONNREFUSED ([\d.:a-f\[\]]+:\d+)",
            r"Failed to connect to ([\w.-]+) port (\d+)",
        )
    )
)


@dataclass(frozen=True, slots=True)
class LogReading:
    status: int | None
    body: str
    parsed: Any
    provider: str | None
    model: str | None
    endpoint: str | None


def _first(patterns: tuple[Guarded, ...], text: str, lowered: str) -> str | None:
    for literals, pattern in patterns:
        if literals is not None and not any(lit in lowered for lit in literals):
            continue
        match = pattern.search(text)
        if match and match.lastindex:
            groups = [g for g in match.groups() if g]
            if len(groups) == 2 and groups[1].isdigit():
                return f"{groups[0]}:{groups[1]}"
            return groups[0] if groups else None
    return None


def _embedded_object(text: str) -> tuple[str, Any]:
    """The largest `{...}` in the text that parses as JSON or a Python literal."""
    best: tuple[str, Any] = ("", None)
    start = text.find("{")
    scanned = 0
    while start != -1 and scanned < 8:
        end = _balanced_end(text, start)
        if end is None:
            break
        candidate = text[start : end + 1]
        parsed = parse_body(candidate)
        if isinstance(parsed, dict) and len(candidate) > len(best[0]):
            best = (candidate, parsed)
        start = text.find("{", end + 1 if parsed is not None else start + 1)
        scanned += 1
    return best


def _balanced_end(text: str, start: int) -> int | None:
    depth = 0
    quote: str | None = None
    escaped = False
    for index in range(start, min(len(text), start + 65_536)):
        char = text[index]
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            # An apostrophe inside prose ("You're") is not a quote; only one after a delimiter is.
            before = text[index - 1] if index > start else "{"
            if char == '"' or before in "{[:, (":
                quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def read_log(log: str) -> LogReading:
    """Pull the facts a diagnosis needs out of a pasted log."""
    body, parsed = _embedded_object(log)
    lowered = log.lower()
    status_text = _first(_STATUS_PATTERNS, log, lowered)
    status = int(status_text) if status_text else None
    if status is None:
        named = _EXCEPTION_NAME.search(log)
        status = _EXCEPTION_STATUS[named.group(1).lower()] if named else None
    return LogReading(
        status=status,
        body=body,
        parsed=parsed,
        provider=_first(_PROVIDER_PATTERNS, log, lowered),
        model=_first(_MODEL_PATTERNS, log, lowered),
        endpoint=_first(_ENDPOINT_PATTERNS, log, lowered),
    )
