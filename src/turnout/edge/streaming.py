"""What a relayed stream sends the client for each upstream event, in the client's dialect.

Same dialect: each event's own bytes, untouched. Different dialects: the translators of
`turnout.translate`. Either way an upstream error event raises `UpstreamStreamError` (the relay
answers it with a diagnosed error event) and `finish()` closes the answer only when the
upstream's answer was whole.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import orjson

from turnout.translate import (
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    UpstreamStreamError,
    anthropic_to_openai_response,
    openai_to_anthropic_response,
)
from turnout.wire.sse import Event, refuse_unreadable, unreadable

_FINISH_REASON = re.compile(r'"finish_reason"\s*:\s*"')
_DONE = b"data: [DONE]\n\n"


class StreamRelay(Protocol):
    @property
    def finished(self) -> bool: ...

    def feed(self, event: Event) -> list[bytes]: ...

    def finish(self) -> list[bytes]:
        """The upstream body ended: what closes the answer, or [] if it was cut short."""
        ...


_EMPTY_CHOICES = re.compile(r'"choices"\s*:\s*\[\s*\]')


def _is_usage_only(data: str) -> bool:
    return '"usage"' in data and _EMPTY_CHOICES.search(data) is not None


def check_readable(event: Event) -> None:
    """An event whose data is not a JSON object (nor `[DONE]`) raises, never relayed.

    Relaying it would hand the client's SSE parser garbage; skipping it would pass an answer
    with a piece missing off as whole. So the stream ends here as broken, like a cut one.
    """
    if unreadable(event):
        refusal = refuse_unreadable(event)
        raise UpstreamStreamError(refusal.body, refusal.body)


def _is_error(event: Event) -> bool:
    return event.name == "error" or event.data.startswith('{"error"')


class OpenAIPassthrough:
    """OpenAI to OpenAI: `[DONE]` ends it; a finish reason without `[DONE]` is still whole.

    With `hide_usage`, the usage-only chunk the gateway asked for (for its ledger) is kept
    from a client that did not ask for it.
    """

    def __init__(self, hide_usage: bool = False) -> None:
        self.finished = False
        self._saw_finish_reason = False
        self._hide_usage = hide_usage

    def feed(self, event: Event) -> list[bytes]:
        check_readable(event)
        if _is_error(event):
            raise UpstreamStreamError("error event", event.data)
        if event.data == "[DONE]":
            self.finished = True
        elif not self._saw_finish_reason and _FINISH_REASON.search(event.data):
            self._saw_finish_reason = True
        if self._hide_usage and _is_usage_only(event.data):
            return []
        return [event.raw]

    def finish(self) -> list[bytes]:
        if self.finished or not self._saw_finish_reason:
            return []
        self.finished = True
        return [_DONE]


class AnthropicPassthrough:
    """Anthropic to Anthropic: `message_stop` ends it."""

    def __init__(self) -> None:
        self.finished = False

    def feed(self, event: Event) -> list[bytes]:
        check_readable(event)
        if _is_error(event):
            raise UpstreamStreamError("error event", event.data)
        if event.name == "message_stop":
            self.finished = True
        return [event.raw]

    def finish(self) -> list[bytes]:
        return []


class OpenAIToAnthropic:
    """An OpenAI upstream for an Anthropic client."""

    def __init__(self, model: str) -> None:
        self._translator = OpenAIToAnthropicStream(model)
        self._saw_finish_reason = False

    @property
    def finished(self) -> bool:
        return self._translator.finished

    def feed(self, event: Event) -> list[bytes]:
        check_readable(event)
        if not self._saw_finish_reason and _FINISH_REASON.search(event.data):
            self._saw_finish_reason = True
        return self._translator.feed(event.data)

    def finish(self) -> list[bytes]:
        return self._translator.finish() if self._saw_finish_reason else []


class AnthropicToOpenAI:
    """An Anthropic upstream for an OpenAI client."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self._translator = AnthropicToOpenAIStream(model, include_usage)

    @property
    def finished(self) -> bool:
        return self._translator.finished

    def feed(self, event: Event) -> list[bytes]:
        check_readable(event)
        return self._translator.feed(event.name, event.data)

    def finish(self) -> list[bytes]:
        return []  # only message_stop makes an Anthropic answer whole


def stream_relay(upstream: str, client: str, model: str, include_usage: bool) -> StreamRelay:
    """The relay for an upstream dialect and a client dialect."""
    if upstream == client:
        return (
            OpenAIPassthrough(not include_usage) if client == "openai" else AnthropicPassthrough()
        )
    if upstream == "openai":
        return OpenAIToAnthropic(model)
    return AnthropicToOpenAI(model, include_usage)


def convert_whole(
    upstream: str, client: str, body: bytes, data: dict[str, Any], model: str
) -> bytes:
    """A non-streamed response body (and its parsed form) in the client's dialect."""
    if upstream == client:
        return body
    if upstream == "openai":
        return orjson.dumps(openai_to_anthropic_response(data, model))
    return orjson.dumps(anthropic_to_openai_response(data, model))
