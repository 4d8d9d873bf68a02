"""Shared fixtures: a real mock PI Web API process (frozen clock) and its fault injection.
Plain helpers live in ``helpers.py``."""

from __future__ import annotations

import pytest

from mock_pi.process import running_mock
from osipi_dagster_tests.helpers import MOCK_NOW, MOCK_TAGS, MockFaults


@pytest.fixture(scope="module")
def mock_pi_url():
    """A mock PI Web API server process for the tests of one module; stopped after them."""
    with running_mock("--tags", str(MOCK_TAGS), "--now", MOCK_NOW.isoformat()) as server:
        yield server.url


@pytest.fixture
def faults(mock_pi_url):
    faults = MockFaults(mock_pi_url)
    yield faults
    faults.set()
