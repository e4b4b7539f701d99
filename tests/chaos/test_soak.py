"""A bounded soak (about a minute): memory and descriptors of `turnout serve` do not grow."""

from __future__ import annotations

import pytest

from tests.chaos.soak import SoakPlan, run_soak

MAX_GROWTH_MB = 30.0
MAX_FD_GROWTH = 5


@pytest.mark.slow
def test_memory_and_descriptors_hold_steady_under_a_long_run() -> None:
    report = run_soak(SoakPlan(seconds=40, warmup_s=10))
    print(report.summary())
    assert report.requests > 1000
    assert report.errors == 0  # every request got an HTTP answer
    assert set(report.statuses) == {200}  # one healthy path: every request served
    assert report.rss_growth_mb < MAX_GROWTH_MB
    assert report.fd_growth <= MAX_FD_GROWTH
