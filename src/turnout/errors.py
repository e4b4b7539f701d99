"""turnout's exception tree. Errors carry fields, never meaning hidden in their text.

TurnoutError
├── ConfigError                (turnout.config.load) a config the gateway refuses
├── ClientRequestError         the client's request is unusable: status + message in its dialect
└── UpstreamError              one attempt at one path failed
    ├── UpstreamHTTPError      the provider answered with a non-2xx status
    │   └── ResponseRefused    it broke a bound: too large, an unasked encoding, a redirect
    ├── UpstreamTransportError the provider could not be reached or went silent
    │   └── DeadlineMissed     no headers, or no first content event, in time
    └── StreamBroken           a stream that had started ended without finishing
"""

from __future__ import annotations

from collections.abc import Mapping


class TurnoutError(Exception):
    """Base of every error turnout raises on purpose."""


class ClientRequestError(TurnoutError):
    """The client's request cannot be served as sent (bad JSON, unknown model, too large)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request",
        code: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind  # a taxonomy category, used to pick the dialect's error type
        self.code = code or kind  # the finer code, as in a diagnosis
        self.headers = headers  # e.g. retry-after


class UpstreamError(TurnoutError):
    """One attempt failed. `status`/`body`/`headers` are what the provider sent, if anything."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: str = "",
        headers: Mapping[str, str] | None = None,
        log: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.log = log  # text for the diagnosis when there is no body (transport errors)


class UpstreamHTTPError(UpstreamError):
    """The provider answered with an error status (or an error event before any content)."""


class ResponseRefused(UpstreamHTTPError):
    """The gateway refused what the upstream sent: larger than a configured bound, in an
    encoding it did not ask for, or a redirect. The same path would send the same again, so
    the chain moves on at once."""

    @classmethod
    def because(cls, what: str) -> ResponseRefused:
        """A 502 whose body says what the upstream did wrong, in words the diagnosis reads."""
        body = f"Bad Gateway: turnout refused the upstream's response: {what}"
        return cls(body, status=502, body=body, log=body)


class UpstreamTransportError(UpstreamError):
    """Connecting, sending or reading failed: refused, DNS, TLS, reset, timeout."""


class DeadlineMissed(UpstreamTransportError):
    """A silent upstream: no headers, or no first content event, in time. Sending the same
    request to the same silent path again would only wait again, so the chain moves on."""


class StreamBroken(UpstreamError):
    """A stream stopped before its end marker; what was sent so far is incomplete."""
