"""The data behind the ingestion report's four charts (``osipi_ingestion_report``), each a small frame computed
from the project's own tables: values per hour and load speed, sampling intervals per tag, AF elements per level
and template, event frames per template and their durations."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from osipi_dagster.pi.values import UTC_TIMESTAMP

NO_TEMPLATE = "(no template)"
THROUGHPUT_SCHEMA = {
    "hour": UTC_TIMESTAMP,
    "rows": pl.Int64(),  # the table's rows of the hour now
    "values_per_second": pl.Float64(),  # of the hour's latest load (null: no load facts recorded)
    "seconds": pl.Float64(),
}


def hourly_throughput(hours: list[datetime], rows: dict[datetime, int], loads: dict[datetime, dict]) -> pl.DataFrame:
    """One row per loaded hour: its rows in ``pi_timeseries`` and the speed of its latest load (``loads``: the
    load facts ``pi_timeseries`` records per hour, e.g. ``values_per_second``, ``seconds``)."""
    return pl.DataFrame(
        {
            "hour": hours,
            "rows": [rows.get(hour, 0) for hour in hours],
            "values_per_second": [loads.get(hour, {}).get("values_per_second") for hour in hours],
            "seconds": [loads.get(hour, {}).get("seconds") for hour in hours],
        },
        schema=THROUGHPUT_SCHEMA,
    )


def median_sampling_intervals(timeseries: pl.LazyFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """Per tag, the median time between consecutive distinct timestamps in ``[start, end)`` (several events at
    one timestamp count once): ``tag_webid``, ``tag_name``, ``intervals``, ``median_interval_seconds``. Tags with
    fewer than two timestamps in the window have no interval and are left out."""
    gaps = pl.col("timestamp").unique().sort().diff().drop_nulls()  # per tag, inside the aggregation
    return (
        timeseries.filter((pl.col("timestamp") >= start) & (pl.col("timestamp") < end))
        .group_by("tag_webid")
        .agg(
            pl.col("tag_name").first(),
            intervals=gaps.len(),
            median_interval_seconds=gaps.dt.total_microseconds().median() / 1e6,
        )
        .filter(pl.col("intervals") > 0)
        .sort("tag_webid")
        .collect(engine="streaming")
    )


def elements_per_level(elements: pl.DataFrame) -> pl.DataFrame:
    """AF elements per tree level (``depth``) and template, each element once (its primary path): ``depth``,
    ``template``, ``elements``."""
    return (
        elements.filter(pl.col("is_primary_path"))
        .group_by("depth", template=pl.col("template").fill_null(NO_TEMPLATE).replace("", NO_TEMPLATE))
        .agg(elements=pl.len())
        .sort("depth", "elements", "template", descending=[False, True, False])
    )


def event_frames_per_template(current: pl.DataFrame) -> pl.DataFrame:
    """Event frames (``pi_event_frames_current``, child frames included) per template: ``template``, ``frames``,
    ``open_frames``, ``median_duration_seconds`` (closed frames), most frequent first."""
    return (
        current.group_by(template=pl.col("template").fill_null(NO_TEMPLATE).replace("", NO_TEMPLATE))
        .agg(
            frames=pl.len(),
            open_frames=pl.col("is_open").sum().cast(pl.Int64),
            median_duration_seconds=pl.col("duration_seconds").filter(~pl.col("is_open")).median(),
        )
        .sort("frames", "template", descending=[True, False])
    )


def event_frame_durations(current: pl.DataFrame) -> pl.DataFrame:
    """``template`` and ``duration_seconds`` of every closed event frame (open ones have no duration yet)."""
    return current.filter(~pl.col("is_open") & pl.col("duration_seconds").is_not_null()).select(
        template=pl.col("template").fill_null(NO_TEMPLATE).replace("", NO_TEMPLATE), duration_seconds="duration_seconds"
    )
