"""An append-only file of request records: the only ledger work on the request path.

One `write` of one line per request, before the response's last bytes go out: a killed process
(kill -9) cannot lose a line the kernel has accepted, so no completed request is lost. The
writer moves lines into the database in batches and remembers how far it got.
"""

from __future__ import annotations

import os
from pathlib import Path

from turnout.ledger.record import RequestRecord


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def append(self, record: RequestRecord) -> None:
        os.write(self._fd, record.to_line())

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def read_from(self, offset: int, limit: int = 1 << 20) -> tuple[list[bytes], int]:
        """Whole lines from `offset` (at most about `limit` bytes) and the offset after them."""
        with self.path.open("rb") as reader:
            reader.seek(offset)
            chunk = reader.read(limit)
        end = chunk.rfind(b"\n")
        if end == -1:
            return [], offset
        lines = chunk[: end + 1].splitlines()
        return [line for line in lines if line.strip()], offset + end + 1

    def truncate(self) -> None:
        """Empty the journal; only when every line is stored (the caller makes sure)."""
        os.ftruncate(self._fd, 0)

    def close(self) -> None:
        os.close(self._fd)
