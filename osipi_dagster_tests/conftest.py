"""Shared fixtures: a real mock PI Web API process (frozen clock) and its fault injection.
Plain helpers live in ``helpers.py``."""

from __future__ import annotations

import subprocess

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


# -- the ``integration`` marker ---------------------------------------------------------------------------
# A test that starts a process (the mock server, a Dagster CLI, ...) is marked ``integration`` explicitly, so
# ``pytest -m "not integration"`` is a fast unit loop. The guard below keeps the marks honest: an unmarked
# test (or a fixture it sets up) that starts a process fails, naming the marker to add.

_unmarked_test: list[str] = []  # the node id of the unmarked test being set up, run or torn down


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    unmarked = item.get_closest_marker("integration") is None
    if unmarked:
        _unmarked_test.append(item.nodeid)
    try:
        return (yield)
    finally:
        if unmarked:
            _unmarked_test.pop()


_popen_init = subprocess.Popen.__init__


def _guarded_popen_init(self, *args, **kwargs):
    if _unmarked_test:
        raise RuntimeError(
            f"{_unmarked_test[-1]} starts a process ({args[0] if args else kwargs.get('args')!r}) "
            "but is not marked: add @pytest.mark.integration (or pytestmark at module level)"
        )
    _popen_init(self, *args, **kwargs)


subprocess.Popen.__init__ = _guarded_popen_init
