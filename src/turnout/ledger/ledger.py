"""The ledger as the gateway uses it: record a request (one journal append), and the writer
that stores records in the database in the background."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from turnout.ledger.journal import Journal
from turnout.ledger.record import RequestRecord
from turnout.ledger.store import LedgerStore, migrate, open_database
from turnout.ledger.writer import LedgerWriter


def data_dir() -> Path:
    """Where turnout keeps state files: $XDG_DATA_HOME/turnout or ~/.local/share/turnout."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "turnout"


def default_location() -> str:
    return str(data_dir() / "ledger.sqlite3")


class Ledger:
    """Opened at start-up (migrating the schema), closed at shutdown after a final flush."""

    def __init__(self, location: str, journal_id: str) -> None:
        self.location = location
        self.store = LedgerStore(open_database(location))
        migrate(self.store.db)
        if self.store.db.engine == "sqlite":
            journal_path = Path(location).expanduser().with_suffix(f".journal-{journal_id}")
        else:
            journal_path = data_dir() / f"ledger.journal-{journal_id}"
        self.journal = Journal(journal_path)
        # Another process may hold that journal: ours is then `...-2`, and so is our mark.
        self.journal_id = self.journal.path.name.split(".journal-", 1)[1]
        self.writer = LedgerWriter(self.journal, self.store, self.journal_id)

    @classmethod
    def for_server(cls, location: str | None, port: int) -> Ledger:
        """One journal per gateway process: replicas on one machine keep apart."""
        return cls(location or default_location(), f"{socket.gethostname()}-{port}")

    def record(self, record: RequestRecord) -> None:
        self.journal.append(record)

    async def start(self) -> None:
        await self.writer.start()

    async def stop(self) -> None:
        await self.writer.stop()
        self.journal.close()
        self.store.db.close()
