"""Print the diagnosis accuracy over the corpus, for the tuning and the held-out part apart.

    python scripts/corpus_accuracy.py                      # both parts, full tables
    python scripts/corpus_accuracy.py --part tuning --misses
    python scripts/corpus_accuracy.py --file tests/corpus/batches/ca-03.yaml
    python scripts/corpus_accuracy.py --arrivals           # each batch's on-arrival figures
    python scripts/corpus_accuracy.py --write-docs         # refresh the tables in docs/accuracy.md

Category accuracy counts the category alone; retryable accuracy counts whether the diagnosis is
on the right side of retryable/not retryable; code accuracy needs category and code. --misses
lists the wrong cases of the tuning part with the rule that fired; held-out misses are listed
only when asked for by name (--part held_out), because rules must not be written from them.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.corpus_cases import (
    BATCH_DIR,
    PARTS,
    Case,
    Figures,
    Outcome,
    load_cases,
    load_file,
    run,
)

from turnout.diagnosis.taxonomy import Category

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "accuracy.md"
_ARRIVAL = re.compile(
    r"#\s*measured on arrival (\d{4}-\d{2}-\d{2}): category (\d+)/(\d+) = [\d.]+%, "
    r"retryable (\d+)/(\d+) = [\d.]+%"
)


def pct(ok: int, n: int) -> str:
    return f"{ok / n:.1%}" if n else "-"


def corpus_line(cases: list[Case]) -> str:
    threads = {case.thread for case in cases}
    chinese = sum(case.chinese for case in cases)
    covered = Counter(str(case.expect["category"]) for case in cases)
    missing = [c.value for c in Category if c.value not in covered]
    line = (
        f"corpus: {len(cases)} cases, {len(threads)} distinct threads, "
        f"{chinese} Chinese ({pct(chinese, len(cases))}), "
        f"{len(covered)}/{len(Category)} categories covered "
        f"(unknown {covered.get('unknown', 0)}), {sum(c.negative for c in cases)} negative"
    )
    return line + (f"; missing: {', '.join(missing)}" if missing else "")


def headline(name: str, outcomes: list[Outcome]) -> str:
    f = Figures.of(outcomes)
    threads = len({o.case.thread for o in outcomes})
    return (
        f"{name}: {f.cases} cases from {threads} threads: "
        f"category {f.category_ok}/{f.cases} = {pct(f.category_ok, f.cases)}, "
        f"retryable {f.retryable_ok}/{f.cases} = {pct(f.retryable_ok, f.cases)}, "
        f"code {pct(f.code_ok, f.cases)}"
    )


def table(title: str, outcomes: list[Outcome], key: Callable[[Outcome], str]) -> list[str]:
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[key(outcome)].append(outcome)
    lines = [f"  {title:<20}{'cases':>6}{'category':>10}{'retryable':>11}{'code':>8}"]
    for name in sorted(groups):
        f = Figures.of(groups[name])
        lines.append(
            f"  {name:<20}{f.cases:>6}{f.category:>10.0%}{f.retryable:>11.0%}{f.code:>8.0%}"
        )
    return lines


def confusions(outcomes: list[Outcome], top: int) -> list[str]:
    pairs = Counter((o.want, o.category) for o in outcomes if not o.category_ok)
    if not pairs:
        return ["  confusions: none"]
    lines = ["  most frequent confusions (expected -> diagnosed):"]
    lines += [f"  {n:>4}  {want} -> {got}" for (want, got), n in pairs.most_common(top)]
    return lines


def report(name: str, outcomes: list[Outcome], top: int) -> list[str]:
    lines = ["", f"== {headline(name, outcomes)}"]
    lines += table("category", outcomes, lambda o: o.want)
    lines += ["", *table("provider", outcomes, lambda o: str(o.case.fields.get("provider", "-")))]
    lines += ["", *confusions(outcomes, top)]
    return lines


def misses(outcomes: Iterable[Outcome]) -> list[str]:
    lines = []
    for o in outcomes:
        if not o.category_ok:
            want = f"{o.want}/{o.case.expect.get('code')}"
            lines.append(f"{o.case.id} ({o.case.file}): want {want}, got {o.category}/{o.code}")
            lines.append(f"    rule {o.rule}; {o.case.source}")
    return lines


def arrivals() -> list[str]:
    """A Markdown table of each batch's on-arrival figures, read from its first comment line."""
    rows = [
        "| batch | measured on arrival | cases | category | retryable |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    total = [0, 0, 0]
    for path in sorted(BATCH_DIR.glob("*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[:1]
        match = _ARRIVAL.match(first[0]) if first else None
        if match is None:
            rows.append(f"| {path.name} | not recorded | | | |")
            continue
        date, cat_ok, n, retry_ok, _ = match.groups()
        cat, retry, count = int(cat_ok), int(retry_ok), int(n)
        total = [total[0] + count, total[1] + cat, total[2] + retry]
        rows.append(f"| {path.name} | {date} | {count} | {pct(cat, count)} | {pct(retry, count)} |")
    n, cat, retry = total
    rows.append(f"| all batches | | {n} | {pct(cat, n)} | {pct(retry, n)} |")
    return rows


def arrived(case: Case) -> bool:
    """True for cases that came in batches, after the split existed: their held-out share has
    never been seen by anyone writing rules."""
    return case.file.startswith("batches/")


def current(cases: list[Case]) -> list[str]:
    """A Markdown table of the current figures of each part."""
    rows = [
        "| part | cases | threads | category | retryable | code |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    groups: list[tuple[str, list[Case]]] = [
        (part, [case for case in cases if case.part == part]) for part in PARTS
    ]
    groups.append(
        ("held_out, batches only", [c for c in cases if c.part == "held_out" and arrived(c)])
    )
    groups.append(("fresh batches, both parts", [c for c in cases if c.fresh]))
    for part, selected in groups:
        outcomes = run(selected)
        f = Figures.of(outcomes)
        threads = len({o.case.thread for o in outcomes})
        rows.append(
            f"| {part} | {f.cases} | {threads} | {pct(f.category_ok, f.cases)} "
            f"| {pct(f.retryable_ok, f.cases)} | {pct(f.code_ok, f.cases)} |"
        )
    return [*rows, "", corpus_line(cases)]


def write_docs(cases: list[Case]) -> None:
    """Replace the generated blocks of docs/accuracy.md (between their marker comments)."""
    text = DOCS.read_text(encoding="utf-8")
    for name, lines in (("arrivals", arrivals()), ("current", current(cases))):
        begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
        if not pattern.search(text):
            raise SystemExit(f"{DOCS}: no {begin} ... {end} block")
        block = "\n".join([begin, *lines, end])
        text = pattern.sub(block.replace("\\", "\\\\"), text)
    DOCS.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=[*PARTS, "all"], help="report one part (default: both)")
    parser.add_argument("--misses", action="store_true", help="list the wrong cases of a part")
    parser.add_argument("--file", type=Path, action="append", help="measure only these files")
    parser.add_argument("--top", type=int, default=10, help="confusion pairs to show")
    parser.add_argument("--arrivals", action="store_true", help="print the on-arrival table")
    parser.add_argument("--write-docs", action="store_true", help="refresh docs/accuracy.md")
    args = parser.parse_args()
    if args.arrivals:
        print("\n".join(arrivals()))
        return 0
    cases = (
        [case for path in args.file for case in load_file(path.resolve())]
        if args.file
        else load_cases()
    )
    if args.write_docs:
        write_docs(cases)
        print(f"wrote {DOCS.relative_to(ROOT)}")
        return 0
    print(corpus_line(cases))
    if args.file:
        # The line to put first in a batch file measured on arrival, before any rule saw it.
        f = Figures.of(run(cases))
        today = datetime.now(UTC).date().isoformat()
        print(
            f"# measured on arrival {today}: category {f.category_ok}/{f.cases} = "
            f"{pct(f.category_ok, f.cases)}, retryable {f.retryable_ok}/{f.cases} = "
            f"{pct(f.retryable_ok, f.cases)}"
        )
    parts = list(PARTS) if args.part is None else [args.part]
    for part in parts:
        selected = cases if part == "all" else [case for case in cases if case.part == part]
        outcomes = run(selected)
        print("\n".join(report(part, outcomes, args.top)))
    if args.part is None and not args.file:
        batches = [case for case in cases if case.part == "held_out" and arrived(case)]
        print("", headline("held_out, batches only", run(batches)), sep="\n")
        fresh = [case for case in cases if case.fresh]
        if fresh:
            print(headline("fresh batches (no rule tuned on them yet), both parts", run(fresh)))
    if args.misses:
        # Held-out misses only when asked for by name: rules are never written from them.
        part = args.part or "tuning"
        selected = cases if part == "all" else [case for case in cases if case.part == part]
        print("\n".join(["", f"== misses ({part})", *misses(run(selected))]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
