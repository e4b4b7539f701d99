"""The embedded default: providers detected from the environment and local ports; and the demo."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from turnout.config.load import Kinds, build_config, load_config
from turnout.config.model import GatewayConfig

#: (provider name, key variable, kind, base URL variable, default base URL), in preference order.
ENV_PROVIDERS: tuple[tuple[str, str, str, str | None, str], ...] = (
    (
        "anthropic",
        "ANTHROPIC_API_KEY",
        "anthropic",
        "ANTHROPIC_BASE_URL",
        "https://api.anthropic.com",
    ),
    ("openai", "OPENAI_API_KEY", "openai", "OPENAI_BASE_URL", "https://api.openai.com/v1"),
    ("openrouter", "OPENROUTER_API_KEY", "openai", None, "https://openrouter.ai/api/v1"),
    ("deepseek", "DEEPSEEK_API_KEY", "openai", None, "https://api.deepseek.com/v1"),
)
#: Local OpenAI-compatible servers found by trying their usual port.
LOCAL_SERVERS: tuple[tuple[str, int], ...] = (("ollama", 11434), ("lmstudio", 1234))
#: Model-name patterns and the providers that serve them natively.
FAMILIES: tuple[tuple[str, str], ...] = (
    ("claude-*", "anthropic"),
    ("gpt-*", "openai"),
    ("o[0-9]*", "openai"),
    ("deepseek-*", "deepseek"),
)

DEMO_GATE_BODY = (
    '{"type":"error","error":{"type":"invalid_request_error","message":"You\'re out of extra '
    'usage. Add more at claude.ai/settings/usage and keep going."}}'
)


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "turnout" / "config.yaml"


def find_config(explicit: str | None, env: Mapping[str, str] = os.environ) -> Path | None:
    """--config, then $TURNOUT_CONFIG, then the user's config directory; None: embedded default."""
    if explicit:
        return Path(explicit)
    if env.get("TURNOUT_CONFIG"):
        return Path(env["TURNOUT_CONFIG"])
    path = user_config_path()
    return path if path.is_file() else None


def _port_open(port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def detected_providers(env: Mapping[str, str], probe_local: bool = True) -> dict[str, Any]:
    providers: dict[str, Any] = {}
    for name, key_var, kind, url_var, default_url in ENV_PROVIDERS:
        if env.get(key_var):
            base_url = env.get(url_var, "") if url_var else ""
            providers[name] = {
                "kind": kind,
                "base_url": base_url or default_url,
                "api_key": "${" + key_var + "}",
            }
    if probe_local:
        for name, port in LOCAL_SERVERS:
            if _port_open(port):
                base_url = f"http://127.0.0.1:{port}/v1"
                providers[name] = {"kind": "openai", "base_url": base_url}
    return providers


def embedded_default(
    kinds: Kinds, env: Mapping[str, str] = os.environ, probe_local: bool = True
) -> GatewayConfig:
    """Routes over whatever is available; with nothing detected, a config with no routes."""
    providers = detected_providers(env, probe_local)
    routes: dict[str, list[str]] = {}
    for pattern, native in FAMILIES:
        if native in providers:
            routes[pattern] = [f"{native}/*"] + [f"{p}/*" for p in providers if p != native]
    if providers:
        routes["*"] = [f"{p}/*" for p in providers]
    data = {"providers": providers, "routes": routes}
    return build_config(data, env, "<embedded default>", kinds=kinds, allow_empty=True)


def demo_config(kinds: Kinds) -> GatewayConfig:
    """A gated first path and a healthy second one: a failover to see with one curl.

    Its requests are not the user's traffic: the ledger is off, so they never land in the
    user's real ledger (the counters of /metrics and the dashboard still show them)."""
    data = {
        "ledger": "off",
        "providers": {
            "claude-sub": {"kind": "mock", "script": [{"status": 400, "body": DEMO_GATE_BODY}]},
            "backup": {
                "kind": "mock",
                "script": [
                    {
                        "reply": "Hello from the backup path. The first path is out of extra "
                        "usage, so turnout failed over; see the x-turnout-attempts header."
                    }
                ],
            },
        },
        "routes": {"*": ["claude-sub/*", "backup/*"]},
    }
    return build_config(data, {}, "<demo>", kinds=kinds)


def load_for_command(explicit: str | None, kinds: Kinds, demo: bool = False) -> GatewayConfig:
    """The config a command runs with, by the documented order of precedence."""
    if demo:
        return demo_config(kinds)
    path = find_config(explicit)
    return load_config(path, kinds=kinds) if path is not None else embedded_default(kinds)
