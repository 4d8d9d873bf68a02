"""``pi_timeseries``: every recorded value, hourly partitions; a rerun replaces exactly its hours."""

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import polars as pl
import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    AssetObservation,
    BackfillPolicy,
    Backoff,
    Failure,
    Jitter,
    Output,
    RetryPolicy,
    asset,
)

from osipi_dagster.assets.columns import table_metadata
from osipi_dagster.automation import hourly_settle_condition
from osipi_dagster.partitions import hourly_partitions
from osipi_dagster.pi.batch_controller import BatchController
from osipi_dagster.pi.errors import PIWebAPIError
from osipi_dagster.resources.delta_io_manager import KEEP_ROWS_SCHEMA_KEY
from osipi_dagster.resources.lakehouse import DeltaLakehouse
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.settings import get_settings
from osipi_dagster.transforms.timeseries import TIMESERIES_SCHEMA, timeseries_frame

ARROW_SCHEMA = pl.DataFrame(schema=TIMESERIES_SCHEMA).to_arrow().schema


def hour_windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Cut a (range-run) window into hours: PI requests stay sized for ~1 h of data per stream."""
    windows = []
    while start < end:
        windows.append((start, min(start + timedelta(hours=1), end)))
        start += timedelta(hours=1)
    return windows


def hour_facts(frame: pl.DataFrame, controller: BatchController, before: dict, began: float) -> dict:
    """What loading one hour took and gave, as numbers worth plotting per partition.

    ``before`` is :func:`load_counters` taken just before the hour was read."""
    now = load_counters(controller)
    seconds = time.perf_counter() - began
    return {
        "dagster/partition_row_count": frame.height,
        "tags_with_values": frame["tag_webid"].n_unique(),
        "share_good": round(frame["good"].mean(), 4) if frame.height else 0.0,
        "pi_requests": now["requests"] - before["requests"],
        "megabytes_received": round((now["bytes"] - before["bytes"]) / 1e6, 3),
        "request_retries": now["retries"] - before["retries"],
        "paged_streams": now["paged"] - before["paged"],
        "seconds": round(seconds, 3),
        "values_per_second": round(frame.height / seconds) if seconds > 0 else 0,
    }


def load_counters(controller: BatchController) -> dict:
    client = controller.client.stats
    return {
        "requests": client.requests,
        "bytes": client.bytes_received,
        "retries": client.retries,
        "paged": controller.stats.paged_streams,
    }


def timeseries_batches(
    controller: BatchController,
    tags: pl.DataFrame,
    windows: list[tuple[datetime, datetime]],
    log,
    loaded: list[dict] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Read and convert one hour at a time, so a 90-day range run holds one hour in memory.

    Appends each hour's :func:`hour_facts` to ``loaded`` once the hour is read. A PI error that retrying
    cannot fix (credentials, certificate, a wrong URL or request) ends the run without the step retries
    meant for outages."""
    webids = tags["webid"].to_list()
    try:
        for number, (start, end) in enumerate(windows, 1):
            before, began = load_counters(controller), time.perf_counter()
            frame = timeseries_frame(controller.extract(webids, start, end), tags)
            if loaded is not None:
                loaded.append(hour_facts(frame, controller, before, began))
            log.info(f"{start:%Y-%m-%d %H:%M} ({number}/{len(windows)}): {frame.height:,} values")
            yield from frame.to_arrow().cast(ARROW_SCHEMA).to_batches()
    except PIWebAPIError as error:
        if error.transient:
            raise
        raise Failure(description=str(error), allow_retries=False) from error
    stats = controller.stats
    log.info(
        f"Read {stats.rows:,} values of {len(webids):,} tags in {stats.seconds:.1f}s with "
        f"{controller.client.stats.requests:,} requests ({stats.paged_streams} streams paged, "
        f"{stats.retried_streams} retried alone, {controller.client.stats.retries} request retries)"
    )


def rows_per_hour(table: pl.LazyFrame | None, start: datetime, end: datetime) -> dict[datetime, int]:
    """Rows the table holds per hour of ``[start, end)`` before this load replaces them (one scan)."""
    if table is None:
        return {}
    counts = (
        table.filter((pl.col("timestamp") >= start) & (pl.col("timestamp") < end))
        .group_by(hour=pl.col("timestamp").dt.truncate("1h"))
        .agg(rows=pl.len())
        .collect()
    )
    return dict(zip(counts["hour"], counts["rows"]))


