"""Token counts from a response, whole or streamed, read by the upstream wire's codec.

The ledger keeps input (uncached, cache writes included), output and cached input apart, as
prices do.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from turnout.wire import Codec, hub
from turnout.wire.sse import Event


@dataclass(slots=True)
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached: int = 0

    @classmethod
    def of(cls, usage: hub.Usage) -> Usage:
        return cls(usage.input + usage.cache_write, usage.output, usage.cache_read)


def usage_of_body(data: dict[str, object], codec: Codec) -> Usage:
    """Usage from a whole response, already parsed."""
    return Usage.of(codec.usage(data, hub.Usage()) or hub.Usage())


class UsageMeter:
    """Reads usage out of a stream's events without parsing the others."""

    def __init__(self, codec: Codec) -> None:
        self._codec = codec
        self._usage = hub.Usage()
        #: The counts so far, kept in this one object (holders of it see them grow).
        self.usage = Usage()

    def observe(self, event: Event) -> None:
        if '"usage"' not in event.data:
            return
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return
        if isinstance(data, dict):
            self._usage = self._codec.usage(data, self._usage) or self._usage
            seen = Usage.of(self._usage)
            self.usage.tokens_in, self.usage.tokens_out = seen.tokens_in, seen.tokens_out
            self.usage.tokens_cached = seen.tokens_cached
