"""The journal keeps every record through a full disk, a torn line and a second process."""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import time
from pathlib import Path

from turnout.ledger.journal import Journal
from turnout.ledger.ledger import Ledger
from turnout.ledger.record import RequestRecord
from turnout.ledger.store import LedgerStore, migrate, open_database
from turnout.ledger.writer import LedgerWriter


def record(i: int) -> RequestRecord:
    return RequestRecord(
        id=f"req-{i}", ts=time.time(), model="m", route="m", client_dialect="openai",
        stream=False, status=200, outcome="ok",
    )  # fmt: skip


def stored_ids(location: Path) -> set[str]:
    with sqlite3.connect(location) as db:
        return {row[0] for row in db.execute("SELECT id FROM requests")}


class Disk:
    """os.write, until the disk fills: then one short write and ENOSPC until it is freed."""

    def __init__(self) -> None:
        self.full = False
        self.short_written = False

    def write(self, fd: int, data: bytes) -> int:
        if not self.full:
            return os.write(fd, data)
        if not self.short_written:
            self.short_written = True
            return os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_disk_that_fills_and_frees_loses_no_record(tmp_path: Path) -> None:
    location = tmp_path / "ledger.sqlite3"
    disk = Disk()
    journal = Journal(tmp_path / "ledger.journal-test", write=disk.write)
    store = LedgerStore(open_database(str(location)))
    migrate(store.db)
    writer = LedgerWriter(journal, store, "test")

    async def scenario() -> None:
        await writer.start()
        try:
            for i in range(10):
                journal.append(record(i))
            disk.full = True
            for i in range(10, 40):
                journal.append(record(i))  # never raises: the request was served and billed
            assert len(journal.backlog) == 30
            await writer.flush()
            assert stored_ids(location) == {f"req-{i}" for i in range(10)}
            disk.full = False
            assert journal.retry_backlog() == 0
            journal.append(record(40))
            await writer.flush()
        finally:
            await writer.stop()

    asyncio.run(scenario())
    assert stored_ids(location) == {f"req-{i}" for i in range(41)}
    assert journal.rejected == 1  # the torn half line, set aside
    aside = (tmp_path / "ledger.journal-test.rejected").read_bytes()
    assert aside.startswith(b'{"id":"req-10"')
    journal.close()
    store.db.close()


def test_an_unreadable_line_is_set_aside_and_the_rest_is_stored(tmp_path: Path) -> None:
    journal_path = tmp_path / "ledger.journal-test"
    journal_path.write_bytes(
        record(1).to_line() + b"this line was edited by hand\n" + record(2).to_line()
    )
    ledger = Ledger(str(tmp_path / "ledger.sqlite3"), "test")

    async def scenario() -> None:
        await ledger.start()  # a bad line does not stop the gateway from starting
        await ledger.stop()

    asyncio.run(scenario())
    assert stored_ids(tmp_path / "ledger.sqlite3") == {"req-1", "req-2"}
    assert (tmp_path / "ledger.journal-test.rejected").read_bytes() == (
        b"this line was edited by hand\n"
    )


def test_a_second_process_on_the_same_journal_takes_its_own(tmp_path: Path) -> None:
    location = str(tmp_path / "ledger.sqlite3")
    draining = Ledger(location, "host-8787")
    newcomer = Ledger(location, "host-8787")
    assert newcomer.journal.path != draining.journal.path
    assert newcomer.journal_id == "host-8787-2"

    async def scenario() -> None:
        await draining.start()
        await newcomer.start()
        for i in range(500):
            (draining if i % 2 else newcomer).record(record(i))
        await newcomer.stop()
        await draining.stop()

    asyncio.run(scenario())
    assert stored_ids(Path(location)) == {f"req-{i}" for i in range(500)}
    again = Ledger(location, "host-8787")  # both released their journals on stop
    assert again.journal_id == "host-8787"
    again.journal.close()
    again.store.db.close()
