"""An upstream body read under a cap: decompressed here, in small pieces, never past the cap.

The HTTP client's own decompression would expand a gzip bomb whole before anyone could count
it (500 KB of gzip is 500 MB of zeros). Here each compressed chunk is inflated at most
`PIECE` bytes at a time and every byte counts against the cap, so memory stays within
the cap whatever the ratio.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from turnout.errors import ResponseRefused

#: What the gateway asks upstreams for, and so accepts (`identity` needs no asking).
ACCEPT_ENCODING = "gzip, deflate"
#: The most one inflate step may produce.
PIECE = 256 * 1024
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class BoundedBody:
    """Feed raw chunks, get decoded pieces; raises `ResponseRefused` past `limit` bytes.

    `setting` names the bound in messages, so a person knows which knob to turn.
    """

    __slots__ = ("_encoding", "_inflater", "_started", "limit", "setting", "total")

    def __init__(self, encoding: str, limit: int, setting: str) -> None:
        encoding = encoding.strip().lower()
        if encoding not in ("", "identity", *_WBITS):
            raise ResponseRefused.because(
                f"its content-encoding {encoding!r} is not one turnout asked for "
                f"({ACCEPT_ENCODING})"
            )
        self._encoding = encoding if encoding in _WBITS else ""
        self._inflater = zlib.decompressobj(_WBITS[self._encoding]) if self._encoding else None
        self._started = False
        self.limit = limit
        self.setting = setting
        self.total = 0

    def check_announced(self, length: int | None) -> None:
        """Refuse at once a body whose Content-Length already says it is too large."""
        if length is not None and not self._encoding and length > self.limit:
            raise self._too_large(f"it announces {length} bytes")

    def feed(self, raw: bytes) -> Iterator[bytes]:
        if self._inflater is None:
            yield self._count(raw)
            return
        data = raw
        while data:
            piece, data = self._inflate(data)
            if piece:
                yield self._count(piece)

    def _inflate(self, data: bytes) -> tuple[bytes, bytes]:
        """One bounded step: the output, and the input still to inflate."""
        assert self._inflater is not None
        try:
            piece = self._inflater.decompress(data, PIECE)
        except zlib.error as exc:
            if self._encoding == "deflate" and not self._started:
                # Some servers send raw deflate without the zlib wrapper HTTP asks for.
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                self._started = True
                return b"", data
            raise ResponseRefused.because(f"its {self._encoding} body is corrupt ({exc})") from exc
        self._started = True
        rest = self._inflater.unconsumed_tail
        if self._inflater.eof and self._inflater.unused_data:
            rest = self._inflater.unused_data  # another gzip member follows
            self._inflater = zlib.decompressobj(_WBITS[self._encoding])
        return piece, rest

    def _count(self, piece: bytes) -> bytes:
        self.total += len(piece)
        if self.total > self.limit:
            how = "it decompressed to" if self._encoding else "it sent"
            raise self._too_large(f"{how} more than {self.limit} bytes")
        return piece

    def _too_large(self, detail: str) -> ResponseRefused:
        return ResponseRefused.because(
            f"{detail}, over the {self.setting} bound of {self.limit} bytes"
        )
