"""Token counts from a response, whole or streamed, in either dialect.

OpenAI counts cached tokens inside `prompt_tokens`; Anthropic counts them beside
`input_tokens`. We keep uncached input, output and cached input apart, as prices do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from turnout.wire.sse import Event


@dataclass(slots=True)
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached: int = 0


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def read_openai(usage: dict[str, Any], into: Usage) -> None:
    details = usage.get("prompt_tokens_details") or {}
    cached = _int(details.get("cached_tokens") if isinstance(details, dict) else 0)
    cached = cached or _int(usage.get("prompt_cache_hit_tokens"))
    into.tokens_cached = cached
    into.tokens_in = max(0, _int(usage.get("prompt_tokens")) - cached)
    into.tokens_out = _int(usage.get("completion_tokens"))


def read_anthropic(usage: dict[str, Any], into: Usage) -> None:
    """Anthropic's usage blocks are cumulative: a later one replaces what it names."""
    if "input_tokens" in usage:
        into.tokens_in = _int(usage["input_tokens"]) + _int(
            usage.get("cache_creation_input_tokens")
        )
    if "cache_read_input_tokens" in usage:
        into.tokens_cached = _int(usage["cache_read_input_tokens"])
    if "output_tokens" in usage:
        into.tokens_out = _int(usage["output_tokens"])


def usage_of_body(data: dict[str, Any], dialect: str) -> Usage:
    """Usage from a whole response, already parsed."""
    usage = Usage()
    block = data.get("usage")
    if isinstance(block, dict):
        (read_openai if dialect == "openai" else read_anthropic)(block, usage)
    return usage


class UsageMeter:
    """Reads usage out of a stream's events without parsing the others."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.usage = Usage()

    def observe(self, event: Event) -> None:
        if '"usage"' not in event.data:
            return
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(data, dict):
            return
        if self.dialect == "openai":
            if isinstance(data.get("usage"), dict):
                read_openai(data["usage"], self.usage)
            return
        block = data.get("usage")
        if not isinstance(block, dict) and isinstance(data.get("message"), dict):
            block = data["message"].get("usage")
        if isinstance(block, dict):
            read_anthropic(block, self.usage)
