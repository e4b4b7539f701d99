"""Every real error in the corpus gets its expected category and code, and every rule is used."""

from __future__ import annotations

import pytest

from tests.corpus_cases import Case, load_cases
from turnout import diagnose
from turnout.diagnosis.engine import packaged_rules
from turnout.diagnosis.taxonomy import CODES

CASES = load_cases()


def test_corpus_is_large_and_sourced() -> None:
    assert len(CASES) >= 150
    assert len({case.id for case in CASES}) == len(CASES), "case ids must be unique"
    for case in CASES:
        assert case.source.startswith("https://"), case.id
        assert CODES[case.expect["code"]].value == case.expect["category"], case.id


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case_is_classified_as_expected(case: Case) -> None:
    result = diagnose(**case.fields)
    got = (result.category.value, result.code)
    assert got == (case.expect["category"], case.expect["code"]), (
        f"{case.file}: rule {result.rule} gave {got}"
    )
    if "retry_after_s" in case.expect:
        assert result.retry_after_s == pytest.approx(case.expect["retry_after_s"], abs=0.5)
    for field in ("provider", "model", "endpoint"):
        if field in case.expect:
            assert getattr(result, field) == case.expect[field], field


def test_every_rule_is_exercised_by_the_corpus() -> None:
    used = {diagnose(**case.fields).rule for case in CASES}
    unused = [rule.id for rule in packaged_rules().rules if rule.id not in used]
    assert unused == [], f"rules that match no corpus case: {unused}"
