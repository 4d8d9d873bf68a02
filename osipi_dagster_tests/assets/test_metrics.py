"""Gold hourly metrics: recomputed here row by row in plain Python — from the loaded ``pi_timeseries`` rows
and, for the hour's edges, the mock's generator — and compared with ``pi_metrics_hourly`` (single hour
and a two-hour range run)."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import UTC

import polars as pl
import pytest
from dagster import DagsterInstance, materialize

from mock_pi import signals
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
UTC = UTC
FLOATS = ["min", "max", "mean", "time_weighted_mean", "stddev", "first", "last", "share_good", "good_seconds"]


def pi_time_weighted(
    points: list[tuple[float, float | None, bool]], start: float, end: float, step: bool
) -> tuple[float | None, float]:
    """PI's time-weighted average of [start, end] from (time, value, usable) points in PI's order that
    include the last one before ``start`` and the first one at or after ``end``: each usable point holds
    (step, or the next point unusable) or runs linearly to the next point, clipped to the window."""
    area = seconds = 0.0
    for i, (t, v, ok) in enumerate(points):
        if not ok:
            continue
        nt, nv, nok = points[i + 1] if i + 1 < len(points) else (math.inf, None, False)
        lo, hi = max(t, start), min(nt, end)
        if hi <= lo:
            continue

        def at(x: float) -> float:
            if step or not nok or x <= t:
                return v
            return nv if x >= nt else v + (x - t) / (nt - t) * (nv - v)

        area += (at(lo) + at(hi)) / 2 * (hi - lo)
        seconds += hi - lo
    return (area / seconds if seconds > 0 else None), seconds


def expected_metrics(rows: list[dict], universe: Universe | None = None) -> dict[tuple, dict]:
    """The documented conventions, written out with loops. The points just outside each hour come from
    the mock's generator (what PI holds), or are absent when no ``universe`` is given."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["timestamp"].replace(minute=0, second=0, microsecond=0), row["tag_webid"])].append(row)
    tags = {t.webid: t for t in universe.tags} if universe else {}
    out = {}
    for (hour, tag), events in groups.items():
        events.sort(key=lambda r: (r["timestamp"], r["sequence"]))
        values = [e["value"] for e in events if e["good"] and e["value"] is not None]
        start, end = hour.timestamp(), hour.timestamp() + 3600
        points = [(e["timestamp"].timestamp(), e["value"], e["good"] and e["value"] is not None) for e in events]
        step = False
        if tag in tags:
            generated = signals.recorded(
                tags[tag], start - 86400, end + 86400, MOCK_CONFIG.now.timestamp(), MOCK_CONFIG.seed
            )
            usable = generated.system_state == 0
            before = [i for i in range(len(generated)) if generated.ts[i] < start][-1:]
            after = [i for i in range(len(generated)) if generated.ts[i] >= end][:1]
            kind = tags[tag].sensor.kind
            step = kind in ("digital", "string")
            numeric = kind != "string"
            points = (
                [(float(generated.ts[i]), float(generated.value[i]), bool(usable[i]) and numeric) for i in before]
                + points
                + [(float(generated.ts[i]), float(generated.value[i]), bool(usable[i]) and numeric) for i in after]
            )
        mean, seconds = pi_time_weighted(points, start, end, step)
        good = sum(e["good"] for e in events)
        out[(hour, tag)] = {
            "count": len(events),
            "good_count": good,
            "share_good": good / len(events),
            "min": min(values, default=None),
            "max": max(values, default=None),
            "mean": statistics.fmean(values) if values else None,
            "stddev": statistics.stdev(values) if len(values) > 1 else None,
            "first": values[0] if values else None,
            "last": values[-1] if values else None,
            "time_weighted_mean": mean,
            "good_seconds": seconds,
        }
    return out


def assert_metrics_match(table: pl.DataFrame, rows: list[dict]) -> None:
    expected = expected_metrics(rows, Universe(MOCK_CONFIG))
    table = table.filter(pl.col("count") > 0)  # tag-hours without events: see the test below
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
        assets = [
            pi_tag_catalog,
            pi_af_elements,
            pi_af_attributes,
            pi_timeseries,
            pi_metrics_hourly,
            pi_asset_metrics_hourly,
        ]
        selection = [pi_timeseries, pi_metrics_hourly, pi_asset_metrics_hourly]
        assert materialize(
            assets, selection=selection, partition_key=HOURS[0], resources=resources, instance=instance
        ).success
        assert materialize(
            assets, selection=selection, resources=resources, instance=instance, tags=range_tags(HOURS[1], HOURS[2])
        ).success
    return root


def test_metrics_equal_independent_computation(loaded):
    timeseries = pl.read_delta(str(loaded / "bronze" / "pi_timeseries"))
    table = pl.read_delta(str(loaded / "gold" / "pi_metrics_hourly"))
    assert table["hour"].unique().sort().to_list() == [hour_window(h)[0] for h in HOURS]
    assert table["count"].sum() == timeseries.height
    assert table.height == timeseries["tag_webid"].n_unique() * len(HOURS)  # every tag, every hour
    assert table.filter(pl.col("good_count") < pl.col("count")).height > 0  # bad values are in the mix
    assert table.filter(pl.col("time_weighted_mean").is_null()).height > 0  # string tags have no numbers
    assert_metrics_match(table, timeseries.to_dicts())


def test_bearing_temperature_per_pump_per_hour(loaded):
    """The README's example (mean Bearing Temperature per Pump per hour) on ``pi_asset_metrics_hourly``,
    checked against the universe's pumps."""
    metrics = pl.read_delta(str(loaded / "gold" / "pi_metrics_hourly"))
    table = pl.read_delta(str(loaded / "gold" / "pi_asset_metrics_hourly"))
    assert table.height == metrics.height  # every tag is read by exactly one attribute
    query = (
        table.filter((pl.col("element_template") == "Pump") & (pl.col("attribute_name") == "Bearing Temperature"))
        .group_by("element_path", "hour")
        .agg(pl.col("time_weighted_mean").mean())
    )
    universe = Universe(MOCK_CONFIG)
    pumps = {
        universe.elements[t.element].path: t.webid
        for t in universe.tags
        if universe.elements[t.element].template == "Pump" and t.sensor.attribute == "Bearing Temperature"
    }
    assert set(query["element_path"]) == set(pumps) and query.height == len(pumps) * len(HOURS)
    by_tag = {(r["tag_webid"], r["hour"]): r["time_weighted_mean"] for r in metrics.iter_rows(named=True)}
    for row in query.iter_rows(named=True):
        assert row["time_weighted_mean"] == by_tag[(pumps[row["element_path"]], row["hour"])]
