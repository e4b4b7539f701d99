"""Read a YAML config into a `GatewayConfig`, refusing mistakes with messages a person can act on.

Every mistake is a `ConfigError` that knows where in the document it is (`at`, a key path), so
`turnout config check` can name the line. Validation goes on after a mistake, so one run lists
them all (`ConfigErrors`). Keys come from the environment (`api_key: ${ANTHROPIC_API_KEY}`),
never from the file in clear.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import yaml

from turnout.catalog.prices import Price, price_from_table
from turnout.config.model import (
    SETTING_NAMES,
    SHARE_SETTINGS,
    GatewayConfig,
    ProviderConfig,
    RouteConfig,
    Secret,
    ServerConfig,
    Settings,
    Target,
)
from turnout.errors import TurnoutError

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_TOP_LEVEL = frozenset(
    {"providers", "routes", "defaults", "server", "aliases", "tasks", "ledger", "prices", "state"}
)
_PROVIDER_KEYS = frozenset(
    {"kind", "base_url", "api_key", "headers", "models", "script", "budget", "prefill", "wire"}
    | SETTING_NAMES
)
_ROUTE_KEYS = frozenset({"targets", "embeddings"} | SETTING_NAMES)
_SERVER_KEYS = frozenset(f.name for f in fields(ServerConfig))
#: OpenAI-compatible hosts and the path their API lives under: a base URL without it 404s.
VERSIONED_HOSTS: dict[str, str] = {
    "api.openai.com": "/v1",
    "openrouter.ai": "/api/v1",
    "api.groq.com": "/openai/v1",
    "api.x.ai": "/v1",
    "api.mistral.ai": "/v1",
    "api.together.xyz": "/v1",
    "api.siliconflow.cn": "/v1",
    "api.moonshot.cn": "/v1",
    "dashscope.aliyuncs.com": "/compatible-mode/v1",
    "open.bigmodel.cn": "/api/paas/v4",
}
#: Local servers whose OpenAI-compatible API lives under /v1.
VERSIONED_LOCAL_PORTS = frozenset({11434, 1234, 8000, 8080})

At = tuple[str | int, ...]
T = TypeVar("T")


def label(at: At) -> str:
    """`providers.relay.base_url`, `routes.m[0]`: how a message names a place."""
    text = ""
    for part in at:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "the config"


class ConfigError(TurnoutError):
    """A config the gateway refuses; `hint` says how to fix it, `at` where it is."""

    def __init__(
        self, message: str, hint: str | None = None, source: str | None = None, at: At = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.source = source
        self.at = at
        self.line: int | None = None  # filled in by the checker when it knows the document

    def __str__(self) -> str:
        where = self.source or ""
        if where and self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.message}" if where else self.message


class ConfigErrors(ConfigError):
    """Several mistakes, all reported at once; the first one is the message."""

    def __init__(self, errors: list[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.message, first.hint, first.source, first.at)
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class _Collector:
    """Gathers mistakes so validation can go on after the first one."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    def attempt(self, build: Callable[[], T]) -> T | None:
        try:
            return build()
        except ConfigErrors as many:
            self.errors.extend(many.errors)
        except ConfigError as exc:
            self.errors.append(exc)
        return None


