"""`turnout` whose ledger journal lives on a disk the chaos run fills and frees at will.

    CHAOS_DISK_FULL=/tmp/run/disk-full python -m tests.chaos.full_disk serve --config ...

It is the real command in every respect but one: the journal's writes go through `FillingDisk`
(the journal takes its write function for this), which behaves as a full disk does while the
file named by `CHAOS_DISK_FULL` exists: the first write cut short (a torn line), then
ENOSPC, until the file is removed and the disk has room again. Only tests start it.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import turnout.ledger.ledger
from turnout.cli.main import main
from turnout.ledger.journal import Journal, Write

FLAG_ENV = "CHAOS_DISK_FULL"


class FillingDisk:
    """`os.write`, except while `flag` exists: then one short write, then ENOSPC."""

    def __init__(self, flag: Path) -> None:
        self.flag = flag
        self._short_written = False

    def write(self, fd: int, data: bytes) -> int:
        if not self.flag.exists():
            self._short_written = False
            return os.write(fd, data)
        if not self._short_written:
            self._short_written = True
            return os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def run() -> int:
    disk = FillingDisk(Path(os.environ[FLAG_ENV]))

    class JournalOnThisDisk(Journal):
        def __init__(self, path: Path, *, write: Write = os.write) -> None:
            super().__init__(path, write=disk.write)

    # The ledger opens its journal by this name; nothing else of the command changes.
    vars(turnout.ledger.ledger)["Journal"] = JournalOnThisDisk
    return main()


if __name__ == "__main__":
    raise SystemExit(run())
