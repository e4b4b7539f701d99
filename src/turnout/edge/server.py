"""Run the gateway under uvicorn (httptools and uvloop when installed)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ipaddress
import math
import os
import socket
import sys
from pathlib import Path
from types import FrameType

import uvicorn

from turnout.config.model import GatewayConfig
from turnout.edge.app import TurnoutApp
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


#: Blocks at least this large get pages of their own, handed back to the system when freed.
MMAP_THRESHOLD_BYTES = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def fix_mmap_threshold() -> bool:
    """Keep large blocks out of the heap, so memory they held is given back when they go.

    glibc puts a large block in pages of its own, but each time one is freed it raises that
    threshold to the freed block's size (up to 32 MiB), so later large blocks (an upstream
    body of up to `max_response_bytes`, decompressed and parsed) come from the heap, which
    seldom shrinks: resident memory then climbs in steps for as long as the gateway runs,
    with no Python object left behind. A threshold set once stays fixed. Not on other C
    libraries, nor when `MALLOC_MMAP_THRESHOLD_` already says; True if it was set."""
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a C library without it
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


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

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None:  # called in a signal handler: hand over to the loop
            self._loop.call_soon_threadsafe(self._stopping)

    def _stopping(self) -> None:
        shared = self._app.gateway.shared
        shared.telemetry.close()
        shared.streams.stop(self._app.gateway.config.server.drain_s)