def expand_env(value: str, env: Mapping[str, str], at: At) -> str:
    """Replace `${NAME}` and `${NAME:-default}`; an unset variable without default is an error."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if env.get(name):
            return env[name]
        if default is not None:
            return default
        raise UnsetVariable(
            f"{label(at)}: environment variable {name} is not set",
            f"export {name}=... before starting turnout",
            at=at,
        )

    return _ENV_REFERENCE.sub(substitute, value)


def _mapping(value: Any, at: At) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{label(at)} must be a mapping, not {type(value).__name__}", at=at)
    return value


def _check_keys(table: Mapping[str, Any], allowed: frozenset[str], at: At) -> None:
    unknown = []
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else f"known keys: {', '.join(sorted(allowed))}"
            )
            unknown.append(
                ConfigError(f"{label(at)}: unknown key {key!r}", hint, at=(*at, str(key)))
            )
    if unknown:
        raise ConfigErrors(unknown)


def _settings(table: Mapping[str, Any], at: At) -> dict[str, Any]:
    defaults = Settings()
    out: dict[str, Any] = {}
    for name in sorted(SETTING_NAMES & set(table)):
        value, where = table[name], (*at, name)
        expected = type(getattr(defaults, name))
        if expected is tuple:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{label(where)} must be a list of category names", at=where)
            out[name] = tuple(value)
        elif expected is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{label(where)} must be true or false", at=where)
            out[name] = value
        elif expected is int:
            least = 1 if name in POSITIVE_SETTINGS else 0
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigError(f"{label(where)} must be a whole number >= {least}", at=where)
            out[name] = value
        elif name in SHARE_SETTINGS:
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1:
                raise ConfigError(
                    f"{label(where)} must be a share from 0 to below 1 (0.05 is 5%)", at=where
                )
            out[name] = float(value)
        else:
            out[name] = _seconds(value, name, where)
    return out


#: Settings where 0 would refuse every request (a limit of no bytes, a deadline of no time).
POSITIVE_SETTINGS = frozenset(
    {n for n in SETTING_NAMES if n.endswith("_timeout_s") or n.startswith("max_")}
)


def _seconds(value: object, name: str, where: At) -> float:
    """A finite number of seconds: NaN passes every comparison and infinity is no deadline."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ConfigError(f"{label(where)} must be a finite number of seconds", at=where)
    if name in POSITIVE_SETTINGS and value <= 0:
        raise ConfigError(f"{label(where)} must be more than 0 seconds", at=where)
    if value < 0:
        raise ConfigError(f"{label(where)} must be a number of seconds >= 0", at=where)
    return float(value)


def check_base_url(base_url: str, kind: str, at: At) -> None:
    """Refuse the base URL mistakes that make every request 404."""
    if not re.match(r"^https?://[^/\s]+", base_url):
        raise ConfigError(
            f"{label(at)} {base_url!r} is not an http(s) URL",
            "for example https://api.anthropic.com or https://relay.example/v1",
            at=at,
        )
    for suffix in ("/chat/completions", "/messages", "/completions"):
        if base_url.endswith(suffix):
            raise ConfigError(
                f"{label(at)} ends in {suffix}",
                f"give the base only: {base_url[: -len(suffix)]}",
                at=at,
            )
    if kind != "openai":
        return
    parts = urlsplit(base_url)
    host, path = (parts.hostname or "").lower(), parts.path.rstrip("/")
    needed = VERSIONED_HOSTS.get(host)
    if (
        needed is None
        and host in ("localhost", "127.0.0.1")
        and parts.port in VERSIONED_LOCAL_PORTS
    ):
        needed = "/v1"
    if needed is not None and not path:
        raise ConfigError(
            f"{label(at)} {base_url!r} has no API version path",
            f"this server's OpenAI-compatible API is under {needed}: {base_url}{needed}",
            at=at,
        )


class UnsetVariable(ConfigError):
    """A `${NAME}` whose variable is not set: a mistake of this machine's environment."""


class KindRules(Protocol):
    """What reading a config asks of a provider kind (a row of `providers/registry.py`):
    the keys of its own, their checks, and its base URL when the config gives none."""

    @property
    def keys(self) -> frozenset[str]: ...
    @property
    def options(self) -> Callable[[Mapping[str, Any], Mapping[str, str], At], dict[str, Any]]: ...
    @property
    def default_base_url(self) -> Callable[[Mapping[str, Any]], str] | None: ...
    @property
    def embeddings(self) -> str | None: ...


#: Kind name -> its rules. The loaders are handed it: the kinds are above this folder.
Kinds = Mapping[str, KindRules]


def _kind(table: Mapping[str, Any], kinds: Kinds, at: At) -> str:
    kind = table.get("kind")
    if kind not in kinds:
        raise ConfigError(
            f"{label((*at, 'kind'))} is {kind!r}",
            f"use one of: {', '.join(sorted(kinds))}",
            at=(*at, "kind"),
        )
    return str(kind)


def _base_url(
    table: Mapping[str, Any],
    row: KindRules | None,
    kind: str | None,
    options: Mapping[str, Any] | None,
    env: Mapping[str, str],
    at: At,
) -> str:
    url_at = (*at, "base_url")
    base_url = expand_env(str(table.get("base_url") or ""), env, url_at).rstrip("/")
    if not base_url and row is not None and row.default_base_url is not None:
        if options is None:
            return ""  # the options' own mistakes are reported
        base_url = row.default_base_url(options)
    if kind not in (None, "mock"):
        check_base_url(base_url, kind, url_at)
    return base_url


