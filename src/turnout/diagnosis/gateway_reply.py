"""turnout's own "no path could serve" error, read back when a harness shows it to a person.

When every path of a route fails, the gateway answers with one error listing each path and
its diagnosis, and a `turnout` object carrying the deciding category and code. Read as if a
provider had sent it, that body would be classified by the first path's words (and a log
line would name the gateway's own address as the provider's endpoint). Here it is read for
what it is: the gateway's summary, whose reason is the decisive path's, and whose advice is
about the paths behind it, not about the gateway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: The first line of the message `turnout.edge.failures.failure_response` writes: the title
#: of the deciding failure may come first, so a client showing one line shows the reason.
_NO_PATH = re.compile(
    r"^turnout: (?:[^\n]{0,300}?; )?no path could serve (?:model )?'(?P<model>[^'\n]{0,200})'"
)
_MAX_PATHS = 32  # a pasted body is the client's text: bounded


@dataclass(frozen=True, slots=True)
class PathOutcome:
    path: str
    outcome: str
    code: str | None
    title: str | None


@dataclass(frozen=True, slots=True)
class NoPathReply:
    """What the gateway said: the model asked for, the deciding code, and each path."""

    model: str
    code: str
    paths: tuple[PathOutcome, ...]


def _error_and_extra(parsed: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The error object and the `turnout` object, in the OpenAI shape (inside the error) or
    the Anthropic one (beside it)."""
    if not isinstance(parsed, dict) or not isinstance(parsed.get("error"), dict):
        return None
    error = parsed["error"]
    extra = error.get("turnout", parsed.get("turnout"))
    return (error, extra) if isinstance(extra, dict) else None


def read_no_path_reply(parsed: Any, known_codes: frozenset[str]) -> NoPathReply | None:
    """The gateway's all-paths-failed reply in a parsed body, or None for any other body."""
    found = _error_and_extra(parsed)
    if found is None:
        return None
    error, extra = found
    match = _NO_PATH.match(str(error.get("message", "")))
    code = extra.get("code")
    if match is None or code not in known_codes:
        return None
    paths = []
    for entry in (extra.get("attempts") or [])[:_MAX_PATHS]:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            paths.append(
                PathOutcome(
                    entry["path"][:200],
                    str(entry.get("outcome", ""))[:40],
                    entry.get("code") if entry.get("code") in known_codes else None,
                    str(entry["title"])[:200] if entry.get("title") else None,
                )
            )
    return NoPathReply(match.group("model"), str(code), tuple(paths))
