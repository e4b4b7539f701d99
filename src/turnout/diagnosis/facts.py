"""Read an error response into the facts the rules match on.

Providers wrap their errors in many shapes (`{"error": {"type": ...}}`,
`{"code": 1113, "msg": ...}`, `{"__type": "ThrottlingException"}`, Gemini's `details` list,
HTML pages). Rather than knowing each shape, we walk the parsed body once and collect every
message-like string and every code-like value; the rules then speak of phrases and codes, never
of JSON paths.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Keys whose string values are human messages.
_MESSAGE_KEYS = frozenset(
    {"message", "msg", "detail", "error", "error_msg", "errormessage", "error_message", "reason"}
)
#: Keys whose scalar values are machine codes (matched exactly, case-insensitively).
_CODE_KEYS = frozenset(
    {
        "type",
        "code",
        "status",
        "__type",
        "errortype",
        "error_type",
        "error_code",
        "errorcode",
        "reason",
        "param",
    }
)
#: Keys whose numeric values are a wait in seconds.
#: (`resets_in_seconds`: the ChatGPT/Codex path's `usage_limit_reached` says when it lifts.)
_RETRY_KEYS = frozenset({"retry_after", "retryafter", "retry_after_seconds", "resets_in_seconds"})
#: How much of a body the phrase rules read; error bodies that matter are far shorter.
_TEXT_LIMIT = 16_384
_MAX_DEPTH = 6
#: Larger bodies are not error documents worth parsing; their text is still searched.
_PARSE_LIMIT = 262_144


@dataclass(slots=True)
class ErrorFacts:
    """What the rules may ask about one error."""

    status: int | None
    text: str  # lower-cased body (and log), truncated
    codes: frozenset[str]  # lower-cased code-like values from the body and headers
    headers: Mapping[str, str]  # lower-cased names
    #: The same values with the key they were found under, as "key=value" ("error_code=110"),
    #: for documented code tables whose numbers mean something only under one key.
    keyed: frozenset[str] = frozenset()
    message: str | None = None  # the provider's own words, original case
    retry_delay: str | None = None  # Gemini's RetryInfo.retryDelay, e.g. "37s"
    is_html: bool = False
    provider: str | None = None
    is_local: bool = False
    #: The error states a limit, what was used and what was requested, and the request alone
    #: is larger than the limit ("Limit 7000, Used 0, Requested 7895"): waiting cannot help.
    over_limit: bool = False


def parse_body(body: str) -> Any:
    """Parse a JSON body, or a Python repr of one as SDK exceptions print it; None otherwise."""
    stripped = body.strip()
    if not stripped or stripped[0] not in "{[" or len(stripped) > _PARSE_LIMIT:
        return None
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):
        pass
    if "'" in stripped:
        try:
            return ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    return None


def _walk(
    node: Any,
    depth: int,
    messages: list[str],
    codes: set[str],
    found: dict[str, str],
    keyed: set[str],
) -> None:
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, Mapping):
        for key, value in node.items():
            lowered = str(key).lower()
            if isinstance(value, str):
                if lowered in _MESSAGE_KEYS and value:
                    messages.append(value)
                if lowered in _CODE_KEYS and len(value) <= 80:
                    code = value.lower()
                    codes.add(code)
                    keyed.add(f"{lowered}={code}")
                if lowered == "retrydelay":
                    found["retry_delay"] = value
            elif isinstance(value, bool):
                continue
            elif isinstance(value, int | float) and lowered in _RETRY_KEYS:
                # A number of seconds (Cloudflare's JSON error pages say "retry_after": 120).
                found.setdefault("retry_delay", f"{value}s")
            elif isinstance(value, int) and lowered in _CODE_KEYS:
                codes.add(str(value))
                keyed.add(f"{lowered}={value}")
            else:
                _walk(value, depth + 1, messages, codes, found, keyed)
    elif isinstance(node, list):
        for item in node[:16]:
            _walk(item, depth + 1, messages, codes, found, keyed)


_LIMIT_USED_REQUESTED = re.compile(r"limit:? (\d+), used:? (\d+), requested:? (\d+)")


def _request_over_limit(text: str) -> bool:
    match = _LIMIT_USED_REQUESTED.search(text)
    return match is not None and int(match.group(3)) > int(match.group(1))


# Exception names as SDKs print them: "An error occurred (ThrottlingException) when calling ...".
_EXCEPTION_NAMES = re.compile(r"\b([A-Z][A-Za-z]+Exception)\b|error occurred \((\w+)\)")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


def _html_message(body: str) -> str | None:
    for pattern in (_TITLE, _H1):
        match = pattern.search(body)
        if match:
            text = " ".join(_TAGS.sub(" ", match.group(1)).split())
            if text:
                return text
    return None


def _verdict_headers(headers: Mapping[str, str]) -> str:
    """The headers that say which usage window refused a request, as "name: value" lines, so
    the rules read them as they read the same headers pasted in a log: Anthropic's unified
    `-status` per window, and the representative claim when the overall status is rejected
    (it names the binding window on every answer, refused or not)."""
    rejected = headers.get("anthropic-ratelimit-unified-status", "").strip() == "rejected"
    lines = [
        f"{name}: {value}"
        for name, value in headers.items()
        if name.startswith("anthropic-ratelimit-unified-")
        and (name.endswith("status") or (rejected and name.endswith("-representative-claim")))
    ]
    return "\n".join(sorted(lines)[:32])


def gather(
    status: int | None,
    body: str,
    headers: Mapping[str, str],
    parsed: Any = None,
    extra_text: str = "",
) -> ErrorFacts:
    """Collect the facts of one error. `parsed` may carry a body already parsed by the caller."""
    if parsed is None:
        parsed = parse_body(body)
    messages: list[str] = []
    codes: set[str] = set()
    found: dict[str, str] = {}
    keyed: set[str] = set()
    if parsed is not None:
        _walk(parsed, 0, messages, codes, found, keyed)
    if extra_text:
        for named, quoted in _EXCEPTION_NAMES.findall(extra_text[:_TEXT_LIMIT]):
            codes.add((named or quoted).lower())
    amzn = headers.get("x-amzn-errortype")
    if amzn:
        codes.add(amzn.split(":", 1)[0].lower())
    text = body[:_TEXT_LIMIT]
    if messages and "\\u" in text:
        # A body whose JSON escapes its non-ASCII letters ("\u4f59\u989d..."): the phrases read
        # the messages as the provider wrote them.
        text = f"{text}\n{' '.join(messages)[:_TEXT_LIMIT]}"
    if extra_text:
        text = f"{text}\n{extra_text[:_TEXT_LIMIT]}"
    # Only a refusal's: with extra usage in use they say "rejected" on answers served.
    verdicts = _verdict_headers(headers) if status in (429, None) else ""
    if verdicts:
        text = f"{text}\n{verdicts}"
    # One space for every run of whitespace: pasted logs wrap lines in the middle of phrases.
    text = " ".join(text.lower().split())
    head = text[:4096]
    is_html = "<html" in head or "<!doctype" in head
    message = messages[0] if messages else (_html_message(body) if is_html else None)
    if message is None and parsed is None:
        first_line = body.strip().splitlines()[0] if body.strip() else ""
        message = first_line[:500] or None
    return ErrorFacts(
        status=status,
        text=text,
        codes=frozenset(codes),
        headers=headers,
        keyed=frozenset(keyed),
        message=message,
        retry_delay=found.get("retry_delay"),
        is_html=is_html,
        over_limit=_request_over_limit(text),
    )