def _script(table: Mapping[str, Any], kind: str | None, at: At) -> tuple[dict[str, Any], ...]:
    script = table.get("script") or []
    if kind == "mock" and not isinstance(script, list):
        raise ConfigError(f"{label((*at, 'script'))} must be a list of replies", at=(*at, "script"))
    if not isinstance(script, list):
        return ()
    return tuple(_mapping(step, (*at, "script", i)) for i, step in enumerate(script))


def _headers(table: Mapping[str, Any], env: Mapping[str, str], at: At) -> dict[str, str]:
    return {
        str(k): expand_env(str(v), env, (*at, "headers", str(k)))
        for k, v in _mapping(table.get("headers"), (*at, "headers")).items()
    }


def _provider(name: str, raw: Any, env: Mapping[str, str], kinds: Kinds) -> ProviderConfig:
    """One provider; every mistake in it is reported (ConfigErrors), not only the first."""
    at: At = ("providers", name)
    table = _mapping(raw, at)
    found = _Collector()
    kind = found.attempt(lambda: _kind(table, kinds, at))
    row = kinds.get(kind or "")
    own = row.keys if row is not None else frozenset()
    found.attempt(lambda: _check_keys(table, _PROVIDER_KEYS | own, at))
    options = found.attempt(lambda: row.options(table, env, at) if row is not None else {})
    parts: dict[str, Any] = {
        "options": options,
        "base_url": found.attempt(lambda: _base_url(table, row, kind, options, env, at)),
        "api_key": None,
        "client_credential": table.get("api_key") == CLIENT_CREDENTIAL,
        "headers": found.attempt(lambda: _headers(table, env, at)),
        "settings": found.attempt(lambda: _settings(table, at)),
        "context_windows": found.attempt(lambda: _windows(table.get("models"), (*at, "models"))),
        "script": found.attempt(lambda: _script(table, kind, at)),
        "budget": found.attempt(lambda: _budget(table.get("budget"), (*at, "budget"))),
        "prefill": found.attempt(lambda: _prefill(table.get("prefill"), (*at, "prefill"))),
        "wire": found.attempt(lambda: _wire(table.get("wire"), kind, (*at, "wire"))),
    }
    if parts["client_credential"]:
        found.attempt(lambda: _check_client_credential(kind, at))
    else:
        parts["api_key"] = found.attempt(
            lambda: _api_key(table.get("api_key"), env, (*at, "api_key"))
        )
    if found.errors:
        raise ConfigErrors(found.errors)
    assert kind is not None
    return ProviderConfig(name=name, kind=kind, **parts)


#: `api_key: client`: forward the credential each client sends.
CLIENT_CREDENTIAL = "client"


def _check_client_credential(kind: str | None, at: At) -> None:
    if kind not in ("anthropic", "openai"):
        raise ConfigError(
            f"{label((*at, 'api_key'))}: only anthropic and openai providers can take the "
            "client's own credential",
            at=(*at, "api_key"),
        )


#: The wires each provider kind can speak; the first is its default.
WIRES_BY_KIND = {"openai": ("openai", "responses"), "anthropic": ("anthropic",), "mock": ("any",)}
WIRE_NAMES = {"openai": "chat", "responses": "responses"}


def _wire(raw: Any, kind: str | None, at: At) -> str:
    """`wire: chat | responses` for an OpenAI path (chat by default)."""
    wires = WIRES_BY_KIND.get(kind or "", ("openai",))
    if raw is None:
        return wires[0]
    by_name = {WIRE_NAMES.get(w, w): w for w in wires}
    if raw not in by_name:
        raise ConfigError(
            f"{label(at)} is {raw!r}",
            f"a {kind} path speaks: {', '.join(by_name)}",
            at=at,
        )
    return by_name[raw]


PREFILL_STYLES = ("auto", "anthropic", "deepseek", "vllm", "none")


