"""Error rules as data: each rule is a set of conditions on `ErrorFacts` and the code it yields.

The rules live in `data/rules.toml`, most specific first; the first rule whose conditions all
hold wins. Within one condition, any listed value may match. A rule says nothing about JSON
paths: phrases are searched in the lower-cased body (and pasted log), codes among the code-like
values gathered from the body and headers.

The providers' own published error tables live in `data/codes.toml`, one table per document:
each maps a documented code (or, for one provider, a bare status) to our code. The rules with
`tables = "early"` and `tables = "late"` in `rules.toml` mark where in the order the tables of
each place are consulted; a table's statuses are consulted after every rule, before the
generic status table.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
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
        "tables",
    }
)
_TABLE_KEYS = frozenset(
    {"id", "title", "source", "providers", "strict", "fields", "codes", "statuses", "place"}
)
_PLACES = ("early", "late")


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
    #: A documented code table: (code as found, our code) in the table's order. `codes` then
    #: holds the same values, as "key=value" when the table names the keys it is read under.
    table: tuple[tuple[str, str], ...] | None = None
    keyed: bool = False
    #: The provider must be known and one of `providers` (numbers that mean nothing elsewhere).
    strict: bool = False

    def matches(self, facts: ErrorFacts) -> bool:
        """True when every condition of this rule holds for `facts`.

        A provider condition only excludes a rule when the provider is known and differs:
        an unattributed pasted error still gets the provider-specific reading.
        """
        if self.status is not None and facts.status not in self.status:
            return False
        if (
            self.providers is not None
            and (facts.provider is not None or self.strict)
            and facts.provider not in self.providers
        ):
            return False
        if self.html is not None and facts.is_html != self.html:
            return False
        if self.local is not None and facts.is_local != self.local:
            return False
        if self.over_limit is not None and facts.over_limit != self.over_limit:
            return False
        if self.codes is not None and self.codes.isdisjoint(
            facts.keyed if self.keyed else facts.codes
        ):
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

    def decide(self, facts: ErrorFacts) -> tuple[str, str]:
        """(rule id, code) once `matches` holds: a code table names the code it matched."""
        if self.table is None:
            return self.id, self.code
        found = facts.keyed if self.keyed else facts.codes
        for value, code in self.table:
            if value in found:
                return f"{self.id}[{value.rpartition('=')[2]}]", code
        return self.id, self.code  # unreachable: `matches` saw one of the values


@dataclass(frozen=True, slots=True)
class CodeTable:
    """One provider's published error table (data/codes.toml)."""

    id: str
    source: str
    rule: Rule | None
    place: str
    #: Provider family -> {status: code}: a bare status as that provider documents it.
    statuses: dict[str, dict[int, str]]


def _code_table(table: dict[str, Any]) -> CodeTable:
    table_id = table.get("id", "?")
    unknown = set(table) - _TABLE_KEYS
    if unknown:
        raise ValueError(f"code table {table_id}: unknown keys {sorted(unknown)}")
    source = table.get("source", "")
    if not str(source).startswith("https://"):
        raise ValueError(f"code table {table_id}: source must be the document's https address")
    providers = frozenset(table["providers"]) if "providers" in table else None
    strict = bool(table.get("strict", False))
    if strict and providers is None:
        raise ValueError(f"code table {table_id}: strict needs providers")
    fields = [str(f).lower() for f in table.get("fields", [])]
    pairs: list[tuple[str, str]] = []
    for value, code in table.get("codes", {}).items():
        if code not in CODES:
            raise ValueError(f"code table {table_id}: {value}: unknown code {code!r}")
        lowered = str(value).lower()
        if fields:
            pairs.extend((f"{key}={lowered}", code) for key in fields)
        else:
            pairs.append((lowered, code))
    rule = None
    if pairs:
        rule = Rule(
            id=f"table.{table_id}",
            code=pairs[0][1],
            category=CODES[pairs[0][1]],
            providers=providers,
            codes=frozenset(v for v, _ in pairs),
            table=tuple(pairs),
            keyed=bool(fields),
            strict=strict,
        )
    statuses: dict[str, dict[int, str]] = {}
    if "statuses" in table:
        if not strict or providers is None:
            raise ValueError(f"code table {table_id}: statuses need strict providers")
        by_status: dict[int, str] = {}
        for key, code in table["statuses"].items():
            if code not in CODES:
                raise ValueError(f"code table {table_id}: status {key}: unknown code {code!r}")
            by_status[int(key)] = code
        for provider in providers:
            statuses[provider] = by_status
    place = str(table.get("place", "late"))
    if place not in _PLACES:
        raise ValueError(f"code table {table_id}: place must be one of {_PLACES}")
    return CodeTable(table_id, str(source), rule, place, statuses)


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
    #: Provider family -> {status: (table id, code)}, from the tables' documented statuses.
    provider_statuses: dict[str, dict[int, tuple[str, str]]] = field(default_factory=dict)

    def classify(self, facts: ErrorFacts) -> tuple[str | None, str]:
        """(id of the rule that decided, code). The id is None when nothing matched."""
        for rule in self.rules:
            if rule.matches(facts):
                return rule.decide(facts)
        status = facts.status
        if status is not None:
            documented = self.provider_statuses.get(facts.provider or "", {}).get(status)
            if documented is not None:
                return f"table.{documented[0]}.status.{status}", documented[1]
            code = self.status_fallback.get(status) or self.class_fallback.get(status // 100)
            if code is not None:
                return f"status.{status}", code
        return None, "unknown"


def load_rules(text: str | None = None, codes_text: str | None = None) -> RuleBook:
    """Load the rule book: the packaged one, or `text` (and `codes_text`, the code tables) in
    the same TOML shapes. Without `text`, the packaged code tables come with the rules."""
    data_dir = resources.files("turnout.diagnosis").joinpath("data")
    if text is None:
        text = data_dir.joinpath("rules.toml").read_text("utf-8")
        if codes_text is None:
            codes_text = data_dir.joinpath("codes.toml").read_text("utf-8")
    data = tomllib.loads(text)
    tables = tuple(_code_table(t) for t in tomllib.loads(codes_text or "").get("table", []))
    rules_list: list[Rule] = []
    placed: set[str] = set()
    for entry in data["rule"]:
        place = entry.get("tables")
        if place is None:
            rules_list.append(_rule_from_table(entry))
            continue
        if place not in _PLACES or place in placed:
            raise ValueError(f"rule {entry.get('id')}: tables must be one of {_PLACES}, once each")
        rules_list.extend(t.rule for t in tables if t.rule is not None and t.place == place)
        placed.add(place)
    for place in _PLACES:
        if place not in placed:
            rules_list.extend(t.rule for t in tables if t.rule is not None and t.place == place)
    rules = tuple(rules_list)
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
    provider_statuses: dict[str, dict[int, tuple[str, str]]] = {}
    for table in tables:
        for provider, by_status in table.statuses.items():
            slot = provider_statuses.setdefault(provider, {})
            for status, code in by_status.items():
                slot.setdefault(status, (table.id, code))
    return RuleBook(rules, exact, classes, provider_statuses)
