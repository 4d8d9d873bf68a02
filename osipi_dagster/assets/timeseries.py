"""``pi_timeseries``: every recorded value, hourly partitions; a rerun replaces exactly its hours."""

import time
from datetime import datetime, timedelta

import polars as pl
from dagster import AssetExecutionContext, BackfillPolicy, asset

from osipi_dagster.partitions import hourly_partitions
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.transforms.timeseries import timeseries_frame


def hour_windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Cut a (range-run) window into hours: PI requests stay sized for ~1 h of data per stream."""
    windows = []
    while start < end:
        windows.append((start, min(start + timedelta(hours=1), end)))
        start += timedelta(hours=1)
    return windows


@asset(
    group_name="bronze",
    kinds={"polars", "deltalake"},
    partitions_def=hourly_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    metadata={"schema": "bronze", "partition_expr": "timestamp"},
    pool="pi_web_api",
)
def pi_timeseries(context: AssetExecutionContext, pi: PIWebAPIResource, pi_tag_catalog: pl.DataFrame) -> pl.DataFrame:
    """One row per recorded value of every catalogued tag in the partition's hour(s): tag webid and
    name, UTC timestamp, numeric value, original text for strings/digital states, PI quality flags,
    units. Complete or failed — a tag that cannot be read fails the run, naming the tag."""
    window = context.partition_time_window
    extractor = pi.extractor(progress=context.log.info)
    webids = pi_tag_catalog["webid"].to_list()
    began = time.perf_counter()
    raw = pl.concat([extractor.extract(webids, start, end) for start, end in hour_windows(window.start, window.end)])
    frame = timeseries_frame(raw, pi_tag_catalog)
    seconds = time.perf_counter() - began
    stats = extractor.stats
    context.add_output_metadata({
        "dagster/row_count": frame.height,
        "tags": len(webids),
        "tags_with_values": frame["tag_webid"].n_unique(),
        "pi_requests": pi.client.stats.requests,
        "pi_retries": pi.client.stats.retries,
        "paged_streams": stats.paged_streams,
        "retried_streams": stats.retried_streams,
        "extract_seconds": round(seconds, 3),
        "values_per_second": round(frame.height / seconds) if seconds else 0,
    })
    return frame
