"""Anthropic thinking carried through a Responses client as a reasoning item's encrypted
content, so it goes back to Anthropic signed, as Anthropic requires, on the next turn.

The Responses API gives clients reasoning as opaque `encrypted_content` they must send back
unchanged (`store: false`, `include: ["reasoning.encrypted_content"]`); turnout writes Anthropic's
thinking text and signature there, marked so that it knows its own.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from turnout.wire import hub
from turnout.wire._json import as_dict, as_text

MARK = "turnout.anthropic.v1:"


def wrap_reasoning(part: hub.Reasoning) -> str:
    """Encrypted content for reasoning another wire signed; "" when there is nothing to keep."""
    if part.origin != "anthropic" or not part.signature:
        return part.signature if part.origin == "responses" else ""
    kept = {"thinking": part.text, "signature": part.signature, "redacted": part.redacted}
    return MARK + base64.b64encode(orjson.dumps(kept)).decode()


def carried_reasoning(encrypted: str) -> hub.Reasoning | None:
    """The Anthropic thinking inside encrypted content turnout wrote, or None."""
    if not encrypted.startswith(MARK):
        return None
    try:
        kept = as_dict(orjson.loads(base64.b64decode(encrypted[len(MARK) :], validate=True)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        return None
    return hub.Reasoning(
        as_text(kept.get("thinking")),
        origin="anthropic",
        signature=as_text(kept.get("signature")),
        redacted=kept.get("redacted") is True,
        label="reasoning",
    )
