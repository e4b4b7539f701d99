"""Run the gateway under uvicorn (httptools and uvloop when installed)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import socket
import sys
from pathlib import Path
from types import FrameType

import uvicorn

from turnout.config.model import GatewayConfig
from turnout.edge.app import TurnoutApp
from turnout.edge.heap import fix_mmap_threshold, settle_startup_heap
from turnout.edge.protocol import BoundedHttpProtocol
from turnout.edge.workers import listening_socket, shared_state_config, supervise
from turnout.ledger.ledger import Ledger
from turnout.redaction import SecretMask
from turnout.runtime.gateway import Gateway, Shared
from turnout.telemetry.logs import setup_logging


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _loop() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def _raise_descriptor_limit() -> None:
    """Every client and upstream connection is a descriptor; a soft limit of 1024 (a common
    default) runs out long before memory does. Raised to the hard limit the system allows."""
    try:
        import resource
    except ImportError:  # not on every platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def default_state(config: GatewayConfig, port: int) -> str | None:
    """Where gates are kept when the config does not say: the SQLite file for this port in the
    data directory (the one `--workers` share), so a gateway restarted on its port still knows
    which paths are gated and until when. Memory when the ledger is off (no files at all, as
    `serve --demo` runs)."""
    if config.state is not None:
        return config.state
    if config.ledger == "off":
        return None
    return shared_state_config(config, port).state


def serve(
    config: GatewayConfig,
    host: str,
    port: int,
    log_level: str = "info",
    config_path: Path | None = None,
    workers: int = 1,
) -> None:
    mask = SecretMask(config.secrets())  # the logs mask what the gateway masks
    setup_logging(log_level, mask=mask)
    _raise_descriptor_limit()
    fix_mmap_threshold()  # before any worker forks: they inherit it
    if workers <= 1:
        code = _serve_one(config, host, port, log_level, config_path, mask, None)
    else:
        config = shared_state_config(config, port)
        sock = listening_socket(host, port)
        code = supervise(
            workers, lambda: _serve_one(config, host, port, log_level, config_path, mask, [sock])
        )
    if code:
        sys.exit(code)


def _serve_one(
    config: GatewayConfig,
    host: str,
    port: int,
    log_level: str,
    config_path: Path | None,
    mask: SecretMask,
    sockets: list[socket.socket] | None,
) -> int:
    """One gateway process until it is asked to stop; 3 (uvicorn's STARTUP_FAILURE) if it
    could not start."""
    ledger = None if config.ledger == "off" else Ledger.for_server(config.ledger, port)
    shared = Shared.over(default_state(config, port), ledger)
    shared.mask = mask
    app = TurnoutApp(Gateway.build(config, shared), config_path)
    settings = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop=_loop(),
        http=BoundedHttpProtocol,
        access_log=False,
        log_config=None,  # uvicorn's loggers go through ours (JSON lines off a terminal)
        log_level=log_level,
        lifespan="on",
        proxy_headers=False,
        # Past the drain, streams still open get their closing event: time to send it.
        timeout_graceful_shutdown=math.ceil(config.server.drain_s) + 20,
    )
    server = _Server(settings, app)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets)
    return 0 if server.started else 3


class _Server(uvicorn.Server):
    """uvicorn's server that, asked to stop, also ends the dashboard's event streams (they
    never end by themselves and would hold the graceful shutdown for its whole timeout) and,
    after the drain time, the relayed streams still open, each with an error event."""

    def __init__(self, config: uvicorn.Config, app: TurnoutApp) -> None:
        super().__init__(config)
        self._app = app
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)  # the app's startup has run: what it keeps is loaded
        settle_startup_heap()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None:  # called in a signal handler: hand over to the loop
            self._loop.call_soon_threadsafe(self._stopping)

    def _stopping(self) -> None:
        shared = self._app.gateway.shared
        shared.telemetry.close()
        shared.streams.stop(self._app.gateway.config.server.drain_s)
