"""Raw recorded values + tag catalog → the ``pi_timeseries`` table."""

from __future__ import annotations

import numpy as np
import polars as pl

from osipi_dagster.pi.values import UTC_TIMESTAMP

TIMESERIES_SCHEMA = {
    "tag_webid": pl.String(),
    "tag_name": pl.String(),
    "timestamp": UTC_TIMESTAMP,
    "sequence": pl.Int32(),  # 0, 1, … for several events of one tag at one timestamp (PI allows it)
    "value": pl.Float64(),
    "value_text": pl.String(),
    "good": pl.Boolean(),
    "questionable": pl.Boolean(),
    "substituted": pl.Boolean(),
    "annotated": pl.Boolean(),
    "units": pl.String(),
}
KEY = ["tag_webid", "timestamp", "sequence"]


def timeseries_frame(raw: pl.DataFrame, catalog: pl.DataFrame) -> pl.DataFrame:
    """Name and units from the catalog, an event ordinal per (tag, timestamp), sorted by tag and time.

    ``raw`` holds each stream's values in PI's order, which is what ``sequence`` numbers. As the batch
    controller hands them on (each stream one block of rows in time order) the work is done per stream:
    blocks are joined with the catalog and put in name order, and ``sequence`` counts along runs of equal
    timestamps, with no row-level join, group-by or sort; other input takes the general path (same table).
    """
    starts = _stream_starts(raw)
    if starts is None:
        return _general_timeseries_frame(raw, catalog)
    blocks = (
        pl.DataFrame(
            {"tag_webid": raw["tag_webid"][starts], "start": starts, "rows": np.diff(starts, append=raw.height)}
        )
        .join(_tags(catalog), on="tag_webid", how="left", maintain_order="left")
        .sort(["tag_name", "tag_webid"], nulls_last=False)  # as the general path's row sort (a stable order)
    )
    if blocks["tag_webid"].is_duplicated().any():  # a stream in several blocks
        return _general_timeseries_frame(raw, catalog)
    rows = blocks["rows"].to_numpy()
    block_of_row = np.repeat(np.arange(blocks.height, dtype=np.uint32), rows)
    sequence = _sequence_in_blocks(raw["timestamp"].to_physical().to_numpy(), starts)
    if not np.array_equal(blocks["start"].to_numpy(), starts):  # blocks move: gather their rows in the new order
        # Row k of the output is row ``k + (start of its block - where the block lands)`` of ``raw``.
        landing = np.cumsum(rows) - rows
        index = np.arange(raw.height, dtype=np.int64) + np.repeat(blocks["start"].to_numpy() - landing, rows)
        raw, sequence = raw[index], sequence[index]
    return raw.with_columns(
        tag_name=blocks["tag_name"][block_of_row],
        sequence=pl.Series(sequence, dtype=pl.Int32),
        units=blocks["units"][block_of_row],
    ).select([pl.col(c).cast(t) for c, t in TIMESERIES_SCHEMA.items()])


def _tags(catalog: pl.DataFrame) -> pl.DataFrame:
    return catalog.select(
        pl.col("webid").alias("tag_webid"), pl.col("name").alias("tag_name"), pl.col("engineering_units").alias("units")
    )


def _stream_starts(raw: pl.DataFrame) -> np.ndarray | None:
    """The first row of each block of one stream's rows, if every block's timestamps never go back in time
    (how PI returns recorded values), else None."""
    if raw.height == 0 or raw["timestamp"].null_count():
        return None
    webid = raw["tag_webid"]
    starts = webid.ne_missing(webid.shift(1)).arg_true().to_numpy().astype(np.int64)
    # rows stamped earlier than the row before them: only allowed where a new stream begins
    backwards = np.flatnonzero(np.diff(raw["timestamp"].to_physical().to_numpy()) < 0) + 1
    if len(backwards) and not np.isin(backwards, starts).all():
        return None
    return starts


def _sequence_in_blocks(timestamps: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """0, 1, … along each run of equal timestamps inside a block (a new block starts a new run)."""
    rows = np.arange(len(timestamps), dtype=np.int64)
    run_start = np.ones(len(timestamps), dtype=bool)
    run_start[1:] = timestamps[1:] != timestamps[:-1]
    run_start[starts] = True
    return (rows - np.maximum.accumulate(np.where(run_start, rows, 0))).astype(np.int32)


def _general_timeseries_frame(raw: pl.DataFrame, catalog: pl.DataFrame) -> pl.DataFrame:
    """Any raw frame (streams in pieces, out of time order, null timestamps): a join, a group-by and a sort."""
    return (
        raw.with_columns(sequence=pl.int_range(pl.len(), dtype=pl.Int32).over(["tag_webid", "timestamp"]))
        .join(_tags(catalog), on="tag_webid", how="left")
        .select([pl.col(c).cast(t) for c, t in TIMESERIES_SCHEMA.items()])
        .sort(["tag_name", "timestamp", "sequence"])
    )
