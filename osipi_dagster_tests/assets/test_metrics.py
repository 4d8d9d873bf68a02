"""Gold hourly metrics: recomputed here row by row in plain Python from the loaded ``pi_timeseries`` rows
and compared with ``pi_metrics_hourly`` (single hour and a two-hour range run)."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import timedelta, timezone

import polars as pl
import pytest
from dagster import DagsterInstance, materialize

from mock_pi.universe import Universe
from osipi_dagster.assets import (
    pi_af_attributes,
    pi_af_elements,
    pi_asset_metrics_hourly,
    pi_metrics_hourly,
    pi_tag_catalog,
    pi_timeseries,
)
from osipi_dagster_tests.helpers import MOCK_CONFIG, hour_window, load_af, range_tags

pytestmark = pytest.mark.integration  # every test here runs the mock server process

HOURS = ["2026-11-20-08:00", "2026-11-20-09:00", "2026-11-20-10:00"]
UTC = timezone.utc
FLOATS = ["min", "max", "mean", "time_weighted_mean", "stddev", "first", "last", "share_good"]


def expected_metrics(rows: list[dict]) -> dict[tuple, dict]:
    """The documented conventions, written out with loops: step-held time weighting within the hour."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["timestamp"].replace(minute=0, second=0, microsecond=0), row["tag_webid"])].append(row)
    out = {}
    for (hour, tag), events in groups.items():
        events.sort(key=lambda r: (r["timestamp"], r["sequence"]))
        values = [e["value"] for e in events if e["good"] and e["value"] is not None]
        weighted = weight = 0.0
        for i, event in enumerate(events):
            held_until = events[i + 1]["timestamp"] if i + 1 < len(events) else hour + timedelta(hours=1)
            if event["good"] and event["value"] is not None:
                seconds = (held_until - event["timestamp"]).total_seconds()
                weighted += event["value"] * seconds
                weight += seconds
        good = sum(e["good"] for e in events)
        out[(hour, tag)] = {
            "count": len(events), "good_count": good, "share_good": good / len(events),
            "min": min(values, default=None), "max": max(values, default=None),
            "mean": statistics.fmean(values) if values else None,
            "stddev": statistics.stdev(values) if len(values) > 1 else None,
            "first": values[0] if values else None, "last": values[-1] if values else None,
            "time_weighted_mean": weighted / weight if weight > 0 else None,
        }
    return out


def assert_metrics_match(table: pl.DataFrame, rows: list[dict]) -> None:
    expected = expected_metrics(rows)
    assert table.height == len(expected)
    assert table.select("hour", "tag_webid").is_duplicated().sum() == 0
    for row in table.iter_rows(named=True):
        want = expected[(row["hour"], row["tag_webid"])]
        assert (row["count"], row["good_count"]) == (want["count"], want["good_count"])
        for column in FLOATS:
            got, exp = row[column], want[column]
            assert (got is None) == (exp is None), (column, row, want)
            if exp is not None:
                assert math.isclose(got, exp, rel_tol=1e-9, abs_tol=1e-9), (column, got, exp)


@pytest.fixture(scope="module")
def loaded(mock_pi_url, tmp_path_factory):
    """Catalog and AF, then hour 1 alone, then hours 2-3 as one range run, each with the gold metrics."""
    root = tmp_path_factory.mktemp("delta")
    with DagsterInstance.ephemeral() as instance:
        resources = load_af(mock_pi_url, root, instance)
        assets = [pi_tag_catalog, pi_af_elements, pi_af_attributes, pi_timeseries, pi_metrics_hourly,
                  pi_asset_metrics_hourly]
        selection = [pi_timeseries, pi_metrics_hourly, pi_asset_metrics_hourly]
        assert materialize(assets, selection=selection, partition_key=HOURS[0], resources=resources,
                           instance=instance).success
        assert materialize(assets, selection=selection, resources=resources, instance=instance,
                           tags=range_tags(HOURS[1], HOURS[2])).success
    return root


def test_metrics_equal_independent_computation(loaded):
    timeseries = pl.read_delta(str(loaded / "bronze" / "pi_timeseries"))
    table = pl.read_delta(str(loaded / "gold" / "pi_metrics_hourly"))
    assert table["hour"].unique().sort().to_list() == [hour_window(h)[0] for h in HOURS]
    assert table["count"].sum() == timeseries.height
    assert table.filter(pl.col("good_count") < pl.col("count")).height > 0  # bad values are in the mix
    assert table.filter(pl.col("time_weighted_mean").is_null()).height > 0  # string tags have no numbers
    assert_metrics_match(table, timeseries.to_dicts())


def test_bearing_temperature_per_pump_per_hour(loaded):
    """The README's example (mean Bearing Temperature per Pump per hour) on ``pi_asset_metrics_hourly``,
    checked against the universe's pumps."""
    metrics = pl.read_delta(str(loaded / "gold" / "pi_metrics_hourly"))
    table = pl.read_delta(str(loaded / "gold" / "pi_asset_metrics_hourly"))
    assert table.height == metrics.height  # every tag is read by exactly one attribute
    query = (table.filter((pl.col("element_template") == "Pump") & (pl.col("attribute_name") == "Bearing Temperature"))
             .group_by("element_path", "hour").agg(pl.col("time_weighted_mean").mean()))
    universe = Universe(MOCK_CONFIG)
    pumps = {universe.elements[t.element].path: t.webid for t in universe.tags
             if universe.elements[t.element].template == "Pump" and t.sensor.attribute == "Bearing Temperature"}
    assert set(query["element_path"]) == set(pumps) and query.height == len(pumps) * len(HOURS)
    by_tag = {(r["tag_webid"], r["hour"]): r["time_weighted_mean"] for r in metrics.iter_rows(named=True)}
    for row in query.iter_rows(named=True):
        assert row["time_weighted_mean"] == by_tag[(pumps[row["element_path"]], row["hour"])]
