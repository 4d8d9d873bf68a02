"""The automation conditions of ``automation.py``, evaluated with Dagster's own functions at chosen instants:
the settle window of recent hours, and gold following every reloaded hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dagster import AssetKey, AssetMaterialization, DagsterInstance, evaluate_automation_conditions

from osipi_dagster.definitions import defs
from osipi_dagster_tests.helpers import hour_key

DAY = datetime(2026, 11, 20, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute)


def test_automation_requests_new_hour_and_settle_window():
    ts = AssetKey("pi_timeseries")
    with DagsterInstance.ephemeral() as instance:
        result = evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at(11, 58))
        assert result.get_requested_partitions(ts) == set()
        # 12:05 tick: the hour 11:00 just closed; it and the two before it are (re)loaded.
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=at(12, 6)
        )
        assert result.get_requested_partitions(ts) == {hour_key(at(9)), hour_key(at(10)), hour_key(at(11))}
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=at(12, 30)
        )
        assert result.get_requested_partitions(ts) == set()
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=at(13, 6)
        )
        assert result.get_requested_partitions(ts) == {hour_key(at(10)), hour_key(at(11)), hour_key(at(12))}


def test_gold_follows_every_reloaded_hour_including_backfills():
    backfilled = [hour_key(at(h) - timedelta(days=5)) for h in range(3)]  # far outside the latest window
    with DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(AssetMaterialization("pi_tag_catalog"))  # loaded before any hour
        result = evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at(11, 58))
        for partition in backfilled:
            instance.report_runless_asset_event(AssetMaterialization("pi_timeseries", partition=partition))
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=at(11, 59)
        )
        assert result.get_requested_partitions(AssetKey("pi_metrics_hourly")) == set(backfilled)


def test_automation_catalog_refresh_recomputes_no_hour_and_pi_summaries_follow_the_settle_window():
    """The daily catalog refresh must not recompute every hour of ``pi_metrics_hourly`` (it only supplies
    Step flags and names); ``pi_summaries_hourly`` re-reads the settle window like ``pi_timeseries``."""
    loaded = [hour_key(at(h) - timedelta(days=5)) for h in range(3)]
    metrics = AssetKey("pi_metrics_hourly")
    with DagsterInstance.ephemeral() as instance:
        result = evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at(11, 50))
        instance.report_runless_asset_event(AssetMaterialization("pi_tag_catalog"))
        for partition in loaded:
            instance.report_runless_asset_event(AssetMaterialization("pi_timeseries", partition=partition))
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=at(11, 51)
        )
        assert result.get_requested_partitions(metrics) == set(loaded)
        for partition in loaded:
            instance.report_runless_asset_event(AssetMaterialization("pi_metrics_hourly", partition=partition))
        instance.report_runless_asset_event(AssetMaterialization("pi_tag_catalog"))  # the daily refresh
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=at(11, 52)
        )
        assert result.get_requested_partitions(metrics) == set()
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=at(12, 6)
        )
        assert result.get_requested_partitions(AssetKey("pi_summaries_hourly")) == {
            hour_key(at(h)) for h in (9, 10, 11)
        }


def test_gold_rebuilt_in_the_same_run_as_its_inputs_is_not_rebuilt_again():
    """A run (a backfill of bronze and gold together) that loaded hours and rebuilt their gold leaves the next
    tick nothing to do; a later reload of one of those hours rebuilds just that hour, once."""
    hours = [hour_key(at(h) - timedelta(days=5)) for h in range(3)]
    metrics = AssetKey("pi_metrics_hourly")
    with DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(AssetMaterialization("pi_tag_catalog"))
        result = evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at(11, 50))
        for asset in ("pi_timeseries", "pi_metrics_hourly"):
            for partition in hours:
                instance.report_runless_asset_event(AssetMaterialization(asset, partition=partition))
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=at(11, 51)
        )
        assert result.get_requested_partitions(metrics) == set()
        instance.report_runless_asset_event(AssetMaterialization("pi_timeseries", partition=hours[1]))
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=at(11, 52)
        )
        assert result.get_requested_partitions(metrics) == {hours[1]}
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=at(11, 53)
        )
        assert result.get_requested_partitions(metrics) == set()


def test_a_fresh_install_loads_af_once_at_first_start_before_the_asset_metrics():
    """With the catalog loaded (the new-tag sensor does it at first start), the next tick loads both AF
    tables (in one run, elements first), once; pi_asset_metrics_hourly waits for them."""
    elements, attributes = AssetKey("pi_af_elements"), AssetKey("pi_af_attributes")
    hour = hour_key(at(9))
    with DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(AssetMaterialization("pi_tag_catalog"))
        for asset in ("pi_timeseries", "pi_metrics_hourly"):
            instance.report_runless_asset_event(AssetMaterialization(asset, partition=hour))
        result = evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at(11, 50))
        assert result.get_num_requested(elements) == result.get_num_requested(attributes) == 1
        assert result.get_requested_partitions(AssetKey("pi_asset_metrics_hourly")) == set()
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=at(11, 51)
        )
        assert result.get_num_requested(elements) == result.get_num_requested(attributes) == 0  # once
        assert result.get_requested_partitions(AssetKey("pi_asset_metrics_hourly")) == set()
        for asset in ("pi_af_elements", "pi_af_attributes"):
            instance.report_runless_asset_event(AssetMaterialization(asset))
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=at(11, 52)
        )
        assert result.get_num_requested(attributes) == result.get_num_requested(elements) == 0
        assert result.get_requested_partitions(AssetKey("pi_asset_metrics_hourly")) == {hour}


def test_the_daily_af_refresh_recomputes_no_hour_of_the_asset_metrics():
    """AF is refreshed every day: that must not rebuild every hour of ``pi_asset_metrics_hourly``'s history; a
    reloaded hour still rebuilds, with the refreshed tree."""
    hours = [hour_key(at(h) - timedelta(days=5)) for h in range(3)]
    asset_metrics = AssetKey("pi_asset_metrics_hourly")
    with DagsterInstance.ephemeral() as instance:
        for asset in ("pi_tag_catalog", "pi_af_elements", "pi_af_attributes"):
            instance.report_runless_asset_event(AssetMaterialization(asset))
        for asset in ("pi_timeseries", "pi_metrics_hourly", "pi_asset_metrics_hourly"):
            for partition in hours:
                instance.report_runless_asset_event(AssetMaterialization(asset, partition=partition))
        result = evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at(11, 50))
        for asset in ("pi_af_elements", "pi_af_attributes"):  # the daily refresh
            instance.report_runless_asset_event(AssetMaterialization(asset))
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=at(11, 51)
        )
        assert result.get_requested_partitions(asset_metrics) == set()
        instance.report_runless_asset_event(AssetMaterialization("pi_metrics_hourly", partition=hours[2]))
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=at(11, 52)
        )
        assert result.get_requested_partitions(asset_metrics) == {hours[2]}
