"""Hot reload: a changed config file (or SIGHUP) is checked and swapped in without dropping
in-flight requests. A broken config is refused with its messages and the running one stays.

Requests hold the gateway they started with; the replaced one is closed once it has none.
Path health carries over, so a reload does not forget which paths are gated. Reading and
checking the file runs in a worker thread: however large or odd the file, requests go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Protocol

from turnout.config.load import ConfigError
from turnout.periodic import Every
from turnout.runtime.configs import load_config
from turnout.runtime.gateway import Gateway

log = logging.getLogger("turnout.reload")

POLL_S = 1.0
#: A replaced gateway still serving a stream this long is closed anyway.
DRAIN_LIMIT_S = 600.0


class Serving(Protocol):
    """What a reload swaps: the gateway new requests are given (the edge's app holds it)."""

    gateway: Gateway


class ConfigReloader:
    def __init__(self, app: Serving, path: Path, poll_s: float = POLL_S) -> None:
        self._app = app
        self._path = path
        self._loop = Every(poll_s, self._look, what="config watch")
        self._stamp = self._read_stamp()
        self._drains: set[asyncio.Task[object]] = set()  # reloads and drains under way

    def _read_stamp(self) -> tuple[float, int] | None:
        try:
            stat = self._path.stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop.start()
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.add_signal_handler(signal.SIGHUP, self._reload_soon, "SIGHUP")  # main thread only

    async def stop(self) -> None:
        await self._loop.stop()
        for task in list(self._drains):
            await task

    async def _look(self) -> None:
        stamp = self._read_stamp()
        if stamp is not None and stamp != self._stamp:
            self._stamp = stamp
            await self.reload("file changed")

    def _reload_soon(self, reason: str) -> None:
        self._track(asyncio.get_running_loop().create_task(self.reload(reason)))

    def _track(self, task: asyncio.Task[object]) -> None:
        self._drains.add(task)
        task.add_done_callback(self._drains.discard)

    async def reload(self, reason: str = "requested") -> bool:
        """Load, check and swap in the config file; False (and the old config kept) if broken."""
        try:
            config = await asyncio.to_thread(load_config, self._path)
        except ConfigError as exc:
            log.error("config reload refused, keeping the running config:\n%s", exc)
            return False
        except Exception:
            log.exception("config reload failed, keeping the running config")
            return False
        old = self._app.gateway  # read after the load: another reload may have swapped since
        if (config.server.host, config.server.port) != (
            old.config.server.host,
            old.config.server.port,
        ):
            log.warning("server.host and server.port changes take effect after a restart")
        if config.ledger != old.config.ledger:
            log.warning("a change of ledger takes effect after a restart")
        self._app.gateway = Gateway.build(config, shared=old.shared)
        log.info("config reloaded from %s (%s): %d routes", self._path, reason, len(config.routes))
        self._track(asyncio.get_running_loop().create_task(self._close_when_idle(old)))
        return True

    @staticmethod
    async def _close_when_idle(old: Gateway) -> None:
        waited = 0.0
        while old.active > 0 and waited < DRAIN_LIMIT_S:
            await asyncio.sleep(0.05)
            waited += 0.05
        await old.aclose()
