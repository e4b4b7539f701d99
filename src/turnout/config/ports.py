"""Is the configured address free? Asked before serving, so the answer names the config."""

from __future__ import annotations

import errno
import socket

from turnout.config.load import ConfigError


def port_problem(host: str, port: int) -> ConfigError | None:
    """A ConfigError when nothing could listen on host:port, else None."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return ConfigError(
                    f"port {port} on {host} is in use",
                    "stop the other process, or choose another port (server.port or --port)",
                    at=("server", "port"),
                )
            return ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror}",
                "check server.host (an address of this machine, e.g. 127.0.0.1)",
                at=("server", "host"),
            )
    return None
