"""Keeps the gateway's keys and budgets in step with the ledger database.

`turnout keys create` and `revoke` write to the database; a running gateway picks the change up
within a couple of seconds, without a restart. Spend already recorded (this period) is read
once per budget, then counted in memory as requests settle.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from turnout.access.limits import period_start
from turnout.ledger.keys import GatewayKey, KeyStore
from turnout.ledger.store import LedgerError
from turnout.periodic import Every
from turnout.runtime.gateway import Gateway

log = logging.getLogger("turnout.keys")

REFRESH_S = 2.0


class KeySync:
    def __init__(self, current: Callable[[], Gateway], refresh_s: float = REFRESH_S) -> None:
        self._current = current
        self._loop = Every(
            refresh_s, self.sync, expected=(LedgerError,), what="gateway key refresh"
        )

    async def start(self) -> None:
        await self.sync()
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def sync(self) -> None:
        gateway = self._current()
        ledger = gateway.ledger
        if ledger is None:
            return
        keys = await asyncio.to_thread(KeyStore(ledger.store.db).all)
        shared = gateway.shared
        # A new key's budget first, then the key: reading its spend waits on the database, and
        # a key accepted meanwhile would be served with no budget at all.
        for key in keys:
            if key.revoked is None and key.id not in shared.budgets.keys:
                shared.budgets.configure_key(key, await self._spent_by_key(gateway, key))
        shared.keyring.replace(keys)
        for name, provider in gateway.config.providers.items():
            if provider.budget is not None and name not in shared.budgets.providers:
                limit, period = provider.budget
                since = period_start(period, time.time())
                spent = await asyncio.to_thread(ledger.store.spent_by_provider, name, since)
                shared.budgets.configure_provider(name, limit, period, spent)
        await shared.budgets.refresh(time.time())  # what other replicas spent on paths

    @staticmethod
    async def _spent_by_key(gateway: Gateway, key: GatewayKey) -> float:
        if key.budget_period is None or gateway.ledger is None:
            return 0.0
        since = period_start(key.budget_period, time.time())
        spent = await asyncio.to_thread(gateway.ledger.store.spent_since, since)
        return spent.get(key.id, 0.0)
