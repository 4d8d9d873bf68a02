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
from osipi_dagster.automation import hourly_freshness_policy, hourly_settle_condition
from osipi_dagster.partitions import hourly_partitions
from osipi_dagster.pi.batch_controller import BatchController
from osipi_dagster.pi.errors import PIWebAPIError
from osipi_dagster.resources.delta_io_manager import ROW_SCOPE_SCHEMA_KEY
from osipi_dagster.resources.lakehouse import DeltaLakehouse
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
    """Cut a (range-run) window into its hours: the partitions whose facts a run reports one by one."""
    windows = []
    while start < end:
        windows.append((start, min(start + timedelta(hours=1), end)))
        start += timedelta(hours=1)
    return windows


# Rows converted and handed to the Delta writer at once: large enough that polars' and Arrow's fixed cost per
# call vanishes, small enough (~10 MB) that memory stays flat however many tags and hours a run reads (100,000
# rather than 250,000 cut the 30,000-tag benchmark's peak RSS by ~40 MB at no measurable CPU cost).
ROWS_PER_BATCH = 100_000


def _gathered(frames: Iterator[pl.DataFrame], rows: int, position: dict[str, int]) -> Iterator[pl.DataFrame]:
    """Consecutive frames concatenated into frames of at least ``rows`` rows (the last one may be smaller).

    Requests complete in any order: a batch's frames are put back in the order of their first tag's
    ``position`` (the catalog's name order), so that its streams come already sorted to the transform."""
    pending: list[pl.DataFrame] = []
    for frame in frames:
        pending.append(frame)
        if sum(f.height for f in pending) >= rows:
            yield _concat_in_order(pending, position)
            pending = []
    if pending:
        yield _concat_in_order(pending, position)


def _concat_in_order(frames: list[pl.DataFrame], position: dict[str, int]) -> pl.DataFrame:
    return pl.concat(sorted(frames, key=lambda frame: position.get(frame["tag_webid"][0], -1)))


class HourTally:
    """Values, Good values and tags with values per hour of the frames read in one span. A frame holds whole
    streams of the span, so a tag is counted in one frame only and per-frame distinct counts add up."""

    def __init__(self) -> None:
        self.values: dict[datetime, int] = {}
        self.good: dict[datetime, int] = {}
        self.tags: dict[datetime, int] = {}

    def add(self, frame: pl.DataFrame) -> None:
        per_hour = frame.group_by(hour=pl.col("timestamp").dt.truncate("1h")).agg(
            values=pl.len(), good=pl.col("good").sum(), tags=pl.col("tag_webid").n_unique()
        )
        for hour, values, good, tags in per_hour.iter_rows():
            self.values[hour] = self.values.get(hour, 0) + values
            self.good[hour] = self.good.get(hour, 0) + good
            self.tags[hour] = self.tags.get(hour, 0) + tags


