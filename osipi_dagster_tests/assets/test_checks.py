"""The asset checks on real Delta tables: each passes on the loaded data and fails once its table is corrupted
(the corruption is then undone with a Delta restore)."""

from __future__ import annotations

from contextlib import contextmanager

import polars as pl
import pytest
from dagster import AssetSelection, DagsterInstance, materialize
from deltalake import DeltaTable, write_deltalake

from osipi_dagster.assets import pi_af_attributes, pi_af_elements, pi_metrics_hourly, pi_tag_catalog, pi_timeseries
from osipi_dagster.assets.checks import (
    CHECKS,
    MIN_RESOLVED_SHARE,
    pi_af_point_attributes_resolve_to_tags,
    pi_metrics_count_matches_raw_rows,
    pi_tag_catalog_unique_webids,
    pi_timeseries_complete_against_pi_count,
    pi_timeseries_keys_unique,
)
from osipi_dagster_tests.helpers import hour_window, load_af, range_tags

pytestmark = pytest.mark.integration  # every test here runs the mock server process

HOUR = "2026-11-20-10:00"
TABLES = [pi_tag_catalog, pi_af_elements, pi_af_attributes, pi_timeseries, pi_metrics_hourly]
ASSETS = [*TABLES, *CHECKS]


@pytest.fixture(scope="module")
def loaded(mock_pi_url, tmp_path_factory):
    """Catalog and AF, then one hour of pi_timeseries and pi_metrics_hourly with their checks in the run."""
    root = tmp_path_factory.mktemp("delta")
    with DagsterInstance.ephemeral() as instance:
        resources = load_af(mock_pi_url, root, instance)
        result = materialize(
            ASSETS,
            selection=AssetSelection.assets(pi_timeseries, pi_metrics_hourly)
            | AssetSelection.checks(*[c for c in CHECKS if c is not pi_af_point_attributes_resolve_to_tags]),
            partition_key=HOUR,
            resources=resources,
            instance=instance,
        )
        assert result.success
        yield root, resources, {e.check_name: e for e in result.get_asset_check_evaluations()}


def run_check(loaded, check, partition_key: str | None = HOUR):
    """Run one check alone against the tables as they are now; its evaluation."""
    _, resources, _ = loaded
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [*TABLES, check],
            selection=AssetSelection.checks(check),
            # A partition tag, not partition_key: Dagster finds no partitioning in a selection of checks alone.
            tags={"dagster/partition": partition_key} if partition_key else None,
            resources=resources,
            instance=instance,
            raise_on_error=False,
        )
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


@contextmanager
def corrupted(root, layer: str, table: str, change):
    """The table rewritten by ``change(frame) -> frame`` for the duration of the block, then restored."""
    path = str(root / layer / table)
    version = DeltaTable(path).version()
    frame = pl.read_delta(path)
    write_deltalake(path, change(frame).to_arrow(), mode="overwrite")
    try:
        yield frame
    finally:
        DeltaTable(path).restore(version)


def test_every_check_passes_on_the_loaded_data(loaded):
    _, _, evaluations = loaded
    assert set(evaluations) == {c.check_key.name for c in CHECKS} - {"pi_af_point_attributes_resolve_to_tags"}
    assert all(e.passed for e in evaluations.values()), {n: e.metadata for n, e in evaluations.items()}
    assert evaluations["pi_timeseries_complete_against_pi_count"].metadata["active_tags"].value > 0
    assert run_check(loaded, pi_af_point_attributes_resolve_to_tags, None).passed


def _in_hour(frame: pl.DataFrame) -> pl.Expr:
    start, end = hour_window(HOUR)
    return pl.col("timestamp").is_between(start, end, closed="left")


def test_duplicated_rows_fail_the_key_check_and_the_pi_count_check(loaded):
    root = loaded[0]
    with corrupted(root, "bronze", "pi_timeseries", lambda f: pl.concat([f, f.filter(_in_hour(f)).head(7)])):
        evaluation = run_check(loaded, pi_timeseries_keys_unique)
        assert not evaluation.passed and evaluation.metadata["duplicate_keys"].value == 7
        assert evaluation.severity.value == "ERROR"
        evaluation = run_check(loaded, pi_timeseries_complete_against_pi_count)
        assert not evaluation.passed and evaluation.metadata["tags_not_matching_pi"].value >= 1
    assert run_check(loaded, pi_timeseries_keys_unique).passed


def test_a_missing_tag_fails_the_pi_count_check(loaded):
    root = loaded[0]
    with corrupted(root, "bronze", "pi_timeseries", lambda f: f.filter(pl.col("tag_webid") != f["tag_webid"][0])):
        evaluation = run_check(loaded, pi_timeseries_complete_against_pi_count)
        assert not evaluation.passed and evaluation.metadata["tags_not_matching_pi"].value == 1


def test_a_duplicated_webid_fails_the_catalog_check(loaded):
    root = loaded[0]
    with corrupted(root, "bronze", "pi_tag_catalog", lambda f: pl.concat([f, f.head(1)])):
        evaluation = run_check(loaded, pi_tag_catalog_unique_webids, None)
        assert not evaluation.passed and evaluation.metadata["duplicate_webids"].value == 1


