"""Load the diagnosis corpus for the tests and the scripts, each case in its part of the split.

The corpus is tests/corpus/*.yaml plus tests/corpus/batches/*.yaml. Every case belongs to the
`tuning` part or the `held_out` part according to its source thread alone (see `thread_of` and
`part_of`), so all cases copied from one public thread land on the same side: a rule written from
a tuning case can never have read a held-out case's sibling. The split is described for people in
tests/corpus/README.md.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

CORPUS_DIR = Path(__file__).parent / "corpus"
BATCH_DIR = CORPUS_DIR / "batches"

Part = Literal["tuning", "held_out"]
PARTS: tuple[Part, ...] = ("tuning", "held_out")

#: Batches the rules have been tuned on, one file name a line. A batch not listed is fresh: it
#: arrived after the rules last changed, so all of it is measured (as the "fresh" figure) and
#: none of it is asserted case by case until someone has tuned on its tuning part and lists it.
TUNED_LIST = CORPUS_DIR / "tuned.txt"

#: One thread in HELD_OUT_EVERY goes to the held-out part.
HELD_OUT_EVERY = 3

#: Keys a case may carry; anything else is a typo that would silently be ignored.
_CASE_KEYS = frozenset(
    {"id", "source", "provider", "status", "headers", "body", "log", "expect", "negative", "note"}
)
_FIELDS = ("status", "body", "headers", "provider", "log")

#: GitHub issues, pull requests and discussions share one number space per repository, and every
#: sub-page of one (/files, /commits, #issuecomment-...) is the same thread.
_GITHUB_THREAD = re.compile(r"^/([^/]+)/([^/]+)/(issues|pull|pulls|discussions)/(\d+)")
#: CJK ideographs (unified and extension A) and the CJK punctuation block.
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class Case:
    id: str
    file: str  # relative to tests/corpus, e.g. "fresh.yaml" or "batches/ca-01.yaml"
    source: str
    fields: dict[str, Any]  # keyword arguments for diagnose()
    expect: dict[str, Any]
    negative: bool = False
    note: str | None = None
    fresh: bool = False  # from a batch no rule has been tuned on yet (see TUNED_LIST)

    @property
    def thread(self) -> str:
        return thread_of(self.source)

    @property
    def part(self) -> Part:
        return part_of(self.source)

    @property
    def text(self) -> str:
        return f"{self.fields.get('body', '')}\n{self.fields.get('log', '')}"

    @property
    def chinese(self) -> bool:
        return has_cjk(self.text)


def thread_of(source: str) -> str:
    """The thread a source address belongs to: scheme, host and path, without the noise.

    Lower-cased scheme and host, no "www.", no default port, no query, no fragment, no trailing
    slash; a GitHub issue, pull request or discussion is reduced to its repository and number.
    Dropping the query can only merge pages into one thread, never split one, which is the safe
    direction for a held-out part.
    """
    parts = urlsplit(source.strip())
    scheme = (parts.scheme or "https").lower()
    if scheme == "http":
        scheme = "https"
    host = (parts.hostname or "").lower().removeprefix("www.")
    path = re.sub(r"/{2,}", "/", parts.path).rstrip("/")
    if host == "github.com":
        match = _GITHUB_THREAD.match(path)
        if match:
            owner, repo, _kind, number = match.groups()
            path = f"/{owner.lower()}/{repo.lower()}/issues/{number}"
        else:
            path = path.lower()
    return f"{scheme}://{host}{path}"


def part_of(source: str) -> Part:
    """`held_out` for about one thread in three, decided by a stable hash of the thread."""
    digest = hashlib.sha256(thread_of(source).encode("utf-8")).digest()
    return "held_out" if int.from_bytes(digest[:8], "big") % HELD_OUT_EVERY == 0 else "tuning"


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def corpus_files() -> list[Path]:
    return sorted(CORPUS_DIR.glob("*.yaml")) + sorted(BATCH_DIR.glob("*.yaml"))


def tuned_batches() -> set[str]:
    if not TUNED_LIST.exists():
        return set()
    lines = TUNED_LIST.read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def load_file(path: Path, tuned: set[str] | None = None) -> list[Case]:
    """The cases of one corpus file, checked for the shape README.md describes."""
    name = path.relative_to(CORPUS_DIR).as_posix() if path.is_relative_to(CORPUS_DIR) else path.name
    tuned = tuned_batches() if tuned is None else tuned
    fresh = path.parent == BATCH_DIR and path.name not in tuned
    cases: list[Case] = []
    for index, raw in enumerate(yaml.safe_load(path.read_text(encoding="utf-8")) or []):
        where = f"{name}: case {index} ({raw.get('id', '?') if isinstance(raw, dict) else raw!r})"
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: not a mapping")
        unknown = set(raw) - _CASE_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        for key in ("id", "source", "expect"):
            if key not in raw:
                raise ValueError(f"{where}: no {key}")
        if not any(raw.get(key) for key in ("body", "log", "headers")):
            raise ValueError(f"{where}: no body, log or headers")
        fields = {key: raw[key] for key in _FIELDS if raw.get(key) is not None}
        if "headers" in fields:
            fields["headers"] = {str(k): str(v) for k, v in fields["headers"].items()}
        if "provider" in fields:
            fields["provider"] = str(fields["provider"])
        note = raw.get("note")
        cases.append(
            Case(
                id=str(raw["id"]),
                file=name,
                source=str(raw["source"]),
                fields=fields,
                expect=dict(raw["expect"]),
                negative=bool(raw.get("negative", False)),
                note=str(note) if note is not None else None,
                fresh=fresh,
            )
        )
    return cases


def load_cases(part: Part | None = None) -> list[Case]:
    """Every corpus case, or only those of one part of the split."""
    tuned = tuned_batches()
    cases = [case for path in corpus_files() for case in load_file(path, tuned)]
    return cases if part is None else [case for case in cases if case.part == part]


#: The categories where sending the same request again can succeed (DESIGN.md).
RETRYABLE_CATEGORIES = frozenset(
    {"rate_limit", "overloaded", "server_error", "timeout", "connection"}
)
#: Categories that gate a credential or a path for a long time: a transient failure must never
#: be read as one of them.
GATING_CATEGORIES = frozenset({"quota", "auth", "permission"})


@dataclass(frozen=True)
class Outcome:
    """One case and what the engine made of it."""

    case: Case
    category: str
    code: str
    rule: str | None

    @property
    def want(self) -> str:
        return str(self.case.expect["category"])

    @property
    def category_ok(self) -> bool:
        return self.category == self.want

    @property
    def retryable_ok(self) -> bool:
        return (self.category in RETRYABLE_CATEGORIES) == (self.want in RETRYABLE_CATEGORIES)

    @property
    def code_ok(self) -> bool:
        return self.category_ok and self.code == self.case.expect.get("code")


def run(cases: list[Case]) -> list[Outcome]:
    """Diagnose every case with the packaged rules."""
    from turnout import diagnose

    outcomes = []
    for case in cases:
        result = diagnose(**case.fields, lang="en")
        outcomes.append(Outcome(case, result.category.value, result.code, result.rule))
    return outcomes


@dataclass(frozen=True)
class Figures:
    """Aggregate accuracy over a set of outcomes."""

    cases: int
    category_ok: int
    retryable_ok: int
    code_ok: int

    @classmethod
    def of(cls, outcomes: list[Outcome]) -> Figures:
        return cls(
            cases=len(outcomes),
            category_ok=sum(o.category_ok for o in outcomes),
            retryable_ok=sum(o.retryable_ok for o in outcomes),
            code_ok=sum(o.code_ok for o in outcomes),
        )

    @property
    def category(self) -> float:
        return self.category_ok / self.cases if self.cases else 1.0

    @property
    def retryable(self) -> float:
        return self.retryable_ok / self.cases if self.cases else 1.0

    @property
    def code(self) -> float:
        return self.code_ok / self.cases if self.cases else 1.0
