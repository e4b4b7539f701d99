"""Read a YAML config into a `GatewayConfig`, refusing mistakes with messages a person can act on.

Keys come from the environment (`api_key: ${ANTHROPIC_API_KEY}`), never from the file in clear.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from turnout.config.model import (
    SETTING_NAMES,
    GatewayConfig,
    ProviderConfig,
    RouteConfig,
    Secret,
    ServerConfig,
    Settings,
    Target,
)
from turnout.errors import TurnoutError

PROVIDER_KINDS = frozenset({"anthropic", "openai", "mock"})
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_TOP_LEVEL = frozenset({"providers", "routes", "defaults", "server", "aliases", "tasks"})
_PROVIDER_KEYS = frozenset(
    {"kind", "base_url", "api_key", "headers", "models", "script"} | SETTING_NAMES
)
_ROUTE_KEYS = frozenset({"targets"} | SETTING_NAMES)
_SERVER_KEYS = frozenset(f.name for f in fields(ServerConfig))


class ConfigError(TurnoutError):
    """A config the gateway refuses; `hint` says how to fix it."""

    def __init__(self, message: str, hint: str | None = None, source: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint
        self.source = source

    def __str__(self) -> str:
        text = super().__str__()
        return f"{self.source}: {text}" if self.source else text


def expand_env(value: str, env: Mapping[str, str], where: str) -> str:
    """Replace `${NAME}` and `${NAME:-default}`; an unset variable without default is an error."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{where}: environment variable {name} is not set",
            f"export {name}=... before starting turnout",
        )

    return _ENV_REFERENCE.sub(substitute, value)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping, not {type(value).__name__}")
    return value


def _check_keys(table: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    import difflib

    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else f"known keys: {', '.join(sorted(allowed))}"
            )
            raise ConfigError(f"{where}: unknown key {key!r}", hint)


def _settings(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    defaults = Settings()
    out: dict[str, Any] = {}
    for name in SETTING_NAMES & set(table):
        value = table[name]
        expected = type(getattr(defaults, name))
        if expected is tuple:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}.{name} must be a list of category names")
            out[name] = tuple(value)
        elif expected is int:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{where}.{name} must be a whole number >= 0")
            out[name] = value
        else:
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{where}.{name} must be a number of seconds >= 0")
            out[name] = float(value)
    return out


def _provider(name: str, raw: Any, env: Mapping[str, str]) -> ProviderConfig:
    where = f"providers.{name}"
    table = _mapping(raw, where)
    _check_keys(table, _PROVIDER_KEYS, where)
    kind = table.get("kind")
    if kind not in PROVIDER_KINDS:
        raise ConfigError(
            f"{where}.kind is {kind!r}", f"use one of: {', '.join(sorted(PROVIDER_KINDS))}"
        )
    base_url = expand_env(str(table.get("base_url") or ""), env, f"{where}.base_url").rstrip("/")
    if kind != "mock" and not re.match(r"^https?://[^/\s]+", base_url):
        raise ConfigError(
            f"{where}.base_url {base_url!r} is not an http(s) URL",
            "for example https://api.anthropic.com or https://relay.example/v1",
        )
    for suffix in ("/chat/completions", "/messages", "/completions"):
        if base_url.endswith(suffix):
            raise ConfigError(
                f"{where}.base_url ends in {suffix}",
                f"give the base only: {base_url[: -len(suffix)]}",
            )
    api_key = None
    raw_key = table.get("api_key")
    if raw_key is not None:
        raw_key = str(raw_key)
        if not _ENV_REFERENCE.search(raw_key):
            raise ConfigError(
                f"{where}.api_key is written in clear",
                "put the key in an environment variable and write api_key: ${MY_KEY}",
            )
        api_key = Secret(expand_env(raw_key, env, f"{where}.api_key"))
    headers = {
        str(k): expand_env(str(v), env, f"{where}.headers.{k}")
        for k, v in _mapping(table.get("headers"), f"{where}.headers").items()
    }
    windows: dict[str, int] = {}
    for model, info in _mapping(table.get("models"), f"{where}.models").items():
        window = _mapping(info, f"{where}.models.{model}").get("context_window")
        if window is not None:
            windows[str(model)] = int(window)
    script = table.get("script") or []
    if kind == "mock" and not isinstance(script, list):
        raise ConfigError(f"{where}.script must be a list of replies")
    return ProviderConfig(
        name=name,
        kind=kind,
        base_url=base_url,
        api_key=api_key,
        headers=headers,
        settings=_settings(table, where),
        context_windows=windows,
        script=tuple(_mapping(step, f"{where}.script[{i}]") for i, step in enumerate(script)),
    )


