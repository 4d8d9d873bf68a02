"""``pi_timeseries``: every recorded value, hourly partitions; a rerun replaces exactly its hours."""

from collections.abc import Iterator
from datetime import datetime, timedelta

import polars as pl
import pyarrow as pa
from dagster import AssetExecutionContext, BackfillPolicy, Backoff, Failure, Jitter, Output, RetryPolicy, asset

from osipi_dagster.automation import hourly_settle_condition
from osipi_dagster.partitions import hourly_partitions
from osipi_dagster.pi.batch_controller import BatchController
from osipi_dagster.pi.errors import PIWebAPIError
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.settings import get_settings
from osipi_dagster.transforms.timeseries import TIMESERIES_SCHEMA, timeseries_frame

ARROW_SCHEMA = pl.DataFrame(schema=TIMESERIES_SCHEMA).to_arrow().schema
# Run tag (space-separated WebIds) that limits a run to these tags: pi_new_tags_sensor loads new points' recent
# hours without reading or rewriting the other tags' rows.
ONLY_TAGS_RUN_TAG = "osipi/only_tags"


def only_tags(run_tags: dict[str, str]) -> set[str] | None:
    """The WebIds a run is limited to, or None: every active tag."""
    text = run_tags.get(ONLY_TAGS_RUN_TAG)
    return set(text.split()) if text is not None else None


def hour_windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Cut a (range-run) window into hours: PI requests stay sized for ~1 h of data per stream."""
    windows = []
    while start < end:
        windows.append((start, min(start + timedelta(hours=1), end)))
        start += timedelta(hours=1)
    return windows


# Rows converted and handed to the Delta writer at once: large enough that polars' and Arrow's fixed cost per
# call vanishes, small enough (~25 MB) that memory stays flat however many tags and hours a run reads.
ROWS_PER_BATCH = 250_000


def _gathered(frames: Iterator[pl.DataFrame], rows: int) -> Iterator[pl.DataFrame]:
    """Consecutive frames concatenated into frames of at least ``rows`` rows (the last one may be smaller)."""
    pending: list[pl.DataFrame] = []
    for frame in frames:
        pending.append(frame)
        if sum(f.height for f in pending) >= rows:
            yield pl.concat(pending)
            pending = []
    if pending:
        yield pl.concat(pending)


def timeseries_batches(
    controller: BatchController, tags: pl.DataFrame, windows: list[tuple[datetime, datetime]], log
) -> Iterator[pa.RecordBatch]:
    """Read, convert and hand on ``ROWS_PER_BATCH`` values at a time: a run holds a few batches in memory,
    not an hour (each batch holds whole streams, so its ``sequence`` numbers are final).

    A PI error that retrying cannot fix (credentials, certificate, a wrong URL or request) ends the run
    without the step retries meant for outages."""
    webids = tags["webid"].to_list()
    try:
        for number, (start, end) in enumerate(windows, 1):
            values = 0
            for raw in _gathered(controller.extract_chunks(webids, start, end), ROWS_PER_BATCH):
                frame = timeseries_frame(raw, tags)
                values += frame.height
                yield from frame.to_arrow().cast(ARROW_SCHEMA).to_batches()
            log.info(f"{start:%Y-%m-%d %H:%M} ({number}/{len(windows)}): {values:,} values")
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


# Hours per backfill run (OSIPI_BACKFILL_PARTITIONS_PER_RUN); 0 = the whole selected range in one run.
PARTITIONS_PER_RUN = get_settings().backfill_partitions_per_run


@asset(
    group_name="bronze",
    kinds={"polars", "deltalake"},
    partitions_def=hourly_partitions,
    # A backfill is split into runs of OSIPI_BACKFILL_PARTITIONS_PER_RUN hours (production: 24) that a launcher
    # can spread over workers: each commits on its own and a failure costs one chunk. 0 (the default) = one run
    # per range, which `dagster asset materialize --partition-range` requires. A run streams in batches.
    backfill_policy=BackfillPolicy.multi_run(PARTITIONS_PER_RUN) if PARTITIONS_PER_RUN else BackfillPolicy.single_run(),
    # A conflicting concurrent commit or a transient PI outage: run the step again.
    retry_policy=RetryPolicy(max_retries=2, delay=10, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS),
    metadata={"schema": "bronze", "partition_expr": "timestamp"},
    automation_condition=hourly_settle_condition(),
    pool="pi_web_api",
)
def pi_timeseries(
    context: AssetExecutionContext, pi: PIWebAPIResource, pi_tag_catalog: pl.DataFrame
) -> Output[pa.RecordBatchReader]:
    """One row per recorded value of every active tag in the partition's hour(s): tag webid and name,
    UTC timestamp, numeric value, original text for strings/digital states, PI quality flags, units.

    The window's rows are replaced as one Delta commit, complete or not at all: a tag that cannot be
    read fails the run, naming the tag. Rows of points since removed from PI are kept (they can no
    longer be read, and their history stays). A run tagged ``osipi/only_tags`` (new points found by
    ``pi_new_tags_sensor``) reads and replaces only those tags' rows of the window.
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
    only = only_tags(context.run.tags)
    if only is None:
        removed = pi_tag_catalog.filter(~pl.col("is_active"))["webid"].to_list()
        scope = {"delta_keep_rows": {"column": "tag_webid", "values": removed}}
        context.log.info(
            f"Loading {len(windows)} hour(s) of {active.height:,} tags ({len(removed)} removed tags' history kept)"
        )
    else:
        active = active.filter(pl.col("webid").is_in(only))
        scope = {"delta_replace_rows": {"column": "tag_webid", "values": active["webid"].to_list()}}
        context.log.info(
            f"Loading {len(windows)} hour(s) of only {active.height:,} tags (run tag {ONLY_TAGS_RUN_TAG}, "
            f"{len(only):,} listed); other tags' rows stay as they are"
        )
    batches = timeseries_batches(pi.batch_controller(progress=context.log.debug), active, windows, context.log)
    return Output(
        pa.RecordBatchReader.from_batches(ARROW_SCHEMA, batches),
        metadata={
            "tags": active.height,
            "hours": len(windows),
            **scope,
        },
    )
