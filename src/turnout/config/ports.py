"""Is the configured address free, and does no provider point back at it? Asked before
serving, so the answer names the config."""

from __future__ import annotations

import errno
import ipaddress
import socket
from urllib.parse import urlsplit

from turnout.config.load import ConfigError
from turnout.config.model import GatewayConfig


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


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def providers_at(config: GatewayConfig, host: str, port: int) -> list[str]:
    """Providers whose base URL is this gateway's own address: relaying to them would loop."""
    wildcard = host in ("0.0.0.0", "::", "")
    own_names = {host.lower(), socket.gethostname().lower()} if wildcard else {host.lower()}
    listening_on_loopback = wildcard or _is_loopback(host)
    found = []
    for name, provider in config.providers.items():
        url = urlsplit(provider.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            continue
        try:
            url_port = url.port or (443 if url.scheme == "https" else 80)
        except ValueError:
            continue
        target = url.hostname.lower()
        same_host = target in own_names or (listening_on_loopback and _is_loopback(target))
        if same_host and url_port == port:
            found.append(name)
    return found
