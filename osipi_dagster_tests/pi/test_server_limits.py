"""Servers whose MaxReturnedItemsPerCall is below the client's assumptions: the announced limit is adopted
everywhere (stream sets, batch sub-requests, paging, the catalog's points listing), and nothing is lost.

Regression: the batch transport used to retry 400 sub-responses stream by stream with the same sizes and
fail; paging always asked for 10,000 values; the points listing always asked for 1,000 points.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from mock_pi.process import running_mock
from mock_pi.universe import Universe
from osipi_dagster.pi.batch_controller import BatchController
from osipi_dagster.pi.client import PIWebAPIClient, RetryPolicy
from osipi_dagster_tests.expected import comparable_raw, expected_raw
from osipi_dagster_tests.helpers import MOCK_CONFIG, MOCK_NOW

pytestmark = pytest.mark.integration  # every test here runs the mock server process

START = MOCK_NOW - timedelta(hours=3)
END = START + timedelta(hours=1)
TAGS = 120  # the first tags of the shared test universe (same seed, same data)
WEBIDS = [t.webid for t in Universe(MOCK_CONFIG).tags[:TAGS]]


@pytest.fixture(scope="module", params=[20, 1_000, 5_000])
def limited_mock(request):
    """The shared universe served with a low MaxReturnedItemsPerCall."""
    with running_mock(
        "--tags", str(MOCK_CONFIG.tags), "--now", MOCK_NOW.isoformat(), "--max-returned-items", str(request.param)
    ) as server:
        yield server.url, request.param


def client(url: str) -> PIWebAPIClient:
    return PIWebAPIClient(url, retry=RetryPolicy(max_attempts=3, backoff_seconds=0.01))


def test_the_points_listing_adopts_the_servers_limit(limited_mock):
    url, limit = limited_mock
    with client(url) as pi:
        names = [p["Name"] for p in pi.points(pi.data_server()["WebId"], page_size=1_000, selected_fields="Items.Name")]
    assert sorted(names) == sorted(t.name for t in Universe(MOCK_CONFIG).tags)
    assert pi.max_items == (limit if limit < 1_000 else None)


@pytest.mark.parametrize("transport", ["streamsets", "batch"])
def test_recorded_values_adopt_the_servers_limit(limited_mock, transport):
    url, limit = limited_mock
    with client(url) as pi:
        controller = BatchController(pi, transport=transport)  # configured for 100 streams × 150,000 values
        raw = controller.extract(WEBIDS, START, END)
    assert controller.max_items_per_call == limit
    assert comparable_raw(raw).equals(expected_raw(WEBIDS, START, END))


def test_paging_a_long_window_adopts_the_servers_limit(limited_mock):
    """A day of 10-second tags: every stream is paged, never with more values than the server allows."""
    url, limit = limited_mock
    webids = [t.webid for t in Universe(MOCK_CONFIG).tags if t.sensor.code == "VI"][:3]
    start = MOCK_NOW - timedelta(hours=24)
    with client(url) as pi:
        controller = BatchController(pi, transport="batch", streams_per_request=3)
        raw = controller.extract(webids, start, MOCK_NOW)
    assert controller.stats.paged_streams >= 1
    assert comparable_raw(raw).equals(expected_raw(webids, start, MOCK_NOW))
