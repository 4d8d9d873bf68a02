"""Shared fixtures: a real mock PI Web API process (frozen clock) and a temporary Delta root."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

from mock_pi.config import MockConfig
from mock_pi.process import running_mock

# The frozen "now" of the shared mock: data exists up to this instant.
MOCK_NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
MOCK_TAGS = 500
MOCK_CONFIG = MockConfig(tags=MOCK_TAGS, now=MOCK_NOW)


@pytest.fixture(scope="module")
def mock_pi_url():
    """A mock PI Web API server process for the tests of one module; stopped after them."""
    with running_mock("--tags", str(MOCK_TAGS), "--now", MOCK_NOW.isoformat()) as server:
        yield server.url


class MockFaults:
    """The mock's fault injection (``POST /admin/faults``), set per test and cleared afterwards."""

    def __init__(self, mock_url: str):
        self.url = mock_url.removesuffix("/piwebapi") + "/admin/faults"

    def set(self, **settings) -> None:
        httpx.post(self.url, json=settings).raise_for_status()

    def counters(self) -> dict:
        return httpx.get(self.url).json()["Counters"]


@pytest.fixture
def faults(mock_pi_url):
    faults = MockFaults(mock_pi_url)
    yield faults
    faults.set()
