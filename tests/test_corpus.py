"""Every real error in the corpus gets its expected category and code, and every rule is used."""

from __future__ import annotations

import pytest

from tests.corpus_cases import Case, load_cases, part_of, thread_of
from turnout import diagnose
from turnout.diagnosis.engine import packaged_rules
from turnout.diagnosis.taxonomy import CODES

CASES = load_cases()


def test_a_thread_is_its_address_without_noise() -> None:
    one = thread_of("https://github.com/Owner/Repo/issues/12")
    assert thread_of("https://github.com/owner/repo/issues/12#issuecomment-3") == one
    assert thread_of("http://www.github.com/owner/repo/pull/12/files?w=1") == one
    assert thread_of("https://github.com/owner/repo/issues/13") != one
    forum = thread_of("https://linux.do/t/topic/123/4?u=someone#post")
    assert forum == "https://linux.do/t/topic/123/4"


def test_the_split_is_by_thread_stable_and_about_one_third() -> None:
    assert part_of("https://github.com/owner/repo/issues/12") == part_of(
        "https://github.com/owner/repo/pull/12#discussion_r1"
    )
    threads = [f"https://example.org/thread/{n}" for n in range(3000)]
    held = sum(part_of(t) == "held_out" for t in threads)
    assert 900 < held < 1100
    # The hash is pinned: changing it would move cases across the split, so this must not change.
    assert [part_of(t) for t in threads[:6]] == [
        "held_out",
        "tuning",
        "tuning",
        "tuning",
        "tuning",
        "held_out",
    ]
    by_thread: dict[str, set[str]] = {}
    for case in CASES:
        by_thread.setdefault(case.thread, set()).add(case.part)
    assert all(len(parts) == 1 for parts in by_thread.values())


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