def _prefill(raw: Any, at: At) -> str | None:
    if raw is None:
        return None
    if raw is False:
        return "none"
    if raw not in PREFILL_STYLES:
        raise ConfigError(
            f"{label(at)} is {raw!r}",
            f"use one of: {', '.join(PREFILL_STYLES)} (how the path continues an answer)",
            at=at,
        )
    return str(raw)


def _budget(raw: Any, at: At) -> tuple[float, str] | None:
    if raw is None:
        return None
    table = _mapping(raw, at)
    usd, period = table.get("usd"), table.get("period", "day")
    if (
        not isinstance(usd, int | float)
        or isinstance(usd, bool)
        or not math.isfinite(usd)
        or usd < 0
    ):
        raise ConfigError(
            f"{label(at)} needs usd: a number of dollars",
            "for example {usd: 5, period: day}",
            at=at,
        )
    if period not in ("day", "week", "month"):
        raise ConfigError(f"{label(at)}.period must be day, week or month", at=(*at, "period"))
    return float(usd), str(period)


def _api_key(raw: Any, env: Mapping[str, str], at: At) -> Secret | None:
    if raw is None:
        return None
    if not _ENV_REFERENCE.search(str(raw)):
        raise ConfigError(
            f"{label(at)} is written in clear",
            "put the key in an environment variable and write api_key: ${MY_KEY}",
            at=at,
        )
    return Secret(expand_env(str(raw), env, at))


def _windows(raw: Any, at: At) -> dict[str, int]:
    windows: dict[str, int] = {}
    for model, info in _mapping(raw, at).items():
        window = _mapping(info, (*at, str(model))).get("context_window")
        if window is not None:
            windows[str(model)] = int(window)
    return windows


def _target(text: Any, at: At, providers: Mapping[str, Any]) -> Target:
    if not isinstance(text, str) or "/" not in text:
        raise ConfigError(
            f"{label(at)}: {text!r} is not provider/model", "write e.g. relay/gpt-4o", at=at
        )
    provider, model = text.split("/", 1)
    if provider not in providers:
        raise ConfigError(
            f"{label(at)}: no provider named {provider!r}",
            f"configured providers: {', '.join(sorted(providers)) or 'none'}",
            at=at,
        )
    return Target(provider, model)


def _route(name: str, raw: Any, providers: Mapping[str, Any]) -> RouteConfig:
    at: At = ("routes", name)
    table: dict[str, Any]
    if isinstance(raw, list):
        table, targets_at = {"targets": raw}, at
    else:
        table, targets_at = _mapping(raw, at), (*at, "targets")
        _check_keys(table, _ROUTE_KEYS, at)
    targets = table.get("targets")
    if not isinstance(targets, list) or not targets:
        raise ConfigError(
            f"{label(at)} has no targets", "list provider/model paths, first preferred", at=at
        )
    embeddings = table.get("embeddings")
    if embeddings is not None and not isinstance(embeddings, bool):
        raise ConfigError(
            f"{label((*at, 'embeddings'))} is {embeddings!r}",
            "true: the route serves /v1/embeddings; false: it is for chat only",
            at=(*at, "embeddings"),
        )
    return RouteConfig(
        name=name,
        targets=tuple(_target(t, (*targets_at, i), providers) for i, t in enumerate(targets)),
        settings=_settings(table, at),
        embeddings=embeddings,
    )


def _is_for_embeddings(route: RouteConfig, aliases: Mapping[str, str]) -> str | None:
    """Why a route serves embeddings (None: it does not): said so, or a name that says
    "embed" (text-embedding-3-small, nomic-embed-text, gemini-embedding-001...)."""
    if route.embeddings is not None:
        return "it says embeddings: true" if route.embeddings else None
    names = [
        ("name", route.name),
        *(("alias", a) for a, r in aliases.items() if r == route.name),
        *(("model", t.model) for t in route.targets),
    ]
    for what, name in names:
        if "embed" in name.lower():
            return f"its {what} {name!r} says embed"
    return None


