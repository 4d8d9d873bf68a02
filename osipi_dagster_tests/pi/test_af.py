"""The AF crawl of ``pi/af.py`` against the mock: paging and failed batch items change nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from osipi_dagster.pi import af
from osipi_dagster.pi.client import PIWebAPIClient

pytestmark = pytest.mark.integration


def test_paging_returns_the_same_objects(mock_pi_url):
    """Small pages (and per-element paging of full batch pages) give exactly the one-page results."""
    with PIWebAPIClient(mock_pi_url) as client:
        database = af.asset_databases(client)[0]["WebId"]
        elements = af.elements(client, database)
        assert [e["WebId"] for e in af.elements(client, database, page_size=7)] == [e["WebId"] for e in elements]
        webids = [e["WebId"] for e in elements]
        attributes = af.element_attributes(client, webids)
        assert af.element_attributes(client, webids, page_size=3, per_batch=16) == attributes
        start, end = datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
        frames = af.event_frames(client, database, start, end)
        assert len(frames) > 20 and af.event_frames(client, database, start, end, page_size=9) == frames


def test_failed_batch_items_are_fetched_again_alone(mock_pi_url, faults):
    with PIWebAPIClient(mock_pi_url) as client:
        database = af.asset_databases(client)[0]["WebId"]
        webids = [e["WebId"] for e in af.elements(client, database)]
        expected = af.element_attributes(client, webids)
        faults.set(batch_fail_one=True)
        assert af.element_attributes(client, webids, per_batch=32) == expected
        counters = faults.counters()
    assert counters["batch_item"] == -(-len(webids) // 32)  # one per batch, each recovered
