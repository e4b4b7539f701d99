"""Train a learned fallback for the diagnosis on the corpus's tuning part, and measure it.

    python scripts/train_fallback.py                     # train, choose settings, print figures
    python scripts/train_fallback.py --threshold 0.99    # measure a threshold not chosen by CV
    python scripts/train_fallback.py --out /tmp/fb.json  # also write the trained weights

The fallback would decide only where the rules do not (they say `unknown`, or only the status
table answered): multinomial naive Bayes over hashed word and word-pair features of the text the
rules read, with a plain code per category and the rule id `learned.fallback`, never reading an
error as quota, auth or permission without a refusal status. It is trained on tuning cases only;
its smoothing and decision threshold are chosen by cross-validation inside the tuning part, folds
by source thread. The held-out part is read only at the end, to print how the rules alone and
the rules with the fallback do on it. Deterministic: the same corpus gives the same figures.

It is not shipped: the figures in docs/accuracy.md ("A learned fallback, measured") show why.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import sys
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.corpus_cases import GATING_CATEGORIES, RETRYABLE_CATEGORIES, Case, load_cases

from turnout.diagnosis import engine
from turnout.diagnosis.facts import ErrorFacts
from turnout.diagnosis.rules import RuleBook
from turnout.diagnosis.taxonomy import CODES as ALL_CODES
from turnout.diagnosis.taxonomy import Category

ROOT = Path(__file__).resolve().parents[1]
BITS = 14
FOLDS = 5
ALPHAS = (0.1, 0.3, 1.0, 3.0)
THRESHOLDS = (0.5, 0.8, 0.9, 0.99, 0.999, 0.9999, 1.0)
#: The code a learned decision carries: the category's plain code, never a specific one whose
#: advice would claim more than the model knows.
PLAIN_CODES = {
    Category.AUTH: "invalid_api_key",
    Category.PERMISSION: "permission_denied",
    Category.QUOTA: "quota_exceeded",
    Category.RATE_LIMIT: "rate_limited",
    Category.OVERLOADED: "provider_overloaded",
    Category.SERVER_ERROR: "upstream_server_error",
    Category.TIMEOUT: "request_timeout",
    Category.CONNECTION: "connection_failed",
    Category.ENDPOINT_NOT_FOUND: "endpoint_not_found",
    Category.MODEL_NOT_FOUND: "model_not_found",
    Category.CONTEXT_LENGTH: "context_length_exceeded",
    Category.PAYLOAD_TOO_LARGE: "payload_too_large",
    Category.INVALID_REQUEST: "invalid_request",
    Category.CONTENT_POLICY: "content_filtered",
    Category.UNKNOWN: "unknown",
}


RULE_ID = "learned.fallback"
#: Categories that gate a credential or a path for a long time.
GATING = frozenset({Category.QUOTA, Category.AUTH, Category.PERMISSION})
#: How much of the text the features are read from: error messages say what matters early.
TEXT_LIMIT = 4096

_TOKEN = re.compile(r"[a-z_][a-z0-9_]*|\d+|[\u3400-\u4dbf\u4e00-\u9fff]")


def features(text: str, status: int | None) -> set[str]:
    """Words, word pairs and the status of one error, as the model reads them.

    Numbers other than three-digit ones (statuses, error codes) become one token, so request
    ids and counts do not spread the weights thin.
    """
    words = [
        w if not w.isdigit() or len(w) == 3 else "#" for w in _TOKEN.findall(text[:TEXT_LIMIT])
    ]
    found = set(words)
    found.update(f"{a} {b}" for a, b in itertools.pairwise(words))
    if status is not None:
        found.add(f"status={status}")
        found.add(f"status={status // 100}xx")
    else:
        found.add("status=none")
    return found


def may_gate(status: int | None) -> bool:
    """Whether a learned decision may read an error as quota, auth or permission: only when the
    provider answered with a refusal status (a 4xx other than a timeout or a rate limit). A
    guess must never take a credential out of service for what may be a transient failure (a
    5xx, a 429, a dropped connection with no status at all)."""
    return status is not None and status // 100 == 4 and status not in (408, 429)


def bucket(feature: str, bits: int) -> int:
    """A stable bucket for a feature (crc32: the same on every run and platform)."""
    return zlib.crc32(feature.encode("utf-8")) & ((1 << bits) - 1)


@dataclass(frozen=True, slots=True)
class Fallback:
    """The trained model: per class a prior, a default log-probability for a feature bucket it
    never saw, and for each bucket seen in training the classes it was seen in, each with its
    log-probability's difference from that default (zero, so not stored, for the others)."""

    classes: tuple[Category, ...]
    codes: dict[Category, str]
    bits: int
    prior: tuple[float, ...]
    unseen: tuple[float, ...]
    weights: dict[int, tuple[tuple[int, float], ...]]
    #: The posterior a decision needs; below it the rules' answer stands.
    threshold: float

    def posterior(self, text: str, status: int | None) -> list[tuple[Category, float]]:
        """Each class with its probability, most likely first."""
        found = {bucket(f, self.bits) for f in features(text, status)}
        scores = [p + u * len(found) for p, u in zip(self.prior, self.unseen, strict=True)]
        for b in found:
            row = self.weights.get(b)
            if row is not None:
                for i, w in row:
                    scores[i] += w
        top = max(scores)
        exp = [math.exp(s - top) for s in scores]
        total = sum(exp)
        ranked = [(c, e / total) for c, e in zip(self.classes, exp, strict=True)]
        return sorted(ranked, key=lambda pair: -pair[1])

    def decide(self, facts: ErrorFacts, rules_code: str) -> str | None:
        """The code to use instead of the rules' `rules_code`, or None to keep theirs."""
        for category, p in self.posterior(facts.text, facts.status):
            if category in GATING and not may_gate(facts.status):
                continue
            if p < self.threshold or category is Category.UNKNOWN:
                return None
            if ALL_CODES[rules_code] is category:
                return None
            return self.codes[category]
        return None