def _check_embeddings_routes(
    routes: Mapping[str, RouteConfig],
    raw_routes: Mapping[str, Any],
    providers: Mapping[str, ProviderConfig],
    aliases: Mapping[str, str],
    kinds: Kinds,
) -> list[ConfigError]:
    """An embeddings route fails over only between paths that give the same vectors: each
    path's kind has an embeddings API, and all speak one embeddings wire with one model.
    Otherwise a failover fails there, or answers vectors of another space (and often of
    another length) that do not compare with those a client already stored."""
    errors: list[ConfigError] = []
    for name, route in routes.items():
        why = _is_for_embeddings(route, aliases)
        if why is None:
            continue
        listed: At = ("routes", name) if isinstance(raw_routes.get(name), list) else (
            "routes", name, "targets"
        )  # fmt: skip
        opt_out = f"if {label(('routes', name))} is for chat, say embeddings: false on it"
        first: tuple[int, Target, str] | None = None
        for i, target in enumerate(route.targets):
            provider = providers.get(target.provider)
            if provider is None:
                continue  # its own mistakes are reported
            at: At = (*listed, i)
            wire = kinds[provider.kind].embeddings
            if wire is None:
                errors.append(
                    ConfigError(
                        f"{label(at)}: {target.path} cannot serve embeddings (kind "
                        f"{provider.kind} has no embeddings API), and "
                        f"{label(('routes', name))} is an embeddings route ({why}): a "
                        "/v1/embeddings request that fails over to it gets no vectors",
                        "list only paths whose provider embeds (kinds: "
                        f"{', '.join(_embedding_kinds(kinds))}); {opt_out}",
                        at=at,
                    )
                )
                continue
            if first is None:
                first = (i, target, wire)
                continue
            other = _embeds_otherwise(first[1], first[2], target, wire)
            if other:
                errors.append(
                    ConfigError(
                        f"{label(at)}: {target.path} embeds otherwise than {first[1].path} "
                        f"at {label((*listed, first[0]))}, with {other}: failing over to it "
                        "would answer vectors of another space, often of another length, "
                        "that do not compare with the ones already stored",
                        "an embeddings route fails over only between providers of one model: "
                        f"give each embeddings model a route of its own; {opt_out}",
                        at=at,
                    )
                )
    return errors


def _embedding_kinds(kinds: Kinds) -> list[str]:
    return sorted(name for name, kind in kinds.items() if kind.embeddings is not None)


def _embeds_otherwise(first: Target, first_wire: str, target: Target, wire: str) -> str:
    """What differs in how two paths embed: "" when none (a vendor prefix such as
    `openai/` on a relay's model name does not count)."""
    if wire != first_wire:
        return f"another embeddings wire ({wire}, not {first_wire})"
    if _model_name(target.model) != _model_name(first.model):
        return f"another model ({target.model!r}, not {first.model!r})"
    return ""


def _model_name(model: str) -> str:
    return model.rsplit("/", 1)[-1].lower()


def _server(raw: Any, env: Mapping[str, str]) -> ServerConfig:
    table = _mapping(raw, ("server",))
    _check_keys(table, _SERVER_KEYS, ("server",))
    keys = tuple(
        Secret(expand_env(str(k), env, ("server", "keys", i)))
        for i, k in enumerate(table.get("keys") or [])
    )
    admin = table.get("admin_key")
    admin_key = Secret(expand_env(str(admin), env, ("server", "admin_key"))) if admin else None
    default = ServerConfig()
    return ServerConfig(
        host=str(table.get("host", default.host)),
        port=int(table.get("port", default.port)),
        max_body_bytes=int(table.get("max_body_bytes", default.max_body_bytes)),
        drain_s=_seconds(table.get("drain_s", default.drain_s), "drain_s", ("server", "drain_s")),
        keys=tuple(k for k in keys if k),
        admin_key=admin_key or None,
    )


def _route_names(table: Any, at: At, routes: Mapping[str, Any]) -> dict[str, str]:
    names = {str(k): str(v) for k, v in _mapping(table, at).items()}
    for key, route in names.items():
        if route not in routes:
            raise ConfigError(f"{label((*at, key))}: no route named {route!r}", at=(*at, key))
    return names


