"""``osipi_ingestion_report``: four PNG charts of what was ingested, drawn from the tables themselves and shown in
the Dagster UI (markdown metadata with the images inline) and written next to the lakehouse."""

import base64
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetRecordsFilter,
    DagsterInstance,
    MaterializeResult,
    MetadataValue,
    asset,
)

from osipi_dagster import charts
from osipi_dagster.assets.af import pi_af_elements
from osipi_dagster.assets.event_frames import pi_event_frames_current
from osipi_dagster.assets.timeseries import pi_timeseries, rows_per_hour
from osipi_dagster.automation import daily_report_condition
from osipi_dagster.partitions import hourly_partitions
from osipi_dagster.resources.lakehouse import DeltaLakehouse
from osipi_dagster.resources.storage import object_store
from osipi_dagster.transforms import report

REPORT_HOURS = 7 * 24  # the throughput chart: the latest week of loaded hours
SAMPLING_HOURS = 24  # sampling intervals from the latest day of values (slow tags sample every few hours)
TITLES = {
    "throughput": "Throughput: values per hour partition and load speed",
    "sampling_intervals": "Sampling interval distribution",
    "af_elements": "AF elements per level and template",
    "event_frames": "Event frames per template and duration",
}


def report_folder(root_uri: str, instance: DagsterInstance) -> Path:
    """``<OSIPI_DELTA_ROOT>/reports`` for a local Delta root; for an object store, the Dagster instance's local
    storage (the charts are in the materialisation's metadata either way)."""
    if object_store(root_uri) == "local":
        return Path(urlparse(root_uri).path if root_uri.startswith("file://") else root_uri) / "reports"
    return Path(instance.storage_directory()) / "osipi_ingestion_report"


def hour_start(key: str) -> datetime:
    return hourly_partitions.time_window_for_partition_key(key).start


def latest_loaded_hours(instance: DagsterInstance, hours: int) -> list[str]:
    """The keys of the latest ``hours`` materialised ``pi_timeseries`` partitions (the loaded hours), oldest first."""
    return sorted(instance.get_materialized_partitions(pi_timeseries.key), key=hour_start)[-hours:]


def latest_load_facts(instance: DagsterInstance, keys: list[str]) -> dict[datetime, dict]:
    """Per hour, the load facts (``values_per_second``, ``seconds``, …) of the newest observation
    ``pi_timeseries`` logged for it after a load."""
    facts: dict[datetime, dict] = {}
    if not keys:
        return facts
    records = instance.fetch_observations(
        AssetRecordsFilter(asset_key=pi_timeseries.key, asset_partitions=keys), limit=10 * len(keys), ascending=False
    ).records
    for record in records:  # newest first: keep the first seen per hour
        observation = record.asset_observation
        metadata = {name: value.value for name, value in observation.metadata.items()}
        facts.setdefault(hour_start(observation.partition), metadata)
    return facts


def image_markdown(title: str, png: bytes) -> str:
    """Markdown with the PNG inline as a ``data:`` URI, which the Dagster UI's markdown metadata renders."""
    return f"### {title}\n\n![{title}](data:image/png;base64,{base64.b64encode(png).decode()})\n"


def render_report(lakehouse: DeltaLakehouse, instance: DagsterInstance) -> tuple[dict[str, bytes], dict]:
    """The four charts as PNG bytes, and facts about what they show."""
    keys = latest_loaded_hours(instance, REPORT_HOURS)
    timeseries = lakehouse.scan("bronze", "pi_timeseries")
    if keys and timeseries is not None:
        hours = [hour_start(key) for key in keys]
        end = hours[-1] + timedelta(hours=1)
        throughput = report.hourly_throughput(
            hours, rows_per_hour(timeseries, hours[0], end), latest_load_facts(instance, keys)
        )
        intervals = report.median_sampling_intervals(
            timeseries, max(hours[0], end - timedelta(hours=SAMPLING_HOURS)), end
        )
    else:
        throughput = report.hourly_throughput([], {}, {})
        intervals = pl.DataFrame(schema={"tag_webid": pl.String(), "median_interval_seconds": pl.Float64()})
    elements = lakehouse.scan("bronze", "pi_af_elements")
    per_level = report.elements_per_level(elements.collect()) if elements is not None else pl.DataFrame()
    frames = lakehouse.scan("silver", "pi_event_frames_current")
    frames = frames.collect() if frames is not None else None
    per_template = report.event_frames_per_template(frames) if frames is not None else pl.DataFrame()
    durations = report.event_frame_durations(frames) if frames is not None else pl.DataFrame()
    pngs = {
        "throughput": charts.throughput_chart(throughput),
        "sampling_intervals": charts.sampling_interval_chart(intervals),
        "af_elements": charts.af_elements_chart(per_level),
        "event_frames": charts.event_frames_chart(per_template, durations),
    }
    facts = {
        "hours_charted": throughput.height,
        "rows_charted": int(throughput["rows"].sum()),
        "hours_with_load_speed": int(throughput["values_per_second"].is_not_null().sum()),
        "tags_with_intervals": intervals.height,
        "af_elements": int(per_level["elements"].sum()) if not per_level.is_empty() else 0,
        "event_frames": int(per_template["frames"].sum()) if not per_template.is_empty() else 0,
    }
    return pngs, facts


@asset(
    group_name="report",
    kinds={"matplotlib", "polars"},
    deps=[pi_timeseries, pi_af_elements, pi_event_frames_current],
    automation_condition=daily_report_condition(),
)
def osipi_ingestion_report(context: AssetExecutionContext, lakehouse: DeltaLakehouse) -> MaterializeResult:
    """Four charts of the ingested data, from the tables: values per loaded hour with each hour's load speed (last
    week), the distribution of the tags' median sampling intervals (last day), AF elements per level and template,
    and event frames per template with their durations. PNGs in ``<OSIPI_DELTA_ROOT>/reports/`` (object-store
    roots: the Dagster instance's storage folder), and inline in this asset's ``report`` metadata."""
    pngs, facts = render_report(lakehouse, context.instance)
    folder = report_folder(lakehouse.root_uri, context.instance)
    folder.mkdir(parents=True, exist_ok=True)
    for name, png in pngs.items():
        partial = folder / f"{name}.png.partial"  # renamed when complete: a reader never sees half a file
        partial.write_bytes(png)
        partial.replace(folder / f"{name}.png")
    context.log.info(f"Wrote {len(pngs)} charts to {folder}")
    return MaterializeResult(
        metadata={
            "report": MetadataValue.md("\n".join(image_markdown(TITLES[name], png) for name, png in pngs.items())),
            "report_folder": MetadataValue.path(str(folder)),
            **{f"{name}_png": MetadataValue.path(str(folder / f"{name}.png")) for name in pngs},
            **facts,
        }
    )
