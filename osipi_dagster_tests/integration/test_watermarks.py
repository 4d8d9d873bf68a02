"""Partitions as watermarks, across simulated hours of an evolving mock PI System.

Time moves by restarting the mock server process with a later frozen ``--now``; the sensor is evaluated
with Dagster's own evaluation functions at the matching instants (the automation conditions alone are in
``test_automation.py``).
"""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from dagster import (
    AssetMaterialization,
    DagsterInstance,
    SensorResult,
    SkipReason,
    build_sensor_context,
    materialize,
)
from deltalake import DeltaTable

from mock_pi.config import Expansion, MockConfig
from mock_pi.process import running_mock
from mock_pi.universe import Universe
from osipi_dagster.assets import pi_tag_catalog, pi_timeseries
from osipi_dagster.resources import build_resources
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.sensors import new_tags
from osipi_dagster.transforms.timeseries import KEY
from osipi_dagster_tests.expected import comparable, expected_timeseries
from osipi_dagster_tests.helpers import MockFaults, hour_key, mock_args, range_tags

pytestmark = pytest.mark.integration  # every test here runs the mock server process

UTC = UTC
DAY = datetime(2026, 11, 20, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute)


def load(
    resources: dict, first: datetime, last: datetime | None = None, *, catalog: bool = False, tags: dict | None = None
) -> dict:
    """Materialise ``pi_timeseries`` for the hours ``first..last`` (one range run), optionally the catalog."""
    run_tags = dict(tags or {})
    if last is not None and last != first:
        run_tags |= range_tags(hour_key(first), hour_key(last))
    selection = [pi_tag_catalog, pi_timeseries] if catalog else [pi_timeseries]
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [pi_tag_catalog, pi_timeseries],
            selection=selection,
            resources=resources,
            instance=instance,
            tags=run_tags,
            partition_key=None if "dagster/asset_partition_range_start" in run_tags else hour_key(first),
        )
    assert result.success
    return result.asset_materializations_for_node("pi_timeseries")[-1].metadata


def refresh_catalog(resources: dict) -> None:
    with DagsterInstance.ephemeral() as instance:
        assert materialize([pi_tag_catalog], resources=resources, instance=instance).success


def table(root, name: str = "pi_timeseries") -> pl.DataFrame:
    return pl.read_delta(str(root / "bronze" / name))