def span_facts(
    hours: list[datetime], tally: HourTally, controller: BatchController, before: dict, began: float
) -> list[dict]:
    """What loading each hour of a span (hours read with the same requests) took and gave, as numbers worth
    plotting per partition. Values, Good share and tags are the hour's own. PI requests, bytes, retries,
    paged streams and seconds belong to requests that read the whole span: each hour gets a share of them in
    proportion to its values (equal shares if the span had none), so the hours of a run add up to the run's
    totals; ``values_per_second`` is the span's rate; ``hours_per_request`` says how many hours shared.
    ``before`` is :func:`load_counters` taken just before the span was read."""
    now = load_counters(controller)
    seconds = time.perf_counter() - began
    total = sum(tally.values.get(hour, 0) for hour in hours)
    facts = []
    for hour in hours:
        values, good = tally.values.get(hour, 0), tally.good.get(hour, 0)
        share = values / total if total else 1 / len(hours)
        facts.append(
            {
                "values_read": values,
                "tags_with_values": tally.tags.get(hour, 0),
                "share_good": round(good / values, 4) if values else 0.0,
                "pi_requests": round((now["requests"] - before["requests"]) * share, 3),
                "megabytes_received": round((now["bytes"] - before["bytes"]) / 1e6 * share, 3),
                "request_retries": round((now["retries"] - before["retries"]) * share, 3),
                "paged_streams": round((now["paged"] - before["paged"]) * share, 3),
                "seconds": round(seconds * share, 3),
                "values_per_second": round(total / seconds) if seconds > 0 else 0,
                "hours_per_request": len(hours),
            }
        )
    return facts


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
    """Read, convert and hand on ``ROWS_PER_BATCH`` values at a time: a run holds a few batches in memory,
    not an hour (each batch holds whole streams, so its ``sequence`` numbers are final).

    The hours (``windows``) are read in spans of several hours where the server's limits allow: the first
    hour alone, then as many hours per request as :meth:`BatchController.span_hours` plans from the values
    each tag returned in the previous span. Appends each hour's :func:`span_facts` to ``loaded`` once its
    span is read. A PI error that retrying cannot fix (credentials, certificate, a wrong URL or request) ends
    the run without the step retries meant for outages."""
    webids = tags["webid"].to_list()
    position = {webid: number for number, webid in enumerate(webids)}
    try:
        done = 0
        while done < len(windows):
            span = windows[done : done + controller.span_hours(webids, len(windows) - done)]
            start, end = span[0][0], span[-1][1]
            before, began, tally = load_counters(controller), time.perf_counter(), HourTally()
            for raw in _gathered(controller.extract_chunks(webids, start, end), ROWS_PER_BATCH, position):
                frame = timeseries_frame(raw, tags)
                tally.add(frame)
                yield from frame.to_arrow().cast(ARROW_SCHEMA).to_batches()
            if loaded is not None:
                loaded.extend(span_facts([hour for hour, _ in span], tally, controller, before, began))
            done += len(span)
            values = sum(tally.values.values())
            log.info(f"{start:%Y-%m-%d %H:%M} + {len(span)} h ({done}/{len(windows)} hours): {values:,} values")
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


def row_scope_schema(scope: dict) -> pa.Schema:
    """The stream's schema carrying its row scope (``delta_keep_rows`` / ``delta_replace_rows``, see the IO
    manager), which Dagster does not record, unlike output metadata."""
    return ARROW_SCHEMA.with_metadata({ROW_SCOPE_SCHEMA_KEY: json.dumps(scope)})


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
    metadata=table_metadata("bronze", "pi_timeseries", partition_expr="timestamp"),
    automation_condition=hourly_settle_condition(),
    freshness_policy=hourly_freshness_policy(),
    pool="pi_web_api",
)
def pi_timeseries(
    context: AssetExecutionContext, pi: PIWebAPIResource, lakehouse: DeltaLakehouse, pi_tag_catalog: pl.DataFrame
) -> Iterator[Output[pa.RecordBatchReader] | AssetObservation]:
    """One row per recorded value of every active tag in the partition's hour(s): tag webid and name,
    UTC timestamp, numeric value, original text for strings/digital states, PI quality flags, units.

    The window's rows are replaced as one Delta commit, complete or not at all: a tag that cannot be
    read fails the run, naming the tag. Rows of points since removed from PI are kept (they can no
    longer be read, and their history stays). A run tagged ``osipi/only_tags`` (new points found by
    ``pi_new_tags_sensor``) reads and replaces only those tags' rows of the window.

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
    loaded: list[dict] = []
    before = rows_per_hour(lakehouse.scan("bronze", "pi_timeseries"), window.start, window.end)
    batches = timeseries_batches(pi.batch_controller(progress=context.log.debug), active, windows, context.log, loaded)
    # The IO manager writes the stream when this output is yielded; the observations follow the commit. The
    # row scope travels in the stream's schema: output metadata would record every WebId on the materialisation.
    yield Output(pa.RecordBatchReader.from_batches(row_scope_schema(scope), batches), metadata={"tags": active.height})
    # Each hour's rows in the table after the commit. A window that held no rows before now holds exactly the rows
    # written; otherwise they are counted (true also when a run replaced some tags' rows only, or kept some).
    if before:
        after = rows_per_hour(lakehouse.scan("bronze", "pi_timeseries"), window.start, window.end)
    else:
        after = {start: facts["values_read"] for (start, _), facts in zip(windows, loaded, strict=True)}
    for key, (start, _), facts in zip(context.partition_keys, windows, loaded, strict=True):
        rows = after.get(start, 0)
        metadata = {
            "dagster/partition_row_count": rows,
            **facts,
            "tags": active.height,
            # Late data made visible: how many rows this load added (or removed) against the previous one.
            "rows_changed_since_previous_load": rows - before.get(start, 0),
        }
        yield AssetObservation(asset_key=context.asset_key, partition=key, metadata=metadata)
