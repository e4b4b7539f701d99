"""`turnout serve --workers N`: one listening socket, N gateway processes, one view of state.

One Python process serves on one core. Here the parent binds the socket and forks N workers
that accept from it, each a whole gateway (its own event loop, upstream connections and
ledger journal). What must agree across them — gates, probe leases, cooldowns, rate windows
and budgets — lives in a state store they share: the configured one, or, when the config
keeps state in memory, a SQLite file for this port in the data directory (no server to run;
gates then also outlive a restart). Counters behind `/metrics` are per worker.

The parent only supervises: SIGTERM or SIGINT is passed to every worker (each drains its
requests as a single gateway would), and a worker that dies unasked is started again, at most
`RESTARTS_PER_MINUTE` times a minute so a crash loop does not spin.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType

from turnout.config.model import GatewayConfig
from turnout.ledger.ledger import data_dir

log = logging.getLogger("turnout")

RESTARTS_PER_MINUTE = 5


def shared_state_config(config: GatewayConfig, port: int) -> GatewayConfig:
    """The config the workers run: memory state becomes a SQLite file they share."""
    if config.state is not None:
        return config
    path = data_dir() / f"state-{port}.sqlite3"
    return dataclasses.replace(config, state=f"sqlite://{path}")


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def supervise(workers: int, serve_one: Callable[[], int]) -> int:
    """Fork `workers` processes running `serve_one` and wait for them; the exit status."""
    children: dict[int, int] = {}  # pid -> worker number
    stopping = False
    restarts: list[float] = []

    def start(number: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            code = 1
            try:
                code = serve_one()
            finally:
                os._exit(code)
        children[pid] = number

    def stop(sig: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    for number in range(workers):
        start(number)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worst = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid not in children:
            continue
        number = children.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        worst = max(worst, abs(code))
        if stopping:
            continue
        now = time.monotonic()
        restarts[:] = [t for t in restarts if now - t < 60] + [now]
        if len(restarts) > RESTARTS_PER_MINUTE:
            log.error("worker %d keeps dying (exit %d); stopping the gateway", number, code)
            stop(signal.SIGTERM, None)
            continue
        log.error("worker %d (pid %d) exited with %d; starting it again", number, pid, code)
        start(number)
    return worst
