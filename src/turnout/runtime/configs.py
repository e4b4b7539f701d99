"""Config files read with every provider kind's own checks.

`config/` reads YAML into a `GatewayConfig` and sits below `providers/`, whose kind rows check
their own keys; these are its loaders handed that table, for everything above both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from turnout.config import default, load
from turnout.config.model import GatewayConfig
from turnout.providers.registry import KINDS


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> GatewayConfig:
    return load.load_config(path, env, kinds=KINDS)


def load_config_text(
    text: str, source: str = "<text>", env: Mapping[str, str] | None = None
) -> GatewayConfig:
    return load.load_config_text(text, source, env, kinds=KINDS)


def embedded_default(
    env: Mapping[str, str] = os.environ, probe_local: bool = True
) -> GatewayConfig:
    return default.embedded_default(KINDS, env, probe_local)


def demo_config() -> GatewayConfig:
    return default.demo_config(KINDS)


def load_for_command(explicit: str | None, demo: bool = False) -> GatewayConfig:
    return default.load_for_command(explicit, KINDS, demo)
