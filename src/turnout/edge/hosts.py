"""Who may reach a gateway that has no keys: this machine's own programs, not a web page.

With no gateway keys the gateway listens on loopback only, and any program on the machine
may use it; a web page in a browser on the same machine must not. Two browser tricks reach a
loopback port: a cross-site request (a page posts to http://127.0.0.1:8787) and DNS
rebinding (a page's own name is made to resolve to 127.0.0.1, so the browser treats the
gateway as that page's origin and lets it read answers). Against the first, the API takes
only `Content-Type: application/json` (a page cannot send that cross-site without a CORS
preflight, which the gateway never grants); against the second, the Host header must name
this machine: a loopback address, `localhost` (or a name under it), or the address the
server is bound to. The operator's pages (/dashboard, /metrics) also refuse a request whose
Origin is not the gateway's own, whatever the keys.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["host_of", "is_json", "names_this_machine", "same_origin"]


def is_json(content_type: str) -> bool:
    """`application/json`, with parameters (`; charset=utf-8`) or without; nothing else."""
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def host_of(authority: str) -> str:
    """The host part of a Host header or an origin's authority, lower case, no brackets."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority[1:].split("]", 1)[0]
    if authority.count(":") > 1:  # a bare IPv6 address
        return authority
    return authority.rsplit(":", 1)[0] if ":" in authority else authority


def names_this_machine(headers: Mapping[str, str], scope: Mapping[str, Any]) -> bool:
    """Whether the Host header names a loopback address, localhost or the bound address
    (a client that sends none is not a browser)."""
    raw = headers.get("host")
    if raw is None:
        return True
    host = host_of(raw)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    server = scope.get("server")
    if server and host == str(server[0]).lower():
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def same_origin(headers: Mapping[str, str]) -> bool:
    """Whether a request's Origin (when a browser sends one) is the gateway's own."""
    origin = headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False  # "null" (a sandboxed frame, a file), or nonsense
    return parts.netloc.lower() == headers.get("host", "").strip().lower()
