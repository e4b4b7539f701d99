"""Pytest fixtures for tests that need a fake upstream.

Import the fixture into a test module by either name; both register the
fixture `upstream`:

    from tests.fakes.fixtures import upstream_fixture  # noqa: F401

Importing `upstream` itself works too, but then ruff reports F811 on every
test parameter named `upstream`, since the parameter shadows the import.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.running import RunningUpstream


@pytest.fixture(name="upstream")
def upstream_fixture() -> Iterator[RunningUpstream]:
    """A fresh fake upstream serving in a background thread, closed after the test."""
    with RunningUpstream() as running:
        yield running


upstream = upstream_fixture
