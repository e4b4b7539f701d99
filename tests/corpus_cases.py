"""Load the diagnosis corpus (tests/corpus/*.yaml) for the tests and the accuracy script."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CORPUS_DIR = Path(__file__).parent / "corpus"


@dataclass(frozen=True)
class Case:
    id: str
    file: str
    source: str
    fields: dict[str, Any]  # keyword arguments for diagnose()
    expect: dict[str, Any]


def load_cases() -> list[Case]:
    cases: list[Case] = []
    for path in sorted(CORPUS_DIR.glob("*.yaml")):
        for raw in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            fields = {
                key: raw[key]
                for key in ("status", "body", "headers", "provider", "log")
                if raw.get(key) is not None
            }
            if "headers" in fields:
                fields["headers"] = {str(k): str(v) for k, v in fields["headers"].items()}
            cases.append(Case(raw["id"], path.name, raw["source"], fields, raw["expect"]))
    return cases
