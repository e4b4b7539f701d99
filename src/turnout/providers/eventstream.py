"""AWS event-stream framing (`application/vnd.amazon.eventstream`), decoded under a bound.

A frame: total length and headers length (4 bytes each, big-endian), a CRC32 of those 8
bytes, the headers, the payload, a CRC32 of everything before it. The prelude is checked
before anything else is trusted, and a frame announcing more than `max_frame` bytes is
refused before it is buffered, so a hostile length cannot make the gateway hold memory.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from turnout.errors import ResponseRefused

PRELUDE = 12  # two lengths and the prelude CRC
OVERHEAD = PRELUDE + 4  # and the message CRC
_LENGTHS = struct.Struct(">II")
_CRC = struct.Struct(">I")
#: Header value types with a fixed size: bool true/false, byte, short, int, long, timestamp, uuid.
_FIXED = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}
HeaderValue = bool | int | bytes | str


@dataclass(frozen=True, slots=True)
class Frame:
    headers: dict[str, HeaderValue]
    payload: bytes

    def header(self, name: str) -> str:
        value = self.headers.get(name, "")
        return value if isinstance(value, str) else str(value)


def _refused(what: str) -> ResponseRefused:
    return ResponseRefused.because(f"its event stream {what}")


def parse_headers(data: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    at = 0
    try:
        while at < len(data):
            size = data[at]
            name = data[at + 1 : at + 1 + size].decode()
            at += 1 + size
            kind = data[at]
            at += 1
            if kind in _FIXED:
                width = _FIXED[kind]
                raw = data[at : at + width]
                if len(raw) != width:
                    raise _refused("has a header cut short")
                at += width
                value: HeaderValue
                if kind in (0, 1):
                    value = kind == 0
                elif kind == 9:
                    value = str(uuid.UUID(bytes=raw))
                else:
                    value = int.from_bytes(raw, "big", signed=True)
            elif kind in (6, 7):
                (length,) = struct.unpack_from(">H", data, at)
                raw = data[at + 2 : at + 2 + length]
                if len(raw) != length:
                    raise _refused("has a header cut short")
                at += 2 + length
                value = raw.decode() if kind == 7 else raw
            else:
                raise _refused(f"has a header of unknown type {kind}")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError, ValueError) as exc:
        raise _refused(f"has unreadable headers ({exc})") from exc
    return headers


class EventStreamDecoder:
    """Feed bytes as they arrive, get whole frames; `finish()` refuses a frame left half sent."""

    __slots__ = ("_buffer", "max_frame")

    def __init__(self, max_frame: int) -> None:
        self._buffer = bytearray()
        self.max_frame = max_frame

    def feed(self, data: bytes) -> Iterator[Frame]:
        self._buffer += data
        while len(self._buffer) >= PRELUDE:
            total, headers_length = _LENGTHS.unpack_from(self._buffer)
            (prelude_crc,) = _CRC.unpack_from(self._buffer, 8)
            if zlib.crc32(self._buffer[:8]) != prelude_crc:
                raise _refused("has a frame whose prelude fails its CRC")
            if total < OVERHEAD or headers_length > total - OVERHEAD:
                raise _refused(f"has a frame of impossible lengths ({total}, {headers_length})")
            if total > self.max_frame:
                raise _refused(
                    f"announces a frame of {total} bytes, over the bound of {self.max_frame}"
                )
            if len(self._buffer) < total:
                return
            frame = bytes(self._buffer[:total])
            del self._buffer[:total]
            (message_crc,) = _CRC.unpack_from(frame, total - 4)
            if zlib.crc32(frame[:-4]) != message_crc:
                raise _refused("has a frame that fails its message CRC")
            headers = parse_headers(frame[PRELUDE : PRELUDE + headers_length])
            yield Frame(headers, frame[PRELUDE + headers_length : -4])

    def finish(self) -> None:
        if self._buffer:
            raise _refused(f"ended inside a frame ({len(self._buffer)} bytes of it)")
