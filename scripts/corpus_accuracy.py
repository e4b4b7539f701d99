"""Print the diagnosis accuracy per category over the corpus in tests/corpus/.

    python scripts/corpus_accuracy.py [--misses]

A case counts as right when both category and code match; the category column counts the
category alone. --misses lists every wrong case with the rule that fired.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.corpus_cases import load_cases

from turnout import diagnose


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list the misclassified cases")
    args = parser.parse_args()
    cases = load_cases()
    total: Counter[str] = Counter()
    category_ok: Counter[str] = Counter()
    exact_ok: Counter[str] = Counter()
    misses: list[str] = []
    for case in cases:
        result = diagnose(**case.fields)
        want = case.expect["category"]
        total[want] += 1
        if result.category.value == want:
            category_ok[want] += 1
        if (result.category.value, result.code) == (want, case.expect["code"]):
            exact_ok[want] += 1
        else:
            misses.append(
                f"{case.id}: want {want}/{case.expect['code']}, "
                f"got {result.category.value}/{result.code} (rule {result.rule})"
            )
    print(f"{'category':<20}{'cases':>7}{'category ok':>13}{'code ok':>9}")
    for category in sorted(total):
        n = total[category]
        print(
            f"{category:<20}{n:>7}{category_ok[category] / n:>12.0%} {exact_ok[category] / n:>8.0%}"
        )
    n = sum(total.values())
    print(
        f"{'all':<20}{n:>7}{sum(category_ok.values()) / n:>12.1%} "
        f"{sum(exact_ok.values()) / n:>8.1%}"
    )
    if args.misses:
        print("\n".join(["", *misses]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
