"""The freshness checks of the newest hourly partitions, at chosen instants (Dagster's frozen clock)."""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import AssetMaterialization, DagsterInstance, Definitions
from dagster._core.test_utils import freeze_time

from osipi_dagster.assets import pi_metrics_hourly, pi_tag_catalog, pi_timeseries
from osipi_dagster.assets.checks import FRESHNESS_CHECKS
from osipi_dagster.resources import build_resources
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster_tests.helpers import hour_key


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 20, hour, minute, tzinfo=UTC)


def _timeseries_freshness(tmp_path, instance: DagsterInstance) -> bool:
    [key] = [k for c in FRESHNESS_CHECKS for k in c.check_keys if k.asset_key == pi_timeseries.key]
    defs = Definitions(
        assets=[pi_tag_catalog, pi_timeseries, pi_metrics_hourly],
        asset_checks=FRESHNESS_CHECKS,
        resources=build_resources(PIWebAPIResource(base_url="http://127.0.0.1:9/piwebapi"), str(tmp_path)),
    )
    # The global asset job, as the freshness sensor's run requests target it, with only the check selected.
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(), asset_check_selection={key})
    result = job.execute_in_process(instance=instance)
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation.passed


def test_the_hour_that_closed_must_be_loaded_within_the_next_hour(tmp_path):
    """Deadline :59: the hour that closed at HH:00 is due by HH:59."""
    with DagsterInstance.ephemeral() as instance:
        with freeze_time(_at(12, 6)):  # the 11:00 hour loaded at the 12:05 tick, with the one before
            for hour in (10, 11):
                instance.report_runless_asset_event(
                    AssetMaterialization("pi_timeseries", partition=hour_key(_at(hour)))
                )
        with freeze_time(_at(13, 30)):  # the 11:00 hour (closed 12:00) was due at 12:59: loaded
            assert _timeseries_freshness(tmp_path, instance)
        with freeze_time(_at(14, 30)):  # the 12:00 hour (closed 13:00) was due at 13:59: missing
            assert not _timeseries_freshness(tmp_path, instance)
