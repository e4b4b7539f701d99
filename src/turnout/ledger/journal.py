"""An append-only file of request records: the only ledger work on the request path.

One `write` of one line per request, before the response's last bytes go out: a killed process
(kill -9) cannot lose a line the kernel has accepted, so no completed request is lost. The
writer moves lines into the database in batches and remembers how far it got.

A full disk (or any write error) must not turn a request the upstream already served and billed
into a 500. `append` never raises: a record that cannot be written waits in a bounded backlog in
memory and is written when the disk has room again (`retry_backlog`, called by the writer). A
short write leaves a torn line; the next write starts on a fresh line, and the reader sets
aside a line it cannot parse (in `<journal>.rejected`) instead of stopping on it.

One journal belongs to one process: it is locked while open, so a second process given the same
journal (a new gateway on the port while the old one drains) takes the next free one instead of
sharing and truncating it.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path

from turnout.ledger.record import RequestRecord

log = logging.getLogger("turnout.ledger")

#: Records held in memory while the journal cannot be written; past this the oldest is lost
#: (and counted), so a disk that stays full cannot exhaust memory.
BACKLOG_MAX = 100_000

Write = Callable[[int, bytes], int]


def lock_free_journal(base: Path) -> tuple[Path, int]:
    """Open and lock `base`, or the first of `base-2`, `base-3`, ... that no process holds."""
    base.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        path = base if n == 1 else base.with_name(f"{base.name}-{n}")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return path, fd
    raise RuntimeError(f"every journal next to {base} is held by another process")


class Journal:
    def __init__(self, path: Path, *, write: Write = os.write) -> None:
        self.path, self._fd = lock_free_journal(path)
        self._write = write
        self._torn = False  # the last write stopped mid-line
        self.backlog: deque[bytes] = deque()
        self.lost = 0  # records dropped from a full backlog
        self.rejected = 0  # lines set aside because they could not be read

    def append(self, record: RequestRecord) -> None:
        line = record.to_line()
        if self.backlog or not self._put(line):
            self._hold(line)

    def retry_backlog(self) -> int:
        """Write what waited for room, oldest first; returns how many records are still waiting."""
        while self.backlog and self._put(self.backlog[0]):
            self.backlog.popleft()
        return len(self.backlog)

    def _put(self, line: bytes) -> bool:
        data = b"\n" + line if self._torn else line
        try:
            written = self._write(self._fd, data)
        except OSError as exc:
            log.error(
                "ledger journal %s: cannot write (%s); holding records in memory", self.path, exc
            )
            return False
        if written == len(data):
            self._torn = False
            return True
        self._torn = True  # part of the line is on disk: the next write starts a new line
        log.error(
            "ledger journal %s: short write (disk full?); holding records in memory", self.path
        )
        return False

    def _hold(self, line: bytes) -> None:
        if len(self.backlog) >= BACKLOG_MAX:
            self.backlog.popleft()
            self.lost += 1
        self.backlog.append(line)

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def read_from(self, offset: int, limit: int = 1 << 20) -> tuple[list[bytes], int]:
        """Whole lines from `offset` (at most about `limit` bytes) and the offset after them."""
        with self.path.open("rb") as reader:
            reader.seek(offset)
            chunk = reader.read(limit)
        end = chunk.rfind(b"\n")
        if end == -1:
            if len(chunk) >= limit:  # one line longer than the limit: no record is that long
                self.reject(chunk)
                return [], offset + len(chunk)
            return [], offset
        lines = chunk[: end + 1].splitlines()
        return [line for line in lines if line.strip()], offset + end + 1

    def reject(self, line: bytes) -> None:
        """Keep an unreadable line aside, for a person to look at, and go on."""
        self.rejected += 1
        try:
            with self.path.with_name(self.path.name + ".rejected").open("ab") as aside:
                aside.write(line.rstrip(b"\n") + b"\n")
        except OSError as exc:
            log.error("ledger journal %s: cannot keep an unreadable line aside: %s", self.path, exc)

    def truncate(self) -> None:
        """Empty the journal; only when every line is stored (the caller makes sure)."""
        os.ftruncate(self._fd, 0)
        self._torn = False

    def close(self) -> None:
        os.close(self._fd)  # releases the lock
