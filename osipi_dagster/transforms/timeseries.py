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
    blocks are put in name order and ``sequence`` counts along runs of equal timestamps, with no join, group-by
    or row sort; other input takes the general path, which gives the same table.
    """
    blocks = _stream_blocks(raw)
    if blocks is None:
        return _general_timeseries_frame(raw, catalog)
    starts, lengths = blocks
    webids = raw["tag_webid"].gather(starts).to_list()
    names = dict(zip(catalog["webid"].to_list(), catalog["name"].to_list()))
    units = dict(zip(catalog["webid"].to_list(), catalog["engineering_units"].to_list()))

    def name_order(block: int) -> tuple:  # no catalog name first, as a sort puts nulls first; same names by WebId
        name = names.get(webids[block])
        return name is not None, name or "", webids[block]

    order = np.array(sorted(range(len(webids)), key=name_order), dtype=np.int64)
    ordered_lengths = lengths[order]
    # Row k of the output is row ``k + (start of its block - where the block lands)`` of ``raw``.
    landing = np.cumsum(ordered_lengths) - ordered_lengths
    index = np.arange(raw.height, dtype=np.int64) + np.repeat(starts[order] - landing, ordered_lengths)
    block_of_row = np.repeat(np.arange(len(order), dtype=np.uint32), ordered_lengths)
    ordered_webids = [webids[b] for b in order]
    sequence = _sequence_in_blocks(raw["timestamp"].to_physical().to_numpy(), starts)
    in_order = bool((order == np.arange(len(order))).all())
    frame = raw if in_order else raw[index]
    return frame.with_columns(
        tag_name=pl.Series([names.get(w) for w in ordered_webids], dtype=pl.String).gather(block_of_row),
        sequence=pl.Series(sequence if in_order else sequence[index], dtype=pl.Int32),
        units=pl.Series([units.get(w) for w in ordered_webids], dtype=pl.String).gather(block_of_row),
    ).select([pl.col(c).cast(t) for c, t in TIMESERIES_SCHEMA.items()])


def _stream_blocks(raw: pl.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """Start and length of each stream's rows if every stream is one block with non-decreasing timestamps
    (how PI returns recorded values), else None."""
    if raw.height == 0 or raw["timestamp"].null_count():
        return None
    webid = raw["tag_webid"]
    starts = webid.ne_missing(webid.shift(1)).arg_true().to_numpy().astype(np.int64)
    if len(starts) != webid.n_unique():  # a stream in several blocks
        return None
    timestamps = raw["timestamp"].to_physical().to_numpy()
    backwards = np.flatnonzero(np.diff(timestamps) < 0) + 1  # rows earlier than the row before them
    if len(backwards) and not np.isin(backwards, starts).all():
        return None
    return starts, np.diff(np.append(starts, raw.height))


def _sequence_in_blocks(timestamps: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """0, 1, … along each run of equal timestamps inside a block (a new block starts a new run)."""
    rows = np.arange(len(timestamps), dtype=np.int64)
    run_start = np.ones(len(timestamps), dtype=bool)
    run_start[1:] = timestamps[1:] != timestamps[:-1]
    run_start[starts] = True
    return (rows - np.maximum.accumulate(np.where(run_start, rows, 0))).astype(np.int32)


def _general_timeseries_frame(raw: pl.DataFrame, catalog: pl.DataFrame) -> pl.DataFrame:
    """Any raw frame (streams in pieces, out of time order, null timestamps): a join, a group-by and a sort."""
    tags = catalog.select(
        pl.col("webid").alias("tag_webid"), pl.col("name").alias("tag_name"), pl.col("engineering_units").alias("units")
    )
    return (
        raw.with_columns(sequence=pl.int_range(pl.len(), dtype=pl.Int32).over(["tag_webid", "timestamp"]))
        .join(tags, on="tag_webid", how="left")
        .select([pl.col(c).cast(t) for c, t in TIMESERIES_SCHEMA.items()])
        .sort(["tag_name", "timestamp", "sequence"])
    )
