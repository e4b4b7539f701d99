"""Translation between any two wires, always through the hub: decode with the source's codec,
encode with the target's. Same-wire traffic never comes here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from turnout.wire import hub
from turnout.wire.codec import CannotCarry, Codec
from turnout.wire.streams import StreamTranslator


@dataclass(frozen=True)
class Translated:
    body: dict[str, Any]  # the request in the target wire, `model` set to the target model
    dropped: tuple[str, ...]  # what the target cannot honour, in first-seen order, once each


def translate_request(
    data: dict[str, Any],
    source: Codec,
    target: Codec,
    model: str,
    *,
    allow_drop: bool = True,
) -> Translated:
    """The request for `target`. Raises CannotCarry when the target cannot carry something
    the answer depends on, unless `allow_drop`; hints are dropped and named either way."""
    request = source.decode_request(data)
    return encode_for(request, target, model, allow_drop=allow_drop)


def encode_for(
    request: hub.Request, target: Codec, model: str, *, allow_drop: bool = True
) -> Translated:
    lost = list(request.losses)
    body = target.encode_request(request, model, lost)
    needed = _once([loss.label for loss in lost if loss.needed])
    if needed and not allow_drop:
        raise CannotCarry(list(needed), target.name)
    return Translated(body, _once([loss.label for loss in lost]))


def translate_response(
    data: dict[str, Any], source: Codec, target: Codec, model: str
) -> dict[str, Any]:
    return target.encode_response(source.decode_response(data), model)


def translate_stream(
    source: Codec, target: Codec, model: str, request: hub.Request | None = None
) -> StreamTranslator:
    request = request or hub.Request(model=model, messages=[])
    return StreamTranslator(source.stream_decoder(), target.stream_encoder(model, request))


def _once(names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))
