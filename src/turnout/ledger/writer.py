"""Moves journal lines into the database in batches, off the request path.

The database remembers how far into the journal it has stored, in the same transaction as the
rows, so a restart resumes exactly there; inserts ignore ids already stored, so a replay after
a crash at any point stores each request once. A line that cannot be read (torn by a full
disk, or edited by hand) is set aside and skipped, never a reason to stop storing the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import orjson

from turnout.ledger.journal import Journal
from turnout.ledger.record import RequestRecord
from turnout.ledger.store import LedgerError, LedgerStore
from turnout.periodic import Every

log = logging.getLogger("turnout.ledger")

FLUSH_S = 0.25
#: Once everything is stored and the journal is this large, it starts over.
ROTATE_BYTES = 8 << 20


class LedgerWriter:
    def __init__(self, journal: Journal, store: LedgerStore, journal_id: str) -> None:
        self._journal = journal
        self._store = store
        self._journal_id = journal_id
        self._offset = 0
        #: Called on the loop after a flush stored records (the dashboard re-reads its tables).
        self.on_stored: list[Callable[[], None]] = []
        # The database away is no loss: the journal keeps everything until it returns.
        self._loop = Every(FLUSH_S, self._flush_step, expected=(LedgerError,), what="ledger store")

    async def start(self) -> None:
        self._offset = await asyncio.to_thread(self._store.stored_offset, self._journal_id)
        if self._offset > self._journal.size():
            self._offset = 0  # the journal was emptied after the mark was last saved
        await self.flush()
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        if self._journal.retry_backlog():
            log.error(
                "ledger: %d records could not be written to the journal (disk full?) and are lost",
                len(self._journal.backlog),
            )
        await self.flush()

    async def _flush_step(self) -> None:
        self._journal.retry_backlog()
        await self.flush()

    async def flush(self) -> int:
        """Store every complete journal line; returns how many."""
        stored = 0
        while True:
            lines, end = self._journal.read_from(self._offset)
            if not lines:
                break
            records = [record for line in lines if (record := self._read(line)) is not None]
            await asyncio.to_thread(self._store.store, records, self._journal_id, end)
            self._offset = end
            stored += len(records)
        if stored:
            for callback in self.on_stored:
                callback()
        # No await between the size check and the truncation: appends run on this loop too.
        if self._offset >= ROTATE_BYTES and self._offset == self._journal.size():
            self._journal.truncate()
            self._offset = 0
            await asyncio.to_thread(self._store.store, [], self._journal_id, 0)
        return stored

    def _read(self, line: bytes) -> RequestRecord | None:
        try:
            return RequestRecord.from_dict(orjson.loads(line))
        except (ValueError, TypeError) as exc:
            log.error("ledger journal line unreadable, set aside: %s", exc)
            self._journal.reject(line)
            return None
