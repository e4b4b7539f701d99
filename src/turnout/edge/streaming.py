"""What a relayed answer sends the client, in the client's wire.

Same wire: each event's own bytes, untouched (the codec's passthrough only watches for the end
and for errors). Different wires: the upstream codec's decoder and the client codec's encoder,
joined through the hub. Either way an upstream error event raises `UpstreamStreamError` (the
relay answers it with a diagnosed error event) and `finish()` closes the answer only when the
upstream's answer was whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from turnout.wire import hub
from turnout.wire.codec import Codec, StreamRelay
from turnout.wire.sse import Event
from turnout.wire.streams import StreamTranslator
from turnout.wire.translate import translate_response, translate_stream


class TranslatedRelay:
    """An upstream in another wire: closed at a cut only if the upstream said why it stopped."""

    def __init__(self, translator: StreamTranslator) -> None:
        self._translator = translator

    @property
    def finished(self) -> bool:
        return self._translator.finished

    def feed(self, event: Event) -> list[bytes]:
        return self._translator.feed(event)

    def finish(self) -> list[bytes]:
        return self._translator.finish() if self._translator.stopped else []


def stream_relay(
    upstream: Codec, client: Codec, model: str, head: Mapping[str, Any], request: hub.Request
) -> StreamRelay:
    """The relay for an upstream wire and a client wire."""
    if upstream is client:
        return client.passthrough(head)
    return TranslatedRelay(translate_stream(upstream, client, model, request))


def convert_whole(
    upstream: Codec, client: Codec, body: bytes, data: dict[str, Any], model: str
) -> bytes:
    """A non-streamed response body (and its parsed form) in the client's wire."""
    if upstream is client:
        return body
    return orjson.dumps(translate_response(data, upstream, client, model))
