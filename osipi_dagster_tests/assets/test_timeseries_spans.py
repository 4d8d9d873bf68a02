"""A range run of ``pi_timeseries`` reads several hours per PI request (a span) where the server's limits allow:
fewer requests, the same exact table, and each hour's observation still states that hour's own figures."""

from __future__ import annotations

import math
from datetime import timedelta

import polars as pl
import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, materialize

from mock_pi.config import MockConfig
from mock_pi.process import running_mock
from osipi_dagster.assets import pi_tag_catalog, pi_timeseries
from osipi_dagster.assets.timeseries import ONLY_TAGS_RUN_TAG
from osipi_dagster.resources import build_resources
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster_tests.expected import comparable, expected_timeseries
from osipi_dagster_tests.helpers import MOCK_CONFIG, MOCK_NOW, MOCK_TAGS, MockFaults, hour_key, mock_args, range_tags

pytestmark = pytest.mark.integration  # every test here runs the mock server process

KEY = AssetKey("pi_timeseries")
DAY_END = MOCK_NOW - timedelta(hours=2)
DAY_START = DAY_END - timedelta(hours=24)
STREAMS_PER_REQUEST = PIWebAPIResource.model_fields["streams_per_request"].default


def _load(url: str, root, instance: DagsterInstance, start, end, tags: dict | None = None) -> int:
    """The catalog, then one range run of ``[start, end)``; returns the PI requests the mock served for the run."""
    resources = build_resources(PIWebAPIResource(base_url=url), str(root))
    assert materialize([pi_tag_catalog], resources=resources, instance=instance).success
    served = MockFaults(url).state()["Requests"]
    assert materialize(
        [pi_tag_catalog, pi_timeseries],
        selection=[pi_timeseries],
        resources=resources,
        instance=instance,
        tags={**range_tags(hour_key(start), hour_key(end - timedelta(hours=1))), **(tags or {})},
    ).success
    return MockFaults(url).state()["Requests"] - served


def _observations(instance: DagsterInstance, start, end) -> dict:
    """The latest observation's metadata of every hour of ``[start, end)``, by hour start."""
    hours = [start + timedelta(hours=h) for h in range(int((end - start) / timedelta(hours=1)))]
    found = {}
    for hour in hours:
        records = instance.fetch_observations(
            AssetRecordsFilter(asset_key=KEY, asset_partitions=[hour_key(hour)]), limit=1
        ).records
        found[hour] = {name: value.value for name, value in records[0].asset_event.metadata.items()}
    return found


def _rows_per_hour(table: pl.DataFrame) -> dict:
    counts = table.group_by(hour=pl.col("timestamp").dt.truncate("1h")).agg(rows=pl.len())
    return dict(zip(counts["hour"], counts["rows"]))


def _check_hours(table: pl.DataFrame, observations: dict) -> None:
    """Each hour's observation states the table's rows and tags of that hour, not a span's or the range's."""
    rows = _rows_per_hour(table)
    for hour, observation in observations.items():
        in_hour = table.filter(pl.col("timestamp").dt.truncate("1h") == hour)
        assert observation["values_read"] == observation["dagster/partition_row_count"] == rows[hour] > 0
        assert observation["tags_with_values"] == in_hour["tag_webid"].n_unique()
    assert len(set(rows.values())) > 1  # hours differ: a count copied from another hour would show


@pytest.fixture(scope="module")
def day(mock_pi_url, tmp_path_factory):
    """24 hours of every tag of the shared mock as one range run."""
    root = tmp_path_factory.mktemp("delta")
    with DagsterInstance.ephemeral() as instance:
        requests = _load(mock_pi_url, root, instance, DAY_START, DAY_END)
        table = pl.read_delta(str(root / "bronze" / "pi_timeseries"))
        yield table, _observations(instance, DAY_START, DAY_END), requests


