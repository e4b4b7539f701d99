"""A bounded soak (about a minute): memory and descriptors of `turnout serve` do not grow."""

from __future__ import annotations

import pytest

from tests.chaos.soak import SoakPlan, run_soak

MAX_GROWTH_MB = 30.0


@pytest.mark.slow
def test_memory_and_descriptors_hold_steady_under_a_long_run() -> None:
    report = run_soak(SoakPlan(seconds=40, warmup_s=10))
    print(report.summary())
    assert report.requests > 1000
    assert report.errors == 0  # every request got an HTTP answer
    assert set(report.statuses) == {200}  # one healthy path: every request served
    assert report.rss_growth_mb < MAX_GROWTH_MB
    # Sockets may grow only up to what the upstream pool legitimately keeps alive; nothing
    # else (files, pipes) may grow at all.
    assert report.socket_growth <= report.pool_bound
    assert report.other_fd_growth <= 0
