"""The walking skeleton, for real: mock server process → PI resource → Dagster assets → Delta tables."""

from __future__ import annotations

import polars as pl
import pytest
from dagster import DagsterInstance, materialize

from mock_pi.universe import Universe
from osipi_dagster.assets import pi_tag_catalog, pi_timeseries
from osipi_dagster.resources import build_resources
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.transforms.timeseries import KEY
from osipi_dagster_tests.expected import comparable, expected_timeseries
from osipi_dagster_tests.helpers import MOCK_CONFIG, hour_window

pytestmark = pytest.mark.integration  # every test here runs the mock server process

HOURS = ["2026-11-20-09:00", "2026-11-20-10:00"]


@pytest.fixture(scope="module")
def delta_root(tmp_path_factory):
    return tmp_path_factory.mktemp("delta")


@pytest.fixture(scope="module")
def resources(mock_pi_url, delta_root):
    return build_resources(PIWebAPIResource(base_url=mock_pi_url, streams_per_request=64), str(delta_root))


@pytest.fixture(scope="module")
def loaded(resources, delta_root):
    """Catalog + two hourly partitions materialised once for the module."""
    with DagsterInstance.ephemeral() as instance:
        assert materialize([pi_tag_catalog], resources=resources, instance=instance).success
        for key in HOURS:
            result = materialize(
                [pi_tag_catalog, pi_timeseries],
                selection=[pi_timeseries],
                partition_key=key,
                resources=resources,
                instance=instance,
            )
            assert result.success
    return delta_root


def test_catalog_has_every_tag_once(loaded):
    catalog = pl.read_delta(str(loaded / "bronze" / "pi_tag_catalog"))
    universe = Universe(MOCK_CONFIG)
    assert catalog.height == len(universe.tags)
    assert catalog["webid"].n_unique() == catalog.height
    by_webid = {row["webid"]: row for row in catalog.iter_rows(named=True)}
    for tag in universe.tags:
        row = by_webid[tag.webid]
        assert (row["name"], row["path"], row["point_id"]) == (tag.name, tag.path, tag.point_id)
        assert (row["point_type"], row["engineering_units"]) == (tag.sensor.point_type, tag.sensor.units)
        assert row["digital_set_name"] == tag.sensor.digital_set


def test_timeseries_equals_generator(loaded):
    table = pl.read_delta(str(loaded / "bronze" / "pi_timeseries"))
    assert table.select(KEY).is_duplicated().sum() == 0
    expected = pl.concat([expected_timeseries(MOCK_CONFIG, *hour_window(key)) for key in HOURS])
    assert table.height == expected.height > 500 * 2 * 50
    assert comparable(table).equals(comparable(expected))
    # Every kind of value made it through: numbers, digital states, strings, system states.
    assert table.filter(pl.col("value_text").is_not_null() & pl.col("good")).height > 0
    assert table.filter(~pl.col("good")).height > 0
    assert table.filter(pl.col("sequence") > 0).height > 0  # several events at one timestamp


def test_rematerialising_a_partition_changes_nothing(loaded, resources):
    path = str(loaded / "bronze" / "pi_timeseries")
    before = comparable(pl.read_delta(path))
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [pi_tag_catalog, pi_timeseries],
            selection=[pi_timeseries],
            partition_key=HOURS[1],
            resources=resources,
            instance=instance,
        )
    assert result.success
    after = comparable(pl.read_delta(path))
    assert after.equals(before)
    start, end = hour_window(HOURS[1])
    rows = result.asset_materializations_for_node("pi_timeseries")[0].metadata["dagster/partition_row_count"].value
    assert rows == before.filter(pl.col("timestamp").is_between(start, end, closed="left")).height
