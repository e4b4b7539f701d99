"""Print diagnoses per second on typical error bodies (one process, one core).

    python scripts/bench_diagnose.py [--seconds 2]

Three mixes from the corpus: short JSON bodies, HTML error pages, and pasted logs. The target
is over 10,000 diagnoses per second on the JSON mix.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.corpus_cases import load_cases

from turnout import diagnose


def mixes() -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {"json bodies": [], "html pages": [], "logs": []}
    for case in load_cases():
        fields = dict(case.fields)
        body = fields.get("body", "")
        if "log" in fields:
            groups["logs"].append(fields)
        elif body.lstrip().startswith("<") or "<html" in body[:500].lower():
            groups["html pages"].append(fields)
        else:
            groups["json bodies"].append(fields)
    return groups


def rate(cases: list[dict[str, Any]], seconds: float) -> float:
    for fields in cases:  # warm caches (rule table, messages) outside the timing
        diagnose(**fields, lang="en")
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for fields in cases:
            diagnose(**fields, lang="en")
        count += len(cases)
    return count / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per mix")
    args = parser.parse_args()
    for name, cases in mixes().items():
        if cases:
            print(
                f"{name:<12} {len(cases):>4} cases  {rate(cases, args.seconds):>10,.0f} diagnoses/s"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
