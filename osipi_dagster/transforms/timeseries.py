"""Raw recorded values + tag catalog → the ``pi_timeseries`` table."""

from __future__ import annotations

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

    ``raw`` holds each stream's values in PI's order, which is what ``sequence`` numbers.
    """
    tags = catalog.select(
        pl.col("webid").alias("tag_webid"), pl.col("name").alias("tag_name"), pl.col("engineering_units").alias("units")
    )
    return (
        raw.with_columns(sequence=pl.int_range(pl.len(), dtype=pl.Int32).over(["tag_webid", "timestamp"]))
        .join(tags, on="tag_webid", how="left")
        .select([pl.col(c).cast(t) for c, t in TIMESERIES_SCHEMA.items()])
        .sort(["tag_name", "timestamp", "sequence"])
    )