def keep_rows_schema(tag_webids: list[str]) -> pa.Schema:
    """The stream's schema, telling the IO manager to leave these tags' rows of the window alone.

    Carried by the stream rather than by output metadata, which Dagster records on every materialisation."""
    if not tag_webids:
        return ARROW_SCHEMA
    keep = {"column": "tag_webid", "values": tag_webids}
    return ARROW_SCHEMA.with_metadata({KEEP_ROWS_SCHEMA_KEY: json.dumps(keep)})


# Hours per backfill run (OSIPI_BACKFILL_PARTITIONS_PER_RUN); 0 = the whole selected range in one run.
PARTITIONS_PER_RUN = get_settings().backfill_partitions_per_run


@asset(
    group_name="bronze",
    kinds={"polars", "deltalake"},
    partitions_def=hourly_partitions,
    # A backfill is split into runs of OSIPI_BACKFILL_PARTITIONS_PER_RUN hours (production: 24) that a launcher
    # can spread over workers: each commits on its own and a failure costs one chunk. 0 (the default) = one run
    # per range, which `dagster asset materialize --partition-range` requires. A run streams hour by hour.
    backfill_policy=BackfillPolicy.multi_run(PARTITIONS_PER_RUN) if PARTITIONS_PER_RUN else BackfillPolicy.single_run(),
    # A conflicting concurrent commit or a transient PI outage: run the step again.
    retry_policy=RetryPolicy(max_retries=2, delay=10, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS),
    metadata=table_metadata("bronze", "pi_timeseries", partition_expr="timestamp"),
    automation_condition=hourly_settle_condition(),
    pool="pi_web_api",
)
def pi_timeseries(
    context: AssetExecutionContext, pi: PIWebAPIResource, lakehouse: DeltaLakehouse, pi_tag_catalog: pl.DataFrame
) -> Iterator[Output[pa.RecordBatchReader] | AssetObservation]:
    """One row per recorded value of every active tag in the partition's hour(s): tag webid and name,
    UTC timestamp, numeric value, original text for strings/digital states, PI quality flags, units.

    The window's rows are replaced as one Delta commit, complete or not at all: a tag that cannot be
    read fails the run, naming the tag. Rows of points since removed from PI are kept (they can no
    longer be read, and their history stays).

    A range run's materialisation cannot carry per-partition figures (Dagster copies it onto every partition
    of the range), so after the commit each hour gets an observation with its own row count and load facts.
    """
    window = context.partition_time_window
    if window.start >= window.end:
        raise Failure(
            description=f"The partition range {context.partition_key_range.start}..."
            f"{context.partition_key_range.end} is reversed: give the earlier hour first.",
            allow_retries=False,
        )
    windows = hour_windows(window.start, window.end)
    active = pi_tag_catalog.filter(pl.col("is_active"))
    removed = pi_tag_catalog.filter(~pl.col("is_active"))["webid"].to_list()
    context.log.info(
        f"Loading {len(windows)} hour(s) of {active.height:,} tags ({len(removed)} removed tags' history kept)"
    )
    loaded: list[dict] = []
    previous = rows_per_hour(lakehouse.scan("bronze", "pi_timeseries"), window.start, window.end)
    batches = timeseries_batches(pi.batch_controller(progress=context.log.debug), active, windows, context.log, loaded)
    # The IO manager writes the stream when this output is yielded; the observations follow the commit.
    yield Output(
        pa.RecordBatchReader.from_batches(keep_rows_schema(removed), batches), metadata={"tags": active.height}
    )
    for key, (start, _), facts in zip(context.partition_keys, windows, loaded, strict=True):
        # Late data made visible: how many rows this load added (or removed) against the previous one.
        changed = facts["dagster/partition_row_count"] - previous.get(start, 0)
        metadata = {**facts, "tags": active.height, "rows_changed_since_previous_load": changed}
        yield AssetObservation(asset_key=context.asset_key, partition=key, metadata=metadata)
