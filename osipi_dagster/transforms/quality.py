"""What the asset checks test, as plain functions over frames: each returns the offending rows (empty = pass)."""

from __future__ import annotations

import polars as pl


def duplicate_keys(frame: pl.LazyFrame, key: list[str]) -> pl.DataFrame:
    """Key values held by more than one row, with how many rows hold each."""
    return frame.group_by(key).agg(rows=pl.len()).filter(pl.col("rows") > 1).collect()


def count_mismatches(rows_per_tag: pl.DataFrame, pi_counts: pl.DataFrame, active: list[str]) -> pl.DataFrame:
    """Active tags whose rows in the table differ from PI's own count of the window's events.

    ``rows_per_tag``: ``tag_webid``, ``rows``; ``pi_counts``: ``tag_webid``, ``pi_count`` (null when PI
    could not count). A tag PI did not answer for, or counted as unknown, is a mismatch too: every active tag
    must be accounted for."""
    tags = pl.DataFrame({"tag_webid": active}, schema={"tag_webid": pl.String()})
    return (
        tags.join(rows_per_tag, on="tag_webid", how="left")
        .join(pi_counts, on="tag_webid", how="left")
        .with_columns(pl.col("rows").fill_null(0))
        .filter(pl.col("pi_count").is_null() | (pl.col("rows") != pl.col("pi_count")))
        .sort("tag_webid")
    )


def pi_counts(summaries: pl.DataFrame) -> pl.DataFrame:
    """``tag_webid``, ``pi_count`` from a one-interval ``Count`` summary (``pi.summaries.SUMMARY_SCHEMA``)."""
    return summaries.filter(pl.col("type") == "Count").select(
        "tag_webid", pi_count=pl.when(pl.col("good")).then(pl.col("value").round().cast(pl.Int64))
    )


def rows_per_tag_and_hour(frame: pl.LazyFrame) -> pl.DataFrame:
    """``tag_webid``, ``hour`` (the start of its UTC hour), ``rows``."""
    return (
        frame.group_by("tag_webid", hour=pl.col("timestamp").dt.truncate("1h"))
        .agg(rows=pl.len().cast(pl.Int64))
        .collect()
    )


def unresolved_share(attributes: pl.DataFrame) -> tuple[int, int]:
    """(PI Point attributes, those that read no catalogued tag)."""
    points = attributes.filter(pl.col("data_reference") == "PI Point")
    return points.height, points.filter(pl.col("tag_webid").is_null()).height


def gold_count_mismatches(metrics: pl.DataFrame, raw: pl.LazyFrame) -> pl.DataFrame:
    """Tag-hours whose ``count`` in ``pi_metrics_hourly`` differs from the raw rows of ``pi_timeseries``
    (a tag-hour present on one side only counts as 0 on the other)."""
    raw_counts = (
        raw.group_by("tag_webid", hour=pl.col("timestamp").dt.truncate("1h"))
        .agg(raw_rows=pl.len().cast(pl.Int64))
        .collect()
    )
    gold = metrics.select("tag_webid", "hour", gold_count=pl.col("count").cast(pl.Int64))
    return (
        gold.join(raw_counts, on=["tag_webid", "hour"], how="full", coalesce=True)
        .with_columns(pl.col("gold_count", "raw_rows").fill_null(0))
        .filter(pl.col("gold_count") != pl.col("raw_rows"))
        .sort("hour", "tag_webid")
    )