def test_a_day_takes_far_fewer_requests_than_one_per_hour_and_chunk(day):
    _, observations, requests = day
    spans = [o["hours_per_request"] for o in observations.values()]
    # One request per hour per chunk of streams_per_request tags is what hour-by-hour reading costs.
    hourly = 24 * math.ceil(MOCK_TAGS / STREAMS_PER_REQUEST)
    assert spans[0] == 1 and max(spans) > 1  # the first hour alone (rates unknown), then several per request
    assert requests <= hourly / 2
    # The hours' shares of their spans' requests add up to what the mock served.
    assert round(sum(o["pi_requests"] for o in observations.values())) == requests
    assert all(o["pi_requests"] > 0 and o["megabytes_received"] > 0 for o in observations.values())


def test_a_day_read_in_spans_is_exact_and_each_hour_states_its_own_rows(day):
    table, observations, _ = day
    assert comparable(table).equals(comparable(expected_timeseries(MOCK_CONFIG, DAY_START, DAY_END)))
    _check_hours(table, observations)
    # Values stamped on an hour edge inside a span are loaded once; the range's end is left to the next hour.
    edges = table.filter(
        (pl.col("timestamp").dt.truncate("1h") == pl.col("timestamp")) & (pl.col("timestamp") > DAY_START)
    )
    assert any(observations[hour]["hours_per_request"] > 1 for hour in edges["timestamp"].unique())
    assert expected_timeseries(MOCK_CONFIG, DAY_END, DAY_END + timedelta(hours=1))["timestamp"].min() == DAY_END
    assert table["timestamp"].max() < DAY_END


def test_a_low_server_limit_makes_spans_shorter_and_stays_exact(day, tmp_path):
    """MaxReturnedItemsPerCall = 1,000 (announced by a 400): windows of one hour, small planned requests; the
    run is also limited to some tags (``osipi/only_tags``)."""
    _, day_observations, _ = day
    start, end = DAY_END - timedelta(hours=4), DAY_END
    only = expected_timeseries(MOCK_CONFIG, start, end)["tag_webid"].unique().sort().head(150).to_list()
    args = mock_args(MOCK_CONFIG, MOCK_NOW) + ["--max-returned-items-for", "recorded=1000"]
    with running_mock(*args) as mock, DagsterInstance.ephemeral() as instance:
        requests = _load(mock.url, tmp_path, instance, start, end, {ONLY_TAGS_RUN_TAG: " ".join(only)})
        observations = _observations(instance, start, end)
    table = pl.read_delta(str(tmp_path / "bronze" / "pi_timeseries"))
    assert comparable(table).equals(comparable(expected_timeseries(MOCK_CONFIG, start, end, webids=set(only))))
    _check_hours(table, observations)
    spans = [o["hours_per_request"] for o in observations.values()]
    assert max(spans) == 1 < max(o["hours_per_request"] for o in day_observations.values())
    assert round(sum(o["pi_requests"] for o in observations.values())) == requests


DENSE_CONFIG = MockConfig(tags=20, dense_tags=1, now=MOCK_NOW)


def test_bursts_of_equal_timestamps_on_a_span_hour_edge_keep_their_sequence(tmp_path):
    """A dense tag (a burst of events at every second, so at every hour edge) is paged through a two-hour span
    while the other tags share its requests: every event of an edge's burst is loaded once, numbered 0..n-1."""
    start, end = DAY_END - timedelta(hours=3), DAY_END
    edge = start + timedelta(hours=2)  # inside the span that follows the first hour
    with running_mock(*mock_args(DENSE_CONFIG, MOCK_NOW), "--dense-tags", "1") as mock:
        with DagsterInstance.ephemeral() as instance:
            _load(mock.url, tmp_path, instance, start, end)
            observations = _observations(instance, start, end)
    assert [o["hours_per_request"] for o in observations.values()] == [1, 2, 2]
    assert observations[edge]["paged_streams"] > 0
    table = pl.read_delta(str(tmp_path / "bronze" / "pi_timeseries"))
    expected = expected_timeseries(DENSE_CONFIG, start, end)
    burst = expected.filter(pl.col("timestamp") == edge)
    assert burst["sequence"].max() >= 24  # the oracle has a burst of 25+ events on the edge
    assert comparable(table.filter(pl.col("timestamp") == edge)).equals(comparable(burst))
    assert comparable(table).equals(comparable(expected))
    _check_hours(table, observations)
