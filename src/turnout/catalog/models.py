"""Model facts from the packaged catalog (`models.toml`), looked up by glob pattern."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatchcase
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from turnout.catalog.names import catalog_name


@cache
def _entries() -> tuple[dict[str, Any], ...]:
    text = resources.files("turnout.catalog").joinpath("models.toml").read_text("utf-8")
    return tuple(tomllib.loads(text)["model"])


def context_window(model: str, overrides: dict[str, int] | None = None) -> int | None:
    """The model's context window in tokens, or None when nobody said.

    The model is read as its vendor's own id (see names.py): a vendor prefix as OpenRouter
    spells it, a Bedrock inference profile or a Vertex `@version` change nothing.
    """
    if overrides and model in overrides:
        return overrides[model]
    return _catalog_window(catalog_name(model))


@lru_cache(maxsize=1024)
def _catalog_window(bare: str) -> int | None:
    for entry in _entries():
        if fnmatchcase(bare, entry["match"]):
            return int(entry["context_window"])
    return None
