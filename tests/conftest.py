"""Shared fixtures: SDK clients that close themselves, the fake upstream, and a private data
directory for each test, so no test (or gateway process a test starts) writes into the user's
own, and no test finds another's files (a gateway keeps its gates in a file per port, and two
tests may be given the same free port)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from tests.clients import Clients
from tests.fakes.fixtures import upstream_fixture  # noqa: F401  (registers `upstream`)

_DATA_HOME = tempfile.mkdtemp(prefix="turnout-test-data-")
os.environ["XDG_DATA_HOME"] = _DATA_HOME  # for what runs before any test (collection)


@pytest.fixture(autouse=True)
def private_data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    previous = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("data-home"))
    yield
    if previous is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = previous


@pytest.fixture
def clients() -> Iterator[Clients]:
    made = Clients()
    yield made
    made.close()