@dataclass(frozen=True)
class Read:
    """One case as the rules saw it."""

    case: Case
    facts: ErrorFacts | None  # None for turnout's own no-path reply
    rule: str | None
    code: str

    @property
    def want(self) -> Category:
        return Category(self.case.expect["category"])

    @property
    def eligible(self) -> bool:
        """The rules did not decide: unknown, or the status table alone."""
        return self.facts is not None and (self.rule is None or self.rule.startswith("status."))


class Recorder:
    """The packaged rule book, keeping the facts `diagnose` handed it: the model is trained and
    measured on exactly what the rules read."""

    def __init__(self, book: RuleBook) -> None:
        self.book = book
        self.facts: ErrorFacts | None = None

    def classify(self, facts: ErrorFacts) -> tuple[str | None, str]:
        self.facts = facts
        return self.book.classify(facts)


RECORDER = Recorder(engine.packaged_rules())
engine.packaged_rules = lambda: RECORDER  # type: ignore[assignment]


def read(case: Case) -> Read:
    RECORDER.facts = None
    result = engine.diagnose(**case.fields, lang="en")
    return Read(case, RECORDER.facts, result.rule, result.code)


def train(reads: list[Read], alpha: float, threshold: float) -> Fallback:
    classes = list(Category)
    counts: dict[Category, Counter[int]] = {c: Counter() for c in classes}
    docs = Counter(r.want for r in reads)
    for r in reads:
        assert r.facts is not None
        counts[r.want].update({bucket(x, BITS) for x in features(r.facts.text, r.facts.status)})
    size = 1 << BITS
    prior, unseen = [], []
    logp: dict[Category, dict[int, float]] = {}
    for c in classes:
        total = sum(counts[c].values())
        prior.append(math.log((docs[c] + 1) / (len(reads) + len(classes))))
        denominator = total + alpha * size
        unseen.append(math.log(alpha / denominator))
        logp[c] = {b: math.log((n + alpha) / denominator) for b, n in counts[c].items()}
    seen = sorted({b for c in classes for b in counts[c]})
    weights = {
        b: tuple(
            (i, round(logp[c][b] - u, 3))
            for i, (c, u) in enumerate(zip(classes, unseen, strict=True))
            if b in logp[c]
        )
        for b in seen
    }
    return Fallback(
        classes=tuple(classes),
        codes=dict(PLAIN_CODES),
        bits=BITS,
        prior=tuple(round(p, 6) for p in prior),
        unseen=tuple(round(u, 6) for u in unseen),
        weights=weights,
        threshold=threshold,
    )


def decided(model: Fallback | None, r: Read) -> Category:
    """The category of the diagnosis with `model` as the fallback (None: the rules alone)."""
    if model is not None and r.eligible:
        assert r.facts is not None
        code = model.decide(r.facts, r.code)
        if code is not None:
            return ALL_CODES[code]
    return ALL_CODES[r.code]


def fold_of(case: Case) -> int:
    return zlib.crc32(case.thread.encode("utf-8")) % FOLDS


def cross_validate(reads: list[Read]) -> tuple[float, float]:
    """(alpha, threshold) with the most right categories on the tuning folds' eligible cases;
    ties go to the higher threshold (fewer learned decisions)."""
    open_reads = [r for r in reads if r.eligible]
    right = sum(decided(None, r) is r.want for r in open_reads)
    retry = sum(
        (decided(None, r) in RETRYABLE_CATEGORIES) == (r.want in RETRYABLE_CATEGORIES)
        for r in open_reads
    )
    print(f"  cv rules alone                   right {right} retryable {retry}")
    best: tuple[int, int, float, float] | None = None
    for alpha in ALPHAS:
        models = {
            k: train([r for r in reads if fold_of(r.case) != k], alpha, 0.0) for k in range(FOLDS)
        }
        for threshold in THRESHOLDS:
            right = retry = 0
            for r in reads:
                if not r.eligible:
                    continue
                m = models[fold_of(r.case)]
                model = _with(m, threshold)
                got = decided(model, r)
                right += got is r.want
                retry += (got in RETRYABLE_CATEGORIES) == (r.want in RETRYABLE_CATEGORIES)
            key = (right, retry, threshold, -alpha)
            print(f"  cv alpha={alpha:<5} threshold={threshold:<5} right {right} retryable {retry}")
            if best is None or key > best:
                best = key
    assert best is not None
    return -best[3], best[2]


