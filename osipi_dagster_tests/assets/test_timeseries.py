"""What the Dagster instance stores per hourly partition of ``pi_timeseries``: true row counts for range runs."""

from __future__ import annotations

import polars as pl
import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, materialize

from osipi_dagster.assets import pi_tag_catalog, pi_timeseries
from osipi_dagster.resources import build_resources
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster_tests.expected import expected_timeseries
from osipi_dagster_tests.helpers import MOCK_CONFIG, hour_window, range_tags

pytestmark = pytest.mark.integration  # every test here runs the mock server process

HOURS = ["2026-11-20-06:00", "2026-11-20-07:00", "2026-11-20-08:00"]
SINGLE = "2026-11-20-09:00"
KEY = AssetKey("pi_timeseries")


def _latest(records_of, instance: DagsterInstance, partition: str) -> dict:
    records = records_of(AssetRecordsFilter(asset_key=KEY, asset_partitions=[partition]), limit=1).records
    assert records, f"nothing stored for partition {partition}"
    return {name: value.value for name, value in records[0].asset_event.metadata.items()}


@pytest.fixture(scope="module")
def stored(mock_pi_url, tmp_path_factory):
    """A three-hour range run, then a one-hour run twice, on one instance; yields the instance and the Delta
    root."""
    root = tmp_path_factory.mktemp("delta")
    resources = build_resources(PIWebAPIResource(base_url=mock_pi_url), str(root))
    with DagsterInstance.ephemeral() as instance:
        assert materialize([pi_tag_catalog], resources=resources, instance=instance).success
        # The range, then one hour twice (the second load finds the hour's rows of the first).
        for tags in (range_tags(HOURS[0], HOURS[-1]), {"dagster/partition": SINGLE}, {"dagster/partition": SINGLE}):
            assert materialize(
                [pi_tag_catalog, pi_timeseries],
                selection=[pi_timeseries],
                resources=resources,
                instance=instance,
                tags=tags,
            ).success
        yield instance, root


def test_each_partition_of_a_range_run_states_its_own_row_count(stored):
    instance, root = stored
    table = pl.read_delta(str(root / "bronze" / "pi_timeseries"))
    counts = []
    for key in HOURS:
        start, end = hour_window(key)
        rows = table.filter(pl.col("timestamp").is_between(start, end, closed="left")).height
        assert rows == expected_timeseries(MOCK_CONFIG, start, end).height > 0  # the oracle, not the loader
        counts.append(rows)
        materialization = _latest(instance.fetch_materializations, instance, key)
        # The range's total must not be stated as the partition's count (Dagster copies it to every partition).
        assert "dagster/partition_row_count" not in materialization
        assert materialization["range_partitions"] == len(HOURS)
        # The table's rows when the range was committed (it held just the range then), as Dagster defines it.
        assert materialization["dagster/row_count"] == table.filter(pl.col("timestamp") < hour_window(SINGLE)[0]).height
        observation = _latest(instance.fetch_observations, instance, key)
        assert observation["dagster/partition_row_count"] == rows
        assert (
            observation["tags_with_values"]
            == table.filter(pl.col("timestamp").is_between(start, end, closed="left"))["tag_webid"].n_unique()
        )
        assert observation["pi_requests"] > 0 and observation["megabytes_received"] > 0
        assert 0 < observation["share_good"] < 1
        assert observation["rows_changed_since_previous_load"] == rows  # a first load
    assert len(set(counts)) == len(counts)  # hours differ, so a count copied from another hour would show
    # The run's total is stated once, under its own name.
    assert _latest(instance.fetch_materializations, instance, HOURS[0])["range_row_count"] == sum(counts)


def test_a_one_partition_run_states_the_partition_count_and_no_ids(stored):
    instance, root = stored
    table = pl.read_delta(str(root / "bronze" / "pi_timeseries"))
    start, end = hour_window(SINGLE)
    rows = table.filter(pl.col("timestamp").is_between(start, end, closed="left")).height
    materialization = _latest(instance.fetch_materializations, instance, SINGLE)
    assert materialization["dagster/partition_row_count"] == rows == expected_timeseries(MOCK_CONFIG, start, end).height
    assert materialization["dagster/row_count"] == table.height
    observation = _latest(instance.fetch_observations, instance, SINGLE)
    assert observation["dagster/partition_row_count"] == rows
    assert observation["rows_changed_since_previous_load"] == 0  # the mock's clock is frozen: no late data
    assert "delta_keep_rows" not in materialization and "hours" not in materialization


def test_the_declared_column_schema_is_the_table_written(stored):
    instance, root = stored
    declared = pi_timeseries.specs_by_key[KEY].metadata["dagster/column_schema"].schema
    table = pl.read_delta(str(root / "bronze" / "pi_timeseries"))
    assert [(c.name, c.type) for c in declared.columns] == [(name, str(dtype)) for name, dtype in table.schema.items()]
    # Each materialisation records the columns written (the schema-change check compares them); in the UI they
    # replace the declared ones, so they must carry the same descriptions.
    for partition in (HOURS[0], SINGLE):  # a range run and a one-hour run
        assert _latest(instance.fetch_materializations, instance, partition)["dagster/column_schema"] == declared
