"""``pi_event_frames`` (daily windows, re-read while frames are open) and ``pi_event_frames_current``
(one row per frame, its latest state): batches, alarms, downtime and maintenance from PI AF."""

import time
from datetime import UTC, datetime

import polars as pl
from dagster import AssetExecutionContext, BackfillPolicy, asset

from osipi_dagster.assets.af import pi_load_metadata, search_page_size
from osipi_dagster.assets.columns import table_metadata
from osipi_dagster.automation import current_view_condition, daily_settle_condition
from osipi_dagster.partitions import daily_partitions
from osipi_dagster.pi import af
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.transforms.event_frames import current_event_frames, event_frames_frame


@asset(
    group_name="bronze",
    kinds={"polars", "deltalake"},
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    metadata=table_metadata("bronze", "pi_event_frames", partition_expr="day"),
    automation_condition=daily_settle_condition(),
    pool="pi_web_api",
)
def pi_event_frames(context: AssetExecutionContext, pi: PIWebAPIResource) -> pl.DataFrame:
    """Every event frame (child frames included) overlapping each UTC day of the partition(s): one row per
    frame and day, so a frame spanning three days is in three partitions (``pi_event_frames_current``
    holds each frame once). ``end`` is null and ``is_open`` true while a frame is open; the
    ``pi_open_event_frames_sensor`` re-reads such days until their frames close. ``attributes`` holds the
    frame's attribute values (list of structs) in the frame's time context."""
    window = context.partition_time_window
    client, began = pi.client, time.perf_counter()
    loaded_at = datetime.now(UTC)
    frames, values = [], {}
    for database in af.asset_databases(client, pi.af_databases):
        found = af.event_frames(client, database["WebId"], window.start, window.end, search_page_size(pi))
        values |= af.event_frame_values(
            client,
            [f["WebId"] for f in found],
            per_batch=pi.streams_per_request,
            concurrency=pi.max_concurrent_requests,
        )
        frames += found
    frame = event_frames_frame(frames, values, window.start, window.end, loaded_at)
    context.add_output_metadata(
        pi_load_metadata(
            frame,
            client,
            began,
            frames=frame["webid"].n_unique(),
            open_frames=frame.filter(pl.col("is_open"))["webid"].n_unique(),
        )
    )
    return frame


@asset(
    group_name="silver",
    kinds={"polars", "deltalake"},
    metadata=table_metadata("silver", "pi_event_frames_current"),
    automation_condition=current_view_condition(),
)
def pi_event_frames_current(context: AssetExecutionContext, pi_event_frames: pl.DataFrame) -> pl.DataFrame:
    """One row per event frame (key: ``webid``) in the state of its most recent load, with the first and
    last day it appears in: the table to count, join or chart frames without multi-day duplicates."""
    frame = current_event_frames(pi_event_frames)
    context.add_output_metadata(
        {
            "dagster/row_count": frame.height,
            "open_frames": frame.filter(pl.col("is_open")).height,
        }
    )
    return frame