def _with(model: Fallback, threshold: float) -> Fallback:
    return Fallback(
        model.classes,
        model.codes,
        model.bits,
        model.prior,
        model.unseen,
        model.weights,
        threshold,
    )


def figures(name: str, reads: list[Read], model: Fallback | None) -> str:
    got = [decided(model, r) for r in reads]
    n = len(reads)
    cat = sum(g is r.want for g, r in zip(got, reads, strict=True))
    retry = sum(
        (g in RETRYABLE_CATEGORIES) == (r.want in RETRYABLE_CATEGORIES)
        for g, r in zip(got, reads, strict=True)
    )
    gated = sum(
        r.want in RETRYABLE_CATEGORIES and g in GATING_CATEGORIES
        for g, r in zip(got, reads, strict=True)
    )
    rules = [decided(None, r) for r in reads]
    fixed = sum(g is r.want and b is not r.want for g, b, r in zip(got, rules, reads, strict=True))
    broke = sum(g is not r.want and b is r.want for g, b, r in zip(got, rules, reads, strict=True))
    neg = [(g, r) for g, r in zip(got, reads, strict=True) if r.case.negative]
    neg_ok = sum(g is r.want for g, r in neg)
    return (
        f"{name:<28} {n:>4} cases: category {cat}/{n} = {cat / n:.1%}, "
        f"retryable {retry}/{n} = {retry / n:.1%}, transient read as gating {gated}, "
        f"negatives {neg_ok}/{len(neg)}; against the rules: {fixed} fixed, {broke} broken"
    )


def per_category(reads: list[Read], model: Fallback) -> list[str]:
    groups: dict[Category, list[Read]] = defaultdict(list)
    for r in reads:
        groups[r.want].append(r)
    lines = [f"  {'category':<20}{'cases':>6}{'rules':>8}{'+learned':>10}{'decided':>9}"]
    for c in sorted(groups, key=lambda c: c.value):
        rs = groups[c]
        before = sum(decided(None, r) is c for r in rs)
        after = sum(decided(model, r) is c for r in rs)
        changed = sum(decided(model, r) is not decided(None, r) for r in rs)
        lines.append(
            f"  {c.value:<20}{len(rs):>6}{before / len(rs):>8.0%}{after / len(rs):>10.0%}"
            f"{changed:>9}"
        )
    return lines


def dump(model: Fallback) -> str:
    data = {
        "about": "diagnosis fallback, trained by scripts/train_fallback.py on the tuning part",
        "rule": RULE_ID,
        "classes": [c.value for c in model.classes],
        "codes": {c.value: code for c, code in model.codes.items()},
        "bits": model.bits,
        "threshold": model.threshold,
        "prior": list(model.prior),
        "unseen": list(model.unseen),
        # bucket -> [class index, weight, class index, weight, ...]
        "weights": {
            str(b): [x for pair in row for x in pair] for b, row in sorted(model.weights.items())
        },
    }
    return json.dumps(data, separators=(",", ":"), sort_keys=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the trained model's JSON here")
    parser.add_argument("--alpha", type=float, help="use this smoothing instead of the chosen")
    parser.add_argument(
        "--threshold", type=float, help="use this threshold instead of the chosen (measuring)"
    )
    args = parser.parse_args()
    reads = [read(case) for case in load_cases()]
    tuning = [r for r in reads if r.case.part == "tuning" and r.facts is not None]
    print(f"tuning: {len(tuning)} cases, {sum(r.eligible for r in tuning)} the rules leave open")
    alpha, threshold = cross_validate(tuning)
    print(f"chosen: alpha {alpha}, threshold {threshold}")
    if args.alpha is not None or args.threshold is not None:
        alpha = alpha if args.alpha is None else args.alpha
        threshold = threshold if args.threshold is None else args.threshold
        print(f"given: alpha {alpha}, threshold {threshold} (not chosen by the tuning part)")
    model = train(tuning, alpha, threshold)
    held = [r for r in reads if r.case.part == "held_out"]
    batches = [r for r in held if r.case.file.startswith("batches/")]
    print(f"held out: {sum(r.eligible for r in held)} of {len(held)} cases the rules leave open")
    for name, part in (
        ("tuning (in sample)", [r for r in reads if r.case.part == "tuning"]),
        ("held_out", held),
        ("held_out, batches only", batches),
    ):
        print(figures(f"{name}, rules", part, None))
        print(figures(f"{name}, +learned", part, model))
    print("held_out per category (category accuracy; decided = cases the fallback changed):")
    print("\n".join(per_category(held, model)))
    text = dump(model)
    print(f"model: {len(model.weights)} buckets, {len(text) / 1024:.0f} KB as JSON")
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
