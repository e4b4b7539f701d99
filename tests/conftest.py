"""Shared fixtures: SDK clients that close themselves, the fake upstream, and a private data
directory so no test (or gateway process a test starts) writes into the user's own."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from tests.clients import Clients
from tests.fakes.fixtures import upstream_fixture  # noqa: F401  (registers `upstream`)

_DATA_HOME = tempfile.mkdtemp(prefix="turnout-test-data-")
os.environ["XDG_DATA_HOME"] = _DATA_HOME


@pytest.fixture
def clients() -> Iterator[Clients]:
    made = Clients()
    yield made
    made.close()
