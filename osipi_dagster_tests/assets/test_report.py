"""``osipi_ingestion_report`` materialised in-process against the real mock: four valid PNGs next to the lakehouse,
the same images inline in the markdown metadata, and figures that agree with the tables and the mock; and when
automation refreshes it."""

from __future__ import annotations

import base64
import struct
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, AssetMaterialization, DagsterInstance, evaluate_automation_conditions, materialize

from mock_pi.universe import Universe
from osipi_dagster import charts
from osipi_dagster.assets import pi_event_frames, pi_event_frames_current, pi_tag_catalog, pi_timeseries
from osipi_dagster.assets.report import osipi_ingestion_report, report_folder
from osipi_dagster.definitions import defs
from osipi_dagster_tests.helpers import MOCK_CONFIG, MOCK_NOW, hour_key, load_af

HOURS = [hour_key(MOCK_NOW - timedelta(hours=h)) for h in (2, 1)]
DAY = (MOCK_NOW - timedelta(days=1)).strftime("%Y-%m-%d")
REPORT = AssetKey("osipi_ingestion_report")


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


@pytest.mark.integration
def test_report_renders_four_pngs_from_the_tables(mock_pi_url, tmp_path):
    root = tmp_path / "delta"
    with DagsterInstance.ephemeral() as instance:
        resources = load_af(mock_pi_url, root, instance)
        for key in HOURS:
            assert materialize(
                [pi_tag_catalog, pi_timeseries],
                selection=[pi_timeseries],
                partition_key=key,
                resources=resources,
                instance=instance,
            ).success
        assert materialize([pi_event_frames], partition_key=DAY, resources=resources, instance=instance).success
        assert materialize(
            [pi_event_frames, pi_event_frames_current],
            selection=[pi_event_frames_current],
            resources=resources,
            instance=instance,
        ).success
        result = materialize([osipi_ingestion_report], resources=resources, instance=instance)
        assert result.success
        metadata = result.asset_materializations_for_node("osipi_ingestion_report")[0].metadata

    folder = root / "reports"
    assert metadata["report_folder"].value == str(folder)
    size = (round(charts.WIDTH_INCHES * charts.DPI), round(charts.HEIGHT_INCHES * charts.DPI))
    markdown = metadata["report"].value
    for name in ("throughput", "sampling_intervals", "af_elements", "event_frames"):
        path = folder / f"{name}.png"
        assert metadata[f"{name}_png"].value == str(path)
        png = path.read_bytes()
        assert png_size(png) == size
        assert f"(data:image/png;base64,{base64.b64encode(png).decode()})" in markdown  # the same image, inline

    timeseries = pl.read_delta(str(root / "bronze" / "pi_timeseries"))
    assert metadata["hours_charted"].value == metadata["hours_with_load_speed"].value == len(HOURS)
    assert metadata["rows_charted"].value == timeseries.height > 0
    # Every tag sampled at least twice in the two hours has an interval (the 4-hourly string tags do not).
    sampled = timeseries.group_by("tag_webid").agg(pl.col("timestamp").n_unique()).filter(pl.col("timestamp") > 1)
    assert metadata["tags_with_intervals"].value == sampled.height > 0
    assert metadata["af_elements"].value == len(Universe(MOCK_CONFIG).elements)
    frames = pl.read_delta(str(root / "silver" / "pi_event_frames_current"))
    assert metadata["event_frames"].value == frames.height > 0


def test_report_is_built_once_values_exist_then_daily():
    with DagsterInstance.ephemeral() as instance:
        now = MOCK_NOW + timedelta(minutes=20)
        result = evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=now)
        assert result.get_num_requested(REPORT) == 0  # nothing to chart yet (AF's first load alone does not count)
        # The first hour of values lands: the first report is requested.
        instance.report_runless_asset_event(AssetMaterialization("pi_timeseries", partition=HOURS[0]))
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=now + timedelta(minutes=1)
        )
        assert result.get_num_requested(REPORT) == 1
        instance.report_runless_asset_event(AssetMaterialization("osipi_ingestion_report"))
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=now + timedelta(minutes=2)
        )
        assert result.get_num_requested(REPORT) == 0  # built: nothing pending
        # More hours load: no redraw until the daily tick (00:45 UTC).
        instance.report_runless_asset_event(AssetMaterialization("pi_timeseries", partition=HOURS[1]))
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=now + timedelta(minutes=3)
        )
        assert result.get_num_requested(REPORT) == 0
        next_day = MOCK_NOW.replace(hour=0, minute=46) + timedelta(days=1)
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor, evaluation_time=next_day
        )
        assert result.get_num_requested(REPORT) == 1


def test_charts_go_next_to_a_local_lakehouse_and_to_the_instance_for_object_storage(tmp_path):
    with DagsterInstance.ephemeral() as instance:
        assert report_folder(str(tmp_path / "delta"), instance) == tmp_path / "delta" / "reports"
        assert report_folder(f"file://{tmp_path}/delta", instance) == tmp_path / "delta" / "reports"
        in_instance = report_folder("s3://bucket/lake", instance)
        assert in_instance.parent == Path(instance.storage_directory())