def build_config(
    data: Any,
    env: Mapping[str, str],
    source: str,
    *,
    kinds: Kinds,
    allow_empty: bool = False,
    locate: Callable[[ConfigError], None] = lambda _error: None,
) -> GatewayConfig:
    """Validate parsed YAML into a config; raises ConfigErrors naming the source and places.

    A provider whose only mistakes are unset variables is left out rather than refused, and
    said in `GatewayConfig.unavailable`, as long as every route keeps a path. `locate` gives
    each mistake its line."""
    found = _Collector()
    top = found.attempt(lambda: _mapping(data, ())) or {}
    found.attempt(lambda: _check_keys(top, _TOP_LEVEL, ()))
    raw_providers = found.attempt(lambda: _mapping(top.get("providers"), ("providers",))) or {}
    providers: dict[str, ProviderConfig] = {}
    unset: dict[str, list[ConfigError]] = {}
    for name, raw in raw_providers.items():
        mistakes = _Collector()
        built = mistakes.attempt(partial(_provider, str(name), raw, env, kinds))
        if built is not None:
            providers[str(name)] = built
        elif all(isinstance(e, UnsetVariable) for e in mistakes.errors):
            unset[str(name)] = mistakes.errors
        else:
            found.errors += mistakes.errors
    raw_routes = found.attempt(lambda: _mapping(top.get("routes"), ("routes",))) or {}
    routes: dict[str, RouteConfig] = {}
    for name, raw in raw_routes.items():
        # Routes are checked against every provider named, even one with a mistake of its own.
        route = found.attempt(partial(_route, str(name), raw, raw_providers))
        if route is not None:
            routes[str(name)] = route
    routes = _without_unset(routes, unset, found)
    if not raw_routes and not allow_empty:
        found.errors.append(
            ConfigError(
                "no routes", "map a model name to a list of provider/model paths", at=("routes",)
            )
        )
    defaults = found.attempt(lambda: _defaults(top.get("defaults")))
    server = found.attempt(lambda: _server(top.get("server"), env))
    aliases = found.attempt(lambda: _route_names(top.get("aliases"), ("aliases",), raw_routes))
    tasks = found.attempt(lambda: _route_names(top.get("tasks"), ("tasks",), raw_routes))
    ledger = found.attempt(lambda: _ledger(top.get("ledger"), env))
    prices = found.attempt(lambda: _prices(top.get("prices"))) or {}
    state = found.attempt(lambda: _state(top.get("state"), env))
    found.errors += _check_embeddings_routes(routes, raw_routes, providers, aliases or {}, kinds)
    for error in [*found.errors, *(e for errors in unset.values() for e in errors)]:
        error.source = error.source or source
        locate(error)
    if found.errors:
        raise ConfigErrors(found.errors)
    assert defaults is not None
    assert server is not None
    assert aliases is not None
    assert tasks is not None
    unavailable = {name: tuple(str(e) for e in errors) for name, errors in unset.items()}
    return GatewayConfig(
        providers, routes, defaults, server, aliases, tasks, source, ledger, prices, state,
        unavailable,
    )  # fmt: skip


def _without_unset(
    routes: dict[str, RouteConfig], unset: Mapping[str, list[ConfigError]], found: _Collector
) -> dict[str, RouteConfig]:
    """Routes without the paths whose provider lacks a variable: one unset key on a backup
    path leaves the others serving. A route left with no path at all is a mistake."""
    if not unset:
        return routes
    kept: dict[str, RouteConfig] = {}
    reported: set[str] = set()
    for name, route in routes.items():
        targets = tuple(t for t in route.targets if t.provider not in unset)
        if targets:
            kept[name] = replace(route, targets=targets)
            continue
        for target in route.targets:
            if target.provider not in reported:
                reported.add(target.provider)
                found.errors += unset[target.provider]
    return kept


def _state(raw: Any, env: Mapping[str, str]) -> str | None:
    if raw is None:
        return None  # `turnout serve` then keeps gates in a file beside the ledger
    if raw == "memory":
        return "memory"
    url = expand_env(raw, env, ("state",)) if isinstance(raw, str) else ""
    if url.startswith("sqlite:") and url.removeprefix("sqlite:").strip("/"):
        return url
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            "state must be memory, a sqlite:///path file or a redis:// URL",
            "for example state: sqlite:///var/lib/turnout/state.sqlite3 (the workers of one "
            "machine share it, and gates outlive a restart) or state: redis://127.0.0.1:6379/0 "
            "(add ?prefix=NAME to share one Redis between gateways)",
            at=("state",),
        )
    return url