def hours(frame: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    return frame.filter(pl.col("timestamp").is_between(start, end, closed="left"))


def test_late_values_land_when_the_settle_window_is_reloaded(tmp_path):
    config = MockConfig(tags=200, late_lag_seconds=1800)
    first_now, later_now = at(12, 10), at(13, 10)
    with running_mock(*mock_args(config, first_now)) as mock:
        resources = build_resources(PIWebAPIResource(base_url=mock.url), str(tmp_path))
        load(resources, at(11), catalog=True)
    early = table(tmp_path)
    expected_early = expected_timeseries(config, at(11), at(12), now=first_now)
    assert comparable(early).equals(comparable(expected_early))

    with running_mock(*mock_args(config, later_now)) as mock:
        resources = build_resources(PIWebAPIResource(base_url=mock.url), str(tmp_path))
        load(resources, at(10), at(12))  # what the 13:05 tick requests: the latest 3 hours
    settled = table(tmp_path)
    expected_settled = expected_timeseries(config, at(10), at(13), now=later_now)
    assert settled.select(KEY).is_duplicated().sum() == 0
    assert comparable(settled).equals(comparable(expected_settled))
    # The late values of 11:00 arrived: more rows than the first load, none lost or doubled.
    assert hours(settled, at(11), at(12)).height > early.height


def first_sensor_tick(config: MockConfig, now, instance: DagsterInstance, root):
    """Before the expansion: the catalog and hour 11:00 loaded, then the new-tag sensor's first (full) check."""
    with running_mock(*mock_args(config, now)) as mock:
        resources = build_resources(PIWebAPIResource(base_url=mock.url), str(root))
        load(resources, at(11), catalog=True)
        with build_sensor_context(instance=instance, resources=resources) as context:
            return new_tags.pi_new_tags_sensor(context)


def test_sensor_loads_a_plant_expansion_without_touching_existing_history(tmp_path, monkeypatch):
    monkeypatch.setattr(new_tags, "LOOKBACK_HOURS", 2)
    config = MockConfig(tags=500, expansions=(Expansion(at(12, 30), 10_000),))
    before, after = at(12, 10), at(13, 20)
    with DagsterInstance.ephemeral() as instance:
        first = first_sensor_tick(config, before, instance, tmp_path)
        assert isinstance(first, SensorResult) and not first.run_requests  # full check: nothing new
        assert first.skip_reason is not None and "500 points" in first.skip_reason.skip_message
        history_before = table(tmp_path)

        with running_mock(*mock_args(config, after)) as mock:
            resources = build_resources(PIWebAPIResource(base_url=mock.url), str(tmp_path))
            with build_sensor_context(instance=instance, resources=resources, cursor=first.cursor) as context:
                second = new_tags.pi_new_tags_sensor(context)
            assert len(second.run_requests) == 1
            request = second.run_requests[0]
            assert "10,000 new" in request.tags["osipi/reason"]
            assert "osipi/only_tags" not in request.tags  # too many to list: the window is re-loaded for all tags
            assert set(request.asset_selection) == {pi_tag_catalog.key, pi_timeseries.key}
            assert (
                request.tags["dagster/asset_partition_range_start"],
                request.tags["dagster/asset_partition_range_end"],
            ) == (hour_key(at(11)), hour_key(at(12)))
            load(resources, at(11), at(12), catalog=True, tags=request.tags)
            with build_sensor_context(instance=instance, resources=resources, cursor=second.cursor) as context:
                third = new_tags.pi_new_tags_sensor(context)
            assert isinstance(third, SkipReason) and "unchanged" in third.skip_message

    catalog = table(tmp_path, "pi_tag_catalog")
    assert catalog.height == catalog.filter(pl.col("is_active")).height == 10_500
    loaded = table(tmp_path)
    assert loaded.select(KEY).is_duplicated().sum() == 0
    assert comparable(loaded).equals(comparable(expected_timeseries(config, at(11), at(13), now=after)))
    # The existing tags' 11:00 rows are exactly what the first load wrote.
    old = {t.webid for t in Universe(config).tags[: config.tags]}
    assert comparable(hours(loaded, at(11), at(12)).filter(pl.col("tag_webid").is_in(old))).equals(
        comparable(history_before)
    )
    new_rows = loaded.filter(~pl.col("tag_webid").is_in(old))
    assert new_rows["tag_webid"].n_unique() > 9_000
    assert new_rows["timestamp"].min() == at(12, 30)  # their "Pt Created" at the expansion


def test_new_tags_cost_what_they_add(tmp_path, monkeypatch):
    """10 new points in a 1,000-point plant: the sensor's run reads and writes only their look-back hours."""
    monkeypatch.setattr(new_tags, "LOOKBACK_HOURS", 2)
    config = MockConfig(tags=990, expansions=(Expansion(at(12, 30), 10),))
    before, after = at(12, 10), at(13, 20)
    with DagsterInstance.ephemeral() as instance:
        first = first_sensor_tick(config, before, instance, tmp_path)
        with running_mock(*mock_args(config, after)) as mock:
            pi = PIWebAPIResource(base_url=mock.url)
            resources = build_resources(pi, str(tmp_path))
            load(resources, at(12))  # the hourly 12:00 load ran before the sensor noticed: old catalog, old tags
            history_before = table(tmp_path)
            # An hour of the look-back never loaded for the old tags: the sensor reloads every tag, so the run
            # cannot mark that hour loaded with only the new tags' rows in it.
            with build_sensor_context(instance=instance, resources=resources, cursor=first.cursor) as context:
                assert "osipi/only_tags" not in new_tags.pi_new_tags_sensor(context).run_requests[0].tags
            for loaded_hour in (at(11), at(12)):  # what the two loads above recorded in a real instance
                instance.report_runless_asset_event(
                    AssetMaterialization("pi_timeseries", partition=hour_key(loaded_hour))
                )
            with build_sensor_context(instance=instance, resources=resources, cursor=first.cursor) as context:
                second = new_tags.pi_new_tags_sensor(context)
            request = second.run_requests[0]
            assert "10 new" in request.tags["osipi/reason"]
            refresh_catalog(resources)  # the run's first step
            requests_before = MockFaults(mock.url).state()["Requests"]
            metadata = load(resources, at(11), at(12), tags=request.tags)
            requests = MockFaults(mock.url).state()["Requests"] - requests_before

    new = {t.webid for t in Universe(config).tags[config.tags :]}
    assert len(new) == 10 and set(request.tags["osipi/only_tags"].split()) == new
    expected_new = expected_timeseries(config, at(11), at(13), now=after, webids=new)
    # Cost scales with the 10 new tags: one stream-set request per hour, only their rows written.
    assert requests == 2 * math.ceil(len(new) / pi.streams_per_request)
    assert metadata["rows_written"].value == expected_new.height > 0
    commit = DeltaTable(str(tmp_path / "bronze" / "pi_timeseries")).history(1)[0]
    assert commit["operationMetrics"]["num_added_rows"] == expected_new.height
    # The table is exact: the other 990 tags' rows are exactly what the hourly loads wrote.
    loaded = table(tmp_path)
    assert loaded.select(KEY).is_duplicated().sum() == 0
    assert comparable(loaded).equals(comparable(expected_timeseries(config, at(11), at(13), now=after)))
    assert comparable(loaded.filter(~pl.col("tag_webid").is_in(new))).equals(comparable(history_before))


def test_removed_tags_are_marked_and_keep_their_history(tmp_path):
    config = MockConfig(tags=200)
    with running_mock(*mock_args(config, at(12, 10))) as mock:
        everything = build_resources(PIWebAPIResource(base_url=mock.url), str(tmp_path))
        load(everything, at(10), catalog=True)
        before = table(tmp_path)
        # The tag filter narrows: the points outside it are, for this pipeline, removed.
        narrowed = build_resources(PIWebAPIResource(base_url=mock.url, tag_filter="*.U001.*"), str(tmp_path))
        refresh_catalog(narrowed)
        load(narrowed, at(10))
    catalog = table(tmp_path, "pi_tag_catalog")
    active = catalog.filter(pl.col("is_active"))
    universe = Universe(config)
    assert catalog.height == len(universe.tags)
    assert set(active["name"]) == {t.name for t in universe.tags if ".U001." in t.name}
    assert catalog.filter(~pl.col("is_active"))["removed_at"].null_count() == 0
    assert comparable(table(tmp_path)).equals(comparable(before))


def test_backfill_range_and_two_overlapping_reruns(tmp_path):
    config = MockConfig(tags=300, now=at(12, 0))
    with running_mock(*mock_args(config, config.now)) as mock:
        resources = build_resources(PIWebAPIResource(base_url=mock.url), str(tmp_path))
        load(resources, at(0), at(5), catalog=True)
        expected = comparable(expected_timeseries(config, at(0), at(6)))
        assert comparable(table(tmp_path)).equals(expected)

        errors: list[BaseException] = []

        def rerun(first: datetime, last: datetime) -> None:
            try:
                load(resources, first, last)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        runs = [
            threading.Thread(target=rerun, args=(at(0), at(3))),
            threading.Thread(target=rerun, args=(at(2), at(5))),
        ]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
        assert not errors
    after = table(tmp_path)
    assert after.select(KEY).is_duplicated().sum() == 0
    assert comparable(after).equals(expected)
