"""The literal prefilter never hides a match: whatever a rule's regex matches holds a literal."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from turnout.diagnosis.engine import packaged_rules
from turnout.diagnosis.literals import required_literals

RULES_WITH_LITERALS = [r for r in packaged_rules().rules if r.regex is not None and r.literals]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("(out of extra usage|draw from (your )?extra usage)", ("extra usage",)),
        (r"(claude\.ai|x\d+y)", None),
        ("(limit: 0\\b|per ?day)", ("limit: 0", "per")),
        ("(a|bc)", None),
        ("(?:foo|bar)", None),
    ],
)
def test_required_literals(pattern: str, expected: tuple[str, ...] | None) -> None:
    assert required_literals(pattern) == expected


def test_most_rules_get_a_prefilter() -> None:
    with_regex = [r for r in packaged_rules().rules if r.regex is not None]
    assert len(RULES_WITH_LITERALS) >= 0.8 * len(with_regex)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_every_regex_match_contains_a_required_literal(data: st.DataObject) -> None:
    rule = data.draw(st.sampled_from(RULES_WITH_LITERALS))
    assert rule.regex is not None
    assert rule.literals is not None
    text = data.draw(st.from_regex(rule.regex, fullmatch=False))
    if rule.regex.search(text):
        assert any(lit in text for lit in rule.literals), (rule.id, text)


def test_claude_dot_ai_escape_is_kept_as_a_literal_dot() -> None:
    pattern = r"(add more at claude\.ai/settings|elsewhere)"
    assert required_literals(pattern) == ("add more at claude.ai/settings", "elsewhere")
    assert re.search(pattern, "add more at claude.ai/settings")