def test_unresolved_point_attributes_fail_the_af_check(loaded):
    root = loaded[0]
    attributes = pl.read_delta(str(root / "silver" / "pi_af_attributes"))
    points = attributes.filter(pl.col("data_reference") == "PI Point").height
    drop = int(points * (1 - MIN_RESOLVED_SHARE)) + 1  # just below the threshold

    def unresolve(frame: pl.DataFrame) -> pl.DataFrame:
        webids = frame.filter(pl.col("data_reference") == "PI Point")["webid"].head(drop)
        return frame.with_columns(tag_webid=pl.when(pl.col("webid").is_in(webids)).then(None).otherwise("tag_webid"))

    with corrupted(root, "silver", "pi_af_attributes", unresolve):
        evaluation = run_check(loaded, pi_af_point_attributes_resolve_to_tags, None)
        assert not evaluation.passed and evaluation.metadata["unresolved"].value >= drop


def test_a_wrong_gold_count_fails_the_reconciliation(loaded):
    root = loaded[0]
    with corrupted(
        root,
        "gold",
        "pi_metrics_hourly",
        lambda f: f.with_columns(
            count=pl.when(pl.int_range(pl.len()) == 3).then(pl.col("count") + 1).otherwise("count")
        ),
    ):
        evaluation = run_check(loaded, pi_metrics_count_matches_raw_rows)
        assert not evaluation.passed and evaluation.metadata["tag_hours_not_matching"].value == 1


def test_duplicate_keys_in_a_run_stop_gold_in_that_run(loaded):
    """A catalog holding one tag twice makes the run read that tag twice: the blocking key check fails after
    pi_timeseries is written, and pi_metrics_hourly of the same run is not computed."""
    root, resources, _ = loaded
    hour = "2026-11-20-09:00"  # an hour the fixture did not load
    start, end = hour_window(hour)
    timeseries, gold = root / "bronze" / "pi_timeseries", root / "gold" / "pi_metrics_hourly"
    versions = {path: DeltaTable(str(path)).version() for path in (timeseries, gold)}
    try:
        with corrupted(
            root, "bronze", "pi_tag_catalog", lambda f: pl.concat([f, f.filter(pl.col("is_active")).head(1)])
        ):
            with DagsterInstance.ephemeral() as instance:
                result = materialize(
                    ASSETS,
                    selection=AssetSelection.assets(pi_timeseries, pi_metrics_hourly)
                    | AssetSelection.checks(pi_timeseries_keys_unique, pi_metrics_count_matches_raw_rows),
                    partition_key=hour,
                    resources=resources,
                    instance=instance,
                    raise_on_error=False,
                )
        assert not result.success
        evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
        evaluation = evaluations["pi_timeseries_keys_unique"]
        assert not evaluation.passed
        written = pl.read_delta(str(timeseries)).filter(pl.col("timestamp").is_between(start, end, closed="left"))
        # The duplicated tag's rows, once more: what the check reports.
        duplicates = written.height - written.unique(subset=["tag_webid", "timestamp", "sequence"]).height
        assert evaluation.metadata["duplicate_keys"].value == duplicates > 0
        assert [m.asset_key.path for m in result.get_asset_materialization_events()] == [["pi_timeseries"]]
        assert "pi_metrics_hourly" not in {e.step_key for e in result.get_step_success_events()}
        # Gold was not written for the hour.
        assert pl.read_delta(str(gold)).filter(pl.col("hour") == start).height == 0
    finally:
        for path, version in versions.items():
            if DeltaTable(str(path)).version() != version:
                DeltaTable(str(path)).restore(version)


def test_a_range_run_records_each_hours_check_result(loaded):
    """A range run checks all its hours in one step; each hour still gets its own evaluation (the UI shows the
    check per partition), and one corrupted hour fails only that hour's."""
    root, resources, _ = loaded
    first, last = "2026-11-20-06:00", "2026-11-20-07:00"
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            ASSETS,
            selection=AssetSelection.assets(pi_timeseries, pi_metrics_hourly)
            | AssetSelection.checks(pi_timeseries_keys_unique, pi_metrics_count_matches_raw_rows),
            tags=range_tags(first, last),
            resources=resources,
            instance=instance,
        )
    assert result.success
    by_partition = {(e.check_name, e.partition): e for e in result.get_asset_check_evaluations()}
    for check in (
        "pi_timeseries_keys_unique",
        "pi_timeseries_complete_against_pi_count",
        "pi_metrics_count_matches_raw_rows",
    ):
        assert all(by_partition[(check, hour)].passed for hour in (first, last)), check
        assert by_partition[(check, None)].metadata["partitions_checked"].value == 2

    start, end = hour_window(last)
    late = pl.col("timestamp").is_between(start, end, closed="left")
    with corrupted(root, "bronze", "pi_timeseries", lambda f: pl.concat([f, f.filter(late).head(5)])):
        with DagsterInstance.ephemeral() as instance:
            result = materialize(
                [*TABLES, pi_timeseries_keys_unique],
                selection=AssetSelection.checks(pi_timeseries_keys_unique),
                tags=range_tags(first, last),
                resources=resources,
                instance=instance,
                raise_on_error=False,
            )
    by_partition = {e.partition: e for e in result.get_asset_check_evaluations()}
    assert by_partition[first].passed and by_partition[first].metadata["duplicate_keys"].value == 0
    assert not by_partition[last].passed and by_partition[last].metadata["duplicate_keys"].value == 5
    assert not by_partition[None].passed and by_partition[None].metadata["failed_partitions"].value == last
