"""What a request cost: token counts times the packaged (or configured) price list."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from turnout.catalog.names import catalog_name


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float
    cached: float

    def cost(self, tokens_in: int, tokens_out: int, tokens_cached: int = 0) -> float:
        """Dollars for a call; `tokens_in` counts uncached input only."""
        return (
            tokens_in * self.input + tokens_out * self.output + tokens_cached * self.cached
        ) / 1_000_000


def price_from_table(table: dict[str, Any]) -> Price:
    return Price(
        input=float(table["input"]),
        output=float(table["output"]),
        cached=float(table.get("cached", table["input"])),
    )


@cache
def _entries() -> tuple[tuple[str, Price], ...]:
    text = resources.files("turnout.catalog").joinpath("prices.toml").read_text("utf-8")
    return tuple((e["match"], price_from_table(e)) for e in tomllib.loads(text)["price"])


#: The price of a path's model: (provider name, model name) -> price, or None when unknown.
PriceOf = Callable[[str, str], Price | None]


def price_of(model: str, overrides: Mapping[str, Price] | None = None) -> Price | None:
    """The price of a model, or None when unknown (a local model, an unlisted one).

    A cloud's spelling of a vendor's model (a Bedrock id or inference profile, a Vertex
    `@version`) costs what the vendor's own id does; see names.py.
    """
    name = catalog_name(model)
    return overridden_price(model, overrides, name) or _listed_price(name)


def overridden_price(
    model: str, overrides: Mapping[str, Price] | None, name: str | None = None
) -> Price | None:
    """The configured price (`prices:`) whose pattern matches the model, if any."""
    if not overrides:
        return None
    name = name or catalog_name(model)
    bare = model.rsplit("/", 1)[-1].lower()
    for pattern, price in overrides.items():
        if any(fnmatchcase(n, pattern) for n in (model, bare, name)):
            return price
    return None


@lru_cache(maxsize=1024)
def _listed_price(bare: str) -> Price | None:
    for pattern, price in _entries():
        if fnmatchcase(bare, pattern):
            return price
    return None
