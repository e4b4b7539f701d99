"""Shared fixtures: SDK clients that close themselves, and the fake upstream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.clients import Clients
from tests.fakes.fixtures import upstream_fixture  # noqa: F401  (registers `upstream`)


@pytest.fixture
def clients() -> Iterator[Clients]:
    made = Clients()
    yield made
    made.close()
