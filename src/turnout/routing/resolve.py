"""Which route serves a request: by task kind, exact model name, alias, then glob pattern."""

from __future__ import annotations

from fnmatch import fnmatchcase

from turnout.config.model import GatewayConfig, RouteConfig, Target

_GLOB_CHARS = frozenset("*?[")


def resolve_route(config: GatewayConfig, model: str, task: str | None = None) -> RouteConfig | None:
    """The route for a model name. A task header (`x-turnout-task: title`) wins when the
    config maps that task; globbed route names (`claude-*`) come last, in config order."""
    if task and task in config.tasks:
        return config.routes[config.tasks[task]]
    route = config.routes.get(model)
    if route is not None:
        return route
    alias = config.aliases.get(model)
    if alias is not None:
        return config.routes[alias]
    for name, candidate in config.routes.items():
        if _GLOB_CHARS & set(name) and fnmatchcase(model, name):
            return candidate
    return None


def target_model(target: Target, requested: str) -> str:
    """The model name to send upstream: `*` in a target means "the name the client asked for"."""
    return requested if target.model == "*" else target.model


def public_model_names(config: GatewayConfig) -> list[str]:
    """Names a client may ask for: every exact route and alias (patterns are not names)."""
    names = [n for n in config.routes if not _GLOB_CHARS & set(n)]
    names += [a for a in config.aliases if a not in config.routes]
    return names
