"""Error rules as data: each rule is a set of conditions on `ErrorFacts` and the code it yields.

The rules live in `data/rules.toml`, most specific first; the first rule whose conditions all
hold wins. Within one condition, any listed value may match. A rule says nothing about JSON
paths: phrases are searched in the lower-cased body (and pasted log), codes among the code-like
values gathered from the body and headers.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from turnout.diagnosis.facts import ErrorFacts
from turnout.diagnosis.literals import required_literals
from turnout.diagnosis.taxonomy import CODES, Category

_KNOWN_KEYS = frozenset(
    {
        "id",
        "code",
        "providers",
        "status",
        "codes",
        "phrases",
        "regex",
        "html",
        "local",
        "headers",
        "over_limit",
    }
)


@dataclass(frozen=True, slots=True)
class StatusSet:
    """HTTP statuses given as exact numbers and whole classes ("5xx")."""

    exact: frozenset[int]
    classes: frozenset[int]

    @classmethod
    def parse(cls, values: Iterable[int | str]) -> StatusSet:
        exact: set[int] = set()
        classes: set[int] = set()
        for value in values:
            if isinstance(value, int):
                exact.add(value)
            elif re.fullmatch(r"[1-5]xx", value):
                classes.add(int(value[0]))
            else:
                raise ValueError(f"bad status {value!r}: use a number or a class such as '5xx'")
        return cls(frozenset(exact), frozenset(classes))

    def __contains__(self, status: object) -> bool:
        if not isinstance(status, int):
            return False
        return status in self.exact or status // 100 in self.classes


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the rule table."""

    id: str
    code: str
    category: Category
    providers: frozenset[str] | None = None
    status: StatusSet | None = None
    codes: frozenset[str] | None = None
    phrases: tuple[str, ...] | None = None
    regex: re.Pattern[str] | None = None
    html: bool | None = None
    local: bool | None = None
    headers: tuple[str, ...] | None = None
    over_limit: bool | None = None
    #: Substrings one of which must occur for `regex` to match (derived, see literals.py).
    literals: tuple[str, ...] | None = None

    def matches(self, facts: ErrorFacts) -> bool:
        """True when every condition of this rule holds for `facts`.

        A provider condition only excludes a rule when the provider is known and differs:
        an unattributed pasted error still gets the provider-specific reading.
        """
        if self.status is not None and facts.status not in self.status:
            return False
        if (
            self.providers is not None
            and facts.provider is not None
            and facts.provider not in self.providers
        ):
            return False
        if self.html is not None and facts.is_html != self.html:
            return False
        if self.local is not None and facts.is_local != self.local:
            return False
        if self.over_limit is not None and facts.over_limit != self.over_limit:
            return False
        if self.codes is not None and self.codes.isdisjoint(facts.codes):
            return False
        if self.headers is not None and not any(h in facts.headers for h in self.headers):
            return False
        text = facts.text
        # Plain loops rather than any(...): this is the hot path of every diagnosis.
        if self.phrases is not None:
            for phrase in self.phrases:
                if phrase in text:
                    break
            else:
                return False
        if self.regex is None:
            return True
        if self.literals is not None:
            for literal in self.literals:
                if literal in text:
                    break
            else:
                return False
        return self.regex.search(text) is not None


def _rule_from_table(table: dict[str, Any]) -> Rule:
    unknown = set(table) - _KNOWN_KEYS
    rule_id = table.get("id", "?")
    if unknown:
        raise ValueError(f"rule {rule_id}: unknown keys {sorted(unknown)}")
    code = table["code"]
    if code not in CODES:
        raise ValueError(f"rule {rule_id}: unknown code {code!r}")

    def lowered(key: str) -> tuple[str, ...] | None:
        values = table.get(key)
        return None if values is None else tuple(str(v).lower() for v in values)

    codes = lowered("codes")
    return Rule(
        id=rule_id,
        code=code,
        category=CODES[code],
        providers=frozenset(table["providers"]) if "providers" in table else None,
        status=StatusSet.parse(table["status"]) if "status" in table else None,
        codes=frozenset(codes) if codes is not None else None,
        phrases=lowered("phrases"),
        regex=re.compile(table["regex"]) if "regex" in table else None,
        literals=required_literals(table["regex"]) if "regex" in table else None,
        html=table.get("html"),
        local=table.get("local"),
        headers=lowered("headers"),
        over_limit=table.get("over_limit"),
    )


@dataclass(frozen=True, slots=True)
class RuleBook:
    """The ordered rules and the status table consulted when none of them matches."""

    rules: tuple[Rule, ...]
    #: Status (exact, then class such as 5) -> code.
    status_fallback: dict[int, str]
    class_fallback: dict[int, str]

    def classify(self, facts: ErrorFacts) -> tuple[str | None, str]:
        """(id of the rule that decided, code). The id is None when nothing matched."""
        for rule in self.rules:
            if rule.matches(facts):
                return rule.id, rule.code
        status = facts.status
        if status is not None:
            code = self.status_fallback.get(status) or self.class_fallback.get(status // 100)
            if code is not None:
                return f"status.{status}", code
        return None, "unknown"


def load_rules(text: str | None = None) -> RuleBook:
    """Load the rule book: the packaged one, or `text` in the same TOML shape."""
    if text is None:
        text = resources.files("turnout.diagnosis").joinpath("data/rules.toml").read_text("utf-8")
    data = tomllib.loads(text)
    rules = tuple(_rule_from_table(t) for t in data["rule"])
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise ValueError(f"duplicate rule id {rule.id!r}")
        seen.add(rule.id)
    exact: dict[int, str] = {}
    classes: dict[int, str] = {}
    for key, code in data.get("status_fallback", {}).items():
        if code not in CODES:
            raise ValueError(f"status_fallback {key}: unknown code {code!r}")
        if re.fullmatch(r"[1-5]xx", key):
            classes[int(key[0])] = code
        else:
            exact[int(key)] = code
    return RuleBook(rules, exact, classes)