def _target(text: Any, where: str, providers: Mapping[str, ProviderConfig]) -> Target:
    if not isinstance(text, str) or "/" not in text:
        raise ConfigError(f"{where}: {text!r} is not provider/model", "write e.g. relay/gpt-4o")
    provider, model = text.split("/", 1)
    if provider not in providers:
        raise ConfigError(
            f"{where}: no provider named {provider!r}",
            f"configured providers: {', '.join(sorted(providers)) or 'none'}",
        )
    return Target(provider, model)


def _route(name: str, raw: Any, providers: Mapping[str, ProviderConfig]) -> RouteConfig:
    where = f"routes.{name}"
    table: dict[str, Any]
    if isinstance(raw, list):
        table = {"targets": raw}
    else:
        table = _mapping(raw, where)
        _check_keys(table, _ROUTE_KEYS, where)
    targets = table.get("targets")
    if not isinstance(targets, list) or not targets:
        raise ConfigError(f"{where} has no targets", "list provider/model paths, first preferred")
    return RouteConfig(
        name=name,
        targets=tuple(_target(t, f"{where}[{i}]", providers) for i, t in enumerate(targets)),
        settings=_settings(table, where),
    )


def _server(raw: Any, env: Mapping[str, str]) -> ServerConfig:
    table = _mapping(raw, "server")
    _check_keys(table, _SERVER_KEYS, "server")
    keys = tuple(Secret(expand_env(str(k), env, "server.keys")) for k in table.get("keys") or [])
    default = ServerConfig()
    return ServerConfig(
        host=str(table.get("host", default.host)),
        port=int(table.get("port", default.port)),
        max_body_bytes=int(table.get("max_body_bytes", default.max_body_bytes)),
        keys=tuple(k for k in keys if k),
    )


def _route_names(table: Any, where: str, routes: Mapping[str, RouteConfig]) -> dict[str, str]:
    names = {str(k): str(v) for k, v in _mapping(table, where).items()}
    for key, route in names.items():
        if route not in routes:
            raise ConfigError(f"{where}.{key}: no route named {route!r}")
    return names


def build_config(
    data: Any, env: Mapping[str, str], source: str, *, allow_empty: bool = False
) -> GatewayConfig:
    """Validate parsed YAML into a config; raises ConfigError naming the source."""
    try:
        top = _mapping(data, "the config")
        _check_keys(top, _TOP_LEVEL, "the config")
        providers = {
            str(name): _provider(str(name), raw, env)
            for name, raw in _mapping(top.get("providers"), "providers").items()
        }
        routes = {
            str(name): _route(str(name), raw, providers)
            for name, raw in _mapping(top.get("routes"), "routes").items()
        }
        if not routes and not allow_empty:
            raise ConfigError("no routes", "map a model name to a list of provider/model paths")
        defaults_table = _mapping(top.get("defaults"), "defaults")
        _check_keys(defaults_table, SETTING_NAMES, "defaults")
        return GatewayConfig(
            providers=providers,
            routes=routes,
            defaults=Settings().merged(_settings(defaults_table, "defaults")),
            server=_server(top.get("server"), env),
            aliases=_route_names(top.get("aliases"), "aliases", routes),
            tasks=_route_names(top.get("tasks"), "tasks", routes),
            source=source,
        )
    except ConfigError as exc:
        exc.source = exc.source or source
        raise


def load_config_text(
    text: str, source: str = "<text>", env: Mapping[str, str] | None = None
) -> GatewayConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", source=source) from exc
    return build_config(data, os.environ if env is None else env, source)


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> GatewayConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", source=str(path)) from exc
    return load_config_text(text, str(path), env)
