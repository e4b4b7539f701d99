"""The name a path is counted and shown under: bounded, whatever model names clients send.

On a pattern route (`relay/*`) the model part of a path is whatever the client asked for, so
counting by path would let one client create a metric series and a dashboard row per name it
invents. A path named in the config always keeps its own label; the first `DYNAMIC_PATHS`
other paths seen keep theirs too (so a handful of real models behind a pattern stay visible);
every later one is counted under `<provider>/(other models)`. First come rather than least
recently used: a Prometheus counter must never vanish or restart while the process runs.
"""

from __future__ import annotations

from turnout.config.model import GatewayConfig

__all__ = ["DYNAMIC_PATHS", "OTHER_MODELS", "PathLabels"]

#: Paths not in the config that keep a label of their own (per process).
DYNAMIC_PATHS = 64
#: The model part of every path beyond those.
OTHER_MODELS = "(other models)"


class PathLabels:
    def __init__(self, dynamic: int = DYNAMIC_PATHS) -> None:
        self._limit = dynamic
        self._configured: frozenset[str] = frozenset()
        self._dynamic: set[str] = set()

    def configure(self, config: GatewayConfig) -> None:
        """The config's concrete paths (called on every build, so a reload's new paths count)."""
        self._configured = frozenset(
            target.path
            for route in config.routes.values()
            for target in route.targets
            if "*" not in target.model
        )

    def __call__(self, path: str) -> str:
        if path in self._configured or path in self._dynamic:
            return path
        if len(self._dynamic) < self._limit:
            self._dynamic.add(path)
            return path
        return f"{path.split('/', 1)[0]}/{OTHER_MODELS}"

    def shown(self, path: str) -> str:
        """The label a path already counted is shown under (taking no free label)."""
        return path if self.own(path) else f"{path.split('/', 1)[0]}/{OTHER_MODELS}"

    def own(self, path: str) -> bool:
        """Whether the path is shown under its own name (without taking a free label)."""
        return path in self._configured or path in self._dynamic
