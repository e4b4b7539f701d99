"""Print diagnoses per second on typical error bodies (one process, one core).

    python scripts/bench_diagnose.py [--seconds 2] [--rounds 5]

Three mixes from the corpus: short JSON bodies, HTML error pages, and pasted logs. The target
is over 10,000 diagnoses per second on the JSON mix. The mixes take turns for several rounds and
the best round of each is printed, timed in CPU time: on a shared machine the best round is the
one least disturbed by other work, so two runs (before and after a change) compare fairly.
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


def one_round(cases: list[dict[str, Any]], seconds: float) -> float:
    """Diagnoses per second of this process's CPU time: other work on the machine slows the
    wall clock, much less the CPU time one single-threaded process spends."""
    count = 0
    start = time.process_time()
    deadline = start + seconds
    while time.process_time() < deadline:
        for fields in cases:
            diagnose(**fields, lang="en")
        count += len(cases)
    return count / (time.process_time() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per mix, all rounds")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best one counts")
    args = parser.parse_args()
    groups = {name: cases for name, cases in mixes().items() if cases}
    for cases in groups.values():  # warm caches (rule table, messages) outside the timing
        for fields in cases:
            diagnose(**fields, lang="en")
    best = dict.fromkeys(groups, 0.0)
    for _ in range(max(1, args.rounds)):
        for name, cases in groups.items():
            best[name] = max(best[name], one_round(cases, args.seconds / max(1, args.rounds)))
    for name, cases in groups.items():
        print(f"{name:<12} {len(cases):>4} cases  {best[name]:>10,.0f} diagnoses/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
