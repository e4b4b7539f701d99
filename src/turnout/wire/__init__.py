"""Wire formats: one representation in the middle (`hub`), one codec per format around it
(`chat`, `messages`, `responses`, `gemini`; `converse`, Bedrock's, spoken upstream only), and
the SSE framing they share.

Callers ask a codec; none of them branches on a format's name.
"""

from turnout.wire.chat import CHAT
from turnout.wire.codec import CannotCarry, Codec, StreamRelay, UpstreamStreamError
from turnout.wire.converse import CONVERSE
from turnout.wire.gemini import GEMINI
from turnout.wire.messages import MESSAGES
from turnout.wire.responses import RESPONSES

#: Codecs by the name the config, the providers and the ledger use.
CODECS: dict[str, Codec] = {
    codec.name: codec for codec in (CHAT, MESSAGES, RESPONSES, GEMINI, CONVERSE)
}


def codec_named(name: str) -> Codec:
    return CODECS[name]


__all__ = [
    "CHAT",
    "CODECS",
    "GEMINI",
    "MESSAGES",
    "RESPONSES",
    "CannotCarry",
    "Codec",
    "StreamRelay",
    "UpstreamStreamError",
    "codec_named",
]
