"""The column-schema change checks of the bronze tables and the freshness policy of the hourly assets, on a real
Dagster instance holding real materialisations (the mock PI Web API, real Delta tables)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import polars as pl
import pytest
from dagster import AssetKey, AssetSelection, DagsterInstance, asset, materialize
from dagster._core.definitions.freshness import FreshnessState
from dagster._core.definitions.freshness_evaluator import TimeWindowFreshnessPolicyEvaluator
from dagster._core.loader import LoadingContextForTest
from dagster._core.test_utils import freeze_time

from osipi_dagster.assets import pi_tag_catalog, pi_timeseries
from osipi_dagster.assets.checks import SCHEMA_CHANGE_CHECKS
from osipi_dagster.assets.columns import table_metadata
from osipi_dagster.automation import HOURLY_RUN_MARGIN, SETTLE_HOURS, hourly_freshness_policy
from osipi_dagster.definitions import defs
from osipi_dagster.resources import build_resources
from osipi_dagster.resources.pi_web_api import PIWebAPIResource

pytestmark = pytest.mark.integration  # the mock server process

HOUR = "2026-11-20-10:00"
BRONZE = ["pi_tag_catalog", "pi_timeseries", "pi_af_elements", "pi_af_attributes", "pi_event_frames"]
HOURLY = ["pi_timeseries", "pi_metrics_hourly", "pi_asset_metrics_hourly", "pi_summaries_hourly"]


def schema_change_evaluation(result, asset_name: str):
    [evaluation] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == AssetKey(asset_name) and e.check_name == "column_schema_change"
    ]
    return evaluation


@pytest.fixture(scope="module")
def loaded_twice(mock_pi_url, tmp_path_factory):
    """The catalog and one hour of pi_timeseries, each loaded twice with the schema-change checks in the run;
    yields the instance, the Delta root and the second run's results."""
    root = tmp_path_factory.mktemp("delta")
    resources = build_resources(PIWebAPIResource(base_url=mock_pi_url), str(root))
    with DagsterInstance.ephemeral() as instance:
        for _ in range(2):
            catalog = materialize(
                [pi_tag_catalog, *SCHEMA_CHANGE_CHECKS],
                selection=AssetSelection.assets(pi_tag_catalog),
                resources=resources,
                instance=instance,
            )
            timeseries = materialize(
                [pi_tag_catalog, pi_timeseries, *SCHEMA_CHANGE_CHECKS],
                selection=AssetSelection.assets(pi_timeseries),
                partition_key=HOUR,
                resources=resources,
                instance=instance,
            )
            assert catalog.success and timeseries.success
        yield instance, root, {"pi_tag_catalog": catalog, "pi_timeseries": timeseries}


def test_every_bronze_table_has_a_schema_change_check():
    checked = {key.asset_key.to_user_string() for checks in SCHEMA_CHANGE_CHECKS for key in checks.check_keys}
    assert checked == set(BRONZE)
    in_definitions = {key.asset_key.to_user_string() for key in defs.resolve_asset_graph().asset_check_keys}
    assert checked <= in_definitions


def test_two_equal_loads_pass_the_schema_change_check(loaded_twice):
    _, _, second = loaded_twice
    for name, result in second.items():  # the unpartitioned catalog and a streamed hourly partition
        evaluation = schema_change_evaluation(result, name)
        assert evaluation.passed, evaluation.description
        assert evaluation.description.startswith("No changes")


def test_a_changed_column_fails_the_schema_change_check(loaded_twice, mock_pi_url, tmp_path):
    """A catalog written with one column retyped, one dropped and one added (as a changed transform would
    write it, here into a new table location) against the previous load of the same asset."""
    instance, root, _ = loaded_twice
    previous = pl.read_delta(str(root / "bronze" / "pi_tag_catalog"))

    @asset(name="pi_tag_catalog", metadata=table_metadata("bronze", "pi_tag_catalog"))
    def changed_catalog() -> pl.DataFrame:
        return previous.with_columns(span=pl.col("span").cast(pl.String), plant=pl.lit("north")).drop("zero")

    result = materialize(
        [changed_catalog, *SCHEMA_CHANGE_CHECKS],
        selection=AssetSelection.assets(changed_catalog),
        resources=build_resources(PIWebAPIResource(base_url=mock_pi_url), str(tmp_path)),
        instance=instance,
    )
    assert result.success  # the check warns, it does not stop the run
    evaluation = schema_change_evaluation(result, "pi_tag_catalog")
    assert not evaluation.passed
    assert evaluation.severity.value == "WARN"
    assert "Added columns: plant" in evaluation.description
    assert "Removed columns: zero" in evaluation.description
    assert f"span: {previous.schema['span']} -> {pl.String()}" in evaluation.description


def test_the_hourly_assets_carry_the_freshness_policy():
    graph = defs.resolve_asset_graph()
    for name in HOURLY:
        assert graph.get(AssetKey(name)).freshness_policy == hourly_freshness_policy(), name
    # Stale once the settle window can no longer catch up; a warning after one missed hourly run.
    policy = hourly_freshness_policy(SETTLE_HOURS)
    assert policy.fail_window.to_timedelta() == timedelta(hours=SETTLE_HOURS) + HOURLY_RUN_MARGIN
    assert hourly_freshness_policy(3).warn_window.to_timedelta() == timedelta(hours=1) + HOURLY_RUN_MARGIN
    assert hourly_freshness_policy(1).warn_window is None  # one settle hour: nothing to warn about before failing


def freshness(instance: DagsterInstance, name: str) -> FreshnessState:
    """The state Dagster's freshness daemon would record for the asset now (its own evaluator)."""
    node = defs.resolve_asset_graph().get(AssetKey(name))
    return asyncio.run(TimeWindowFreshnessPolicyEvaluator().evaluate_freshness(LoadingContextForTest(instance), node))


def test_freshness_passes_after_a_load_and_fails_once_the_settle_window_is_missed(loaded_twice):
    instance, _, _ = loaded_twice
    with DagsterInstance.ephemeral() as empty:
        assert freshness(empty, "pi_timeseries") == FreshnessState.UNKNOWN  # never loaded
    loaded_at = instance.get_latest_materialization_event(AssetKey("pi_timeseries")).timestamp
    policy = hourly_freshness_policy()
    fail, warn = policy.fail_window.to_timedelta(), policy.warn_window
    with freeze_time(loaded_at + 60):
        assert freshness(instance, "pi_timeseries") == FreshnessState.PASS
    if warn is not None:
        with freeze_time(loaded_at + warn.to_timedelta().total_seconds() + 60):
            assert freshness(instance, "pi_timeseries") == FreshnessState.WARN
    with freeze_time(loaded_at + fail.total_seconds() + 60):
        assert freshness(instance, "pi_timeseries") == FreshnessState.FAIL
        assert freshness(instance, "pi_metrics_hourly") == FreshnessState.UNKNOWN  # gold never built here
