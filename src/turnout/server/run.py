"""Run the gateway under uvicorn (httptools and uvloop when installed)."""

from __future__ import annotations

import ipaddress
import logging
import sys
from pathlib import Path

import uvicorn

from turnout.config.model import GatewayConfig
from turnout.ledger.ledger import Ledger
from turnout.server.app import TurnoutApp
from turnout.server.gateway import Gateway, Shared


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


def serve(
    config: GatewayConfig,
    host: str,
    port: int,
    log_level: str = "info",
    config_path: Path | None = None,
) -> None:
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    ledger = None if config.ledger == "off" else Ledger.for_server(config.ledger, port)
    app = TurnoutApp(Gateway.build(config, Shared(ledger=ledger)), config_path)
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop=_loop(),
        http="httptools",
        access_log=False,
        log_level=log_level,
        lifespan="on",
        proxy_headers=False,
        timeout_graceful_shutdown=30,
    )
