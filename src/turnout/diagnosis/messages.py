"""The words a person reads: title, explanation, actions and what will not help, per language.

Texts live in `data/messages.toml`, one entry per code with the category's entry as fallback.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from turnout.diagnosis.taxonomy import Category

LANGUAGES = ("en", "zh")


@dataclass(frozen=True, slots=True)
class Advice:
    title: str
    explanation: str
    actions: tuple[str, ...]
    wont_help: tuple[str, ...]


@cache
def _table() -> dict[str, Any]:
    text = resources.files("turnout.diagnosis").joinpath("data/messages.toml").read_text("utf-8")
    return tomllib.loads(text)


def default_language() -> str:
    """ "zh" when the locale asks for Chinese, else "en"."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(name)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def normalize_language(lang: str | None) -> str:
    if not lang:
        return default_language()
    lowered = lang.lower()
    return "zh" if lowered.startswith("zh") or lowered == "cn" else "en"


def advice_for(code: str, category: Category, lang: str) -> Advice:
    """The texts for `code`, falling back to its category's."""
    table = _table()
    entry = table.get("code", {}).get(code, {}).get(lang)
    if entry is None:
        entry = table["category"][category.value][lang]
    return Advice(
        title=entry["title"],
        explanation=entry["explanation"],
        actions=tuple(entry["actions"]),
        wont_help=tuple(entry["wont_help"]),
    )


def gateway_texts(name: str, lang: str) -> dict[str, str]:
    """The texts for one of the gateway's own replies read back (`[gateway.NAME.LANG]`)."""
    entry: dict[str, str] = _table()["gateway"][name][lang]
    return entry


_PATH_LABELS = {
    "en": ("Failed path", "provider", "model", "endpoint"),
    "zh": ("出错的路径", "服务商", "模型", "地址"),
}


def path_sentence(lang: str, provider: str | None, model: str | None, endpoint: str | None) -> str:
    """One sentence naming the path that failed, or "" when nothing is known of it."""
    heading, p_label, m_label, e_label = _PATH_LABELS[lang]
    parts = [
        f"{label} {value}"
        for label, value in ((p_label, provider), (m_label, model), (e_label, endpoint))
        if value
    ]
    if not parts:
        return ""
    separator = ", " if lang == "en" else ","
    ending = "." if lang == "en" else "。"
    colon = ": " if lang == "en" else ":"
    return f"{heading}{colon}{separator.join(parts)}{ending}"
