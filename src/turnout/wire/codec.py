"""What a wire format's codec says: how to read and write requests, responses, streams and
errors of that format, and how to follow its streams without translating them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from turnout.wire import hub
from turnout.wire.base import ParsedRequest
from turnout.wire.sse import Event


class UpstreamStreamError(Exception):
    """The upstream stream carried an error event; `data` is that event's data as sent."""

    def __init__(self, message: str, data: str) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class CannotCarry(ValueError):
    """The target wire cannot carry what the request needs; `labels` name it, in the
    client's words."""

    def __init__(self, labels: list[str], target: str) -> None:
        super().__init__(f"{target} cannot carry {', '.join(labels)}")
        self.labels = labels


class StreamDecoder(Protocol):
    """One upstream event in, hub events out; raises UpstreamStreamError on an error event."""

    def feed(self, event: Event) -> list[hub.Event]: ...


class StreamEncoder(Protocol):
    """Hub events in, the client's bytes out; `finished` once the answer was closed."""

    finished: bool

    def encode(self, event: hub.Event) -> list[bytes]: ...

    def follow(self, event: Event) -> None:
        """Take as written an event of this wire that reached the client from elsewhere
        (a continuation writes on after it), after encoding what it says: what comes next
        is numbered and placed after it."""
        ...


class StreamRelay(Protocol):
    """A same-wire stream: each event's own bytes, watched for its end and its errors."""

    @property
    def finished(self) -> bool: ...

    def feed(self, event: Event) -> list[bytes]: ...

    def finish(self) -> list[bytes]:
        """The upstream body ended: what closes the answer, or [] if it was cut short."""
        ...


class Codec(Protocol):
    name: str  # as the ledger and config know it: "openai", "anthropic", "responses"
    #: What of the hub this wire cannot carry, and whether an answer depends on it: a path
    #: is refused for what is needed, unless its route allows dropping; the rest is dropped
    #: and named in the ledger.
    cannot_carry: dict[str, bool]

    # The client's side: read a request, answer an error.
    def parse(self, body: bytes) -> ParsedRequest: ...

    def error_body(
        self, status: int, category: str, message: str, extra: dict[str, Any]
    ) -> bytes: ...

    def error_event(
        self, category: str, message: str, extra: dict[str, Any], told: Sequence[Event] = ()
    ) -> bytes:
        """The event that ends a stream in failure. `told`: the events the client already had
        in this stream; a wire that numbers its events numbers the error after them."""
        ...

    # Translation through the hub.
    def decode_request(self, data: dict[str, Any]) -> hub.Request: ...

    def encode_request(
        self, request: hub.Request, model: str, lost: list[hub.Loss]
    ) -> dict[str, Any]: ...

    def decode_response(self, data: dict[str, Any]) -> hub.Response: ...

    def encode_response(self, response: hub.Response, model: str) -> dict[str, Any]: ...

    def stream_decoder(self) -> StreamDecoder: ...

    def stream_encoder(self, model: str, request: hub.Request) -> StreamEncoder: ...

    # Same-wire traffic, never translated.
    def same_wire_body(self, request: ParsedRequest, model: str) -> bytes:
        """The client's bytes for a path of the same wire: only the model changes (and what
        the gateway needs, such as a usage chunk, is asked for)."""
        ...

    def passthrough(self, data: Mapping[str, Any]) -> StreamRelay:
        """The relay of a same-wire stream; `data` is the request's head (see head.py)."""
        ...

    def carries_content(self, event: Event) -> bool:
        """Whether an event is part of the answer, not its framing or handshake."""
        ...

    def is_error_event(self, event: Event) -> bool: ...

    def usage(self, data: dict[str, Any], current: hub.Usage) -> hub.Usage | None:
        """The usage in a whole response or a stream event's data, read over what a stream
        said before (`current`); None when it has none."""
        ...
