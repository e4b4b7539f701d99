"""What the fake upstream answers: one small dataclass per kind of step.

A test scripts a sequence of steps; each request to a model endpoint consumes
the next one (the last repeats). Timings are seconds and always bounded, so a
forgotten stall cannot hang a test run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

DEFAULT_TEXT = "Hello from the fake upstream."


@dataclass(frozen=True)
class ToolCall:
    """One function call the model makes; `id` is generated when None."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Reply:
    """A successful answer, in the dialect of the path called, streamed when asked.

    `text=None` means the default greeting, or no text at all when there is a
    tool call. `model=None` echoes the request's model. `first_byte_delay_s`
    delays the response headers (a slow but healthy upstream). `headers` are added
    to the response's (an organisation's rate-limit headers, say).
    """

    text: str | None = None
    tool_call: ToolCall | None = None
    reasoning: str | None = None
    usage: tuple[int, int] = (10, 5)
    model: str | None = None
    first_byte_delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content(self) -> str:
        """The text actually sent."""
        if self.text is not None:
            return self.text
        return "" if self.tool_call else DEFAULT_TEXT


@dataclass(frozen=True)
class Fail:
    """An error response with exactly this status, body and headers."""

    status: int
    body: str | bytes = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Quote:
    """An error that quotes the request back, as providers' validation errors do.

    `body` is the JSON document sent; in its strings `{model}` becomes the request's model,
    `{param}` its first top-level parameter the fake does not know, and `{role}` its first
    message's role. The document is then encoded like any JSON answer.
    """

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Cut:
    """A reply whose connection closes after `after_events` SSE events.

    The end marker and the chunked terminator never come. A non-streaming
    request gets half its announced body instead.
    """

    after_events: int
    text: str = DEFAULT_TEXT
    reasoning: str | None = None  # a reasoning item before the text, as in `Reply`


@dataclass(frozen=True)
class Stall:
    """A reply (of `text`) that goes silent, then completes if the client is still there.

    With `after_events` set, the stream (or, for a non-streaming request, the
    body) pauses for `stall_s` after that many events, once the headers were
    sent after `before_first_byte_s`. Without it, the headers wait
    `before_first_byte_s`, or `stall_s` if that is zero.
    """

    before_first_byte_s: float = 0.0
    after_events: int | None = None
    stall_s: float = 30.0
    text: str = DEFAULT_TEXT

    @property
    def header_delay_s(self) -> float:
        """How long the response headers are held back."""
        if self.before_first_byte_s or self.after_events is not None:
            return self.before_first_byte_s
        return self.stall_s


@dataclass(frozen=True)
class Continues:
    """A model that knows its whole answer `text`, and continues a final assistant message as
    the providers that accept one do (Anthropic's prefill; an OpenAI-style body that asks with
    `continue_final_message` or `prefix`): asked so with a message that begins the answer, it
    writes only the rest; asked plainly, or with one that does not, it writes it all."""

    text: str
    usage: tuple[int, int] = (10, 5)

    def rest(self, prefill: str | None) -> str:
        """What it writes after `prefill` (None: nothing to continue)."""
        if prefill is not None and self.text.startswith(prefill):
            return self.text[len(prefill) :]
        return self.text


@dataclass(frozen=True)
class Reset:
    """Close the TCP connection with a reset, before any response byte."""


@dataclass(frozen=True)
class Malformed:
    """A 200 whose body is invalid JSON, or an SSE stream with a truncated event inside.

    The kind decides the format, whatever the request's "stream" flag says.
    """

    kind: Literal["json", "sse"]


@dataclass(frozen=True)
class ErrorAfterHandshake:
    """A 200 stream that opens as usual (a message start, a created response), then sends
    an error event instead of content: how a quota refusal can arrive."""

    code: str = "insufficient_quota"
    message: str = "You exceeded your current quota, please check your plan and billing details."


Step: TypeAlias = (
    Reply | Fail | Quote | Cut | Stall | Continues | Reset | Malformed | ErrorAfterHandshake
)