def _ledger(raw: Any, env: Mapping[str, str]) -> str | None:
    if raw is None:
        return None
    if raw is False:  # YAML reads a bare `off` as false
        return "off"
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(
            "ledger must be a SQLite file path, a postgresql:// URL or off", at=("ledger",)
        )
    return expand_env(raw.strip(), env, ("ledger",))


def _prices(raw: Any) -> dict[str, Price]:
    prices = {}
    for pattern, table in _mapping(raw, ("prices",)).items():
        at = ("prices", str(pattern))
        entry = _mapping(table, at)
        try:
            price = price_from_table(entry)
            if not all(
                math.isfinite(v) and v >= 0 for v in (price.input, price.output, price.cached)
            ):
                raise ValueError("prices are finite and not negative")
            prices[str(pattern)] = price
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"{label(at)} needs numbers input and output (dollars per million tokens)",
                "for example {input: 3.0, output: 15.0, cached: 0.3}",
                at=at,
            ) from exc
    return prices


def _defaults(raw: Any) -> Settings:
    table = _mapping(raw, ("defaults",))
    _check_keys(table, SETTING_NAMES, ("defaults",))
    return Settings().merged(_settings(table, ("defaults",)))


#: A config is a few KB; these bounds stop a hostile or broken file (a 5,000-deep nesting,
#: aliases that expand to billions of nodes) long before it costs memory or time.
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_NODES = 100_000
MAX_CONFIG_DEPTH = 64


def parse_yaml(text: str, source: str) -> Any:
    """The YAML document as data, refused with a ConfigError when it is not valid YAML or is
    larger, deeper or (counting every alias where it is used) bigger than a config can be."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"the config is {len(text)} bytes; more than {MAX_CONFIG_BYTES} is not a config",
            source=source,
        )
    loader = yaml.SafeLoader(text)
    try:
        _check_depth(text, source)  # before composing: the composer recurses once per level
        root = loader.get_single_node()
        if root is None:
            return None
        _check_size(root, source)
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        error = ConfigError(f"not valid YAML: {exc}", source=source)
        mark = getattr(exc, "problem_mark", None)
        error.line = mark.line + 1 if mark is not None else None
        raise error from exc
    finally:
        loader.dispose()


def _check_depth(text: str, source: str) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_CONFIG_DEPTH:
                raise ConfigError(
                    f"the config is nested more than {MAX_CONFIG_DEPTH} levels deep",
                    source=source,
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _check_size(root: yaml.Node, source: str) -> None:
    """Count nodes as construction would see them (an alias counts its whole target each time
    it is used), in time proportional to the distinct nodes, and the deepest nesting."""
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    open_nodes: set[int] = set()  # being counted: meeting one again is a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if not children_done and children:
            if key in open_nodes:
                raise ConfigError("the config refers to itself through an alias", source=source)
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        sizes[key] = 1 + sum(sizes.get(id(child), 0) for child in children)
        depths[key] = 1 + max((depths.get(id(child), 0) for child in children), default=0)
        if sizes[key] > MAX_CONFIG_NODES:
            raise ConfigError(
                f"the config expands to more than {MAX_CONFIG_NODES} values (aliases counted "
                "where they are used)",
                source=source,
            )
        if depths[key] > MAX_CONFIG_DEPTH:
            raise ConfigError(
                f"the config is nested more than {MAX_CONFIG_DEPTH} levels deep", source=source
            )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def load_config_text(
    text: str, source: str = "<text>", env: Mapping[str, str] | None = None, *, kinds: Kinds
) -> GatewayConfig:
    """Load and validate; every mistake found is raised at once, each with its line."""
    from turnout.config.document import compose, duplicate_keys, line_of

    data = parse_yaml(text, source)
    root = compose(text)

    def locate(error: ConfigError) -> None:
        error.source = error.source or source
        if error.line is None:
            error.line = line_of(root, error.at)

    errors = list(duplicate_keys(root))
    try:
        config = build_config(
            data, os.environ if env is None else env, source, kinds=kinds, locate=locate
        )
    except ConfigErrors as found:
        errors += found.errors
    if errors:
        for error in errors:
            locate(error)
        raise ConfigErrors(errors)
    return config


def load_config(
    path: str | Path, env: Mapping[str, str] | None = None, *, kinds: Kinds
) -> GatewayConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", source=str(path)) from exc
    return load_config_text(text, str(path), env, kinds=kinds)
