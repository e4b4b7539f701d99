"""Model facts from the packaged catalog (`models.toml`), looked up by glob pattern."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatchcase
from functools import cache, lru_cache
from importlib import resources
from typing import Any


@cache
def _entries() -> tuple[dict[str, Any], ...]:
    text = resources.files("turnout.catalog").joinpath("models.toml").read_text("utf-8")
    return tuple(tomllib.loads(text)["model"])


def context_window(model: str, overrides: dict[str, int] | None = None) -> int | None:
    """The model's context window in tokens, or None when nobody said.

    A vendor prefix ("anthropic/claude-...", as OpenRouter spells it) is ignored.
    """
    if overrides and model in overrides:
        return overrides[model]
    return _catalog_window(model.rsplit("/", 1)[-1].lower())


@lru_cache(maxsize=1024)
def _catalog_window(bare: str) -> int | None:
    for entry in _entries():
        if fnmatchcase(bare, entry["match"]):
            return int(entry["context_window"])
    return None
