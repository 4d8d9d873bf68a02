"""``pi_timeseries`` rows → hourly metrics per tag (``pi_metrics_hourly``) and the same metrics placed in the
AF hierarchy (``pi_asset_metrics_hourly``).

Conventions (the tests compute the same independently):

* ``count`` counts every event of the hour (bad ones and strings too); ``share_good`` = good / count.
* ``min``/``max``/``mean``/``stddev`` (sample, n-1)/``first``/``last`` use the *usable* events only: good
  and with a numeric ``value`` (digital states count with their state code; strings and system states
  do not).
* ``time_weighted_mean`` is a step (sample-and-hold) average: each usable value holds from its timestamp
  until the tag's next event of any quality in the same hour, the hour's last event until the end of the
  hour; spans of bad events do not count, nor does the time before the hour's first event (the previous
  hour's value is in another partition). Null when no usable value held for a positive time.
"""

from __future__ import annotations

import polars as pl

UTC = pl.Datetime("us", "UTC")
METRIC_COLUMNS = {
    "count": pl.UInt32(), "good_count": pl.UInt32(), "share_good": pl.Float64(),
    "min": pl.Float64(), "max": pl.Float64(), "mean": pl.Float64(), "time_weighted_mean": pl.Float64(),
    "stddev": pl.Float64(), "first": pl.Float64(), "last": pl.Float64(),
    "first_timestamp": UTC, "last_timestamp": UTC,  # of the first/last event of the hour, any quality
}
METRICS_SCHEMA = {"hour": UTC, "tag_webid": pl.String(), "tag_name": pl.String(), "units": pl.String(),
                  **METRIC_COLUMNS}
ASSET_METRICS_SCHEMA = {
    "hour": UTC, "element_webid": pl.String(), "element_name": pl.String(), "element_path": pl.String(),
    "element_template": pl.String(), "parent_path": pl.String(), "attribute_webid": pl.String(),
    "attribute_name": pl.String(), "tag_webid": pl.String(), "tag_name": pl.String(), "units": pl.String(),
    **METRIC_COLUMNS,
}


def hourly_metrics(timeseries: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """One row per tag and UTC hour that has events."""
    hour = pl.col("timestamp").dt.truncate("1h")
    usable = pl.col("good") & pl.col("value").is_not_null()
    value = pl.col("value").filter(usable)
    held = ((pl.col("timestamp").shift(-1).over(["tag_webid", "hour"]).fill_null(pl.col("hour") + pl.duration(hours=1))
             - pl.col("timestamp")).dt.total_microseconds() / 1e6)
    weight = pl.col("held_s").filter(usable)
    return (
        timeseries.lazy()
        .with_columns(hour=hour)
        .sort(["tag_webid", "timestamp", "sequence"])
        .with_columns(held_s=held)
        .group_by(["hour", "tag_webid"])
        .agg(
            tag_name=pl.col("tag_name").first(), units=pl.col("units").first(),
            count=pl.len(), good_count=pl.col("good").sum(),
            min=value.min(), max=value.max(), mean=value.mean(), stddev=value.std(ddof=1),
            first=value.first(), last=value.last(),
            first_timestamp=pl.col("timestamp").first(), last_timestamp=pl.col("timestamp").last(),
            _weighted=(value * weight).sum(), _weight=weight.sum(),
        )
        .with_columns(
            share_good=pl.col("good_count") / pl.col("count"),
            time_weighted_mean=pl.when(pl.col("_weight") > 0).then(pl.col("_weighted") / pl.col("_weight")),
        )
        .select([pl.col(c).cast(t) for c, t in METRICS_SCHEMA.items()])
        .sort(["hour", "tag_name", "tag_webid"])
        .collect()
    )


def asset_metrics(metrics: pl.DataFrame, attributes: pl.DataFrame, elements: pl.DataFrame) -> pl.DataFrame:
    """Hourly metrics per AF attribute that reads a tag, with its element's name, path, template and parent.

    The element's position is the attribute's own (primary) path, so an element referenced under several
    parents is counted once.
    """
    points = attributes.filter(pl.col("tag_webid").is_not_null()).select(
        "tag_webid", "element_webid", "element_path", pl.col("webid").alias("attribute_webid"),
        pl.col("name").alias("attribute_name"))
    positions = elements.select(
        pl.col("webid").alias("element_webid"), pl.col("path").alias("element_path"),
        pl.col("name").alias("element_name"), pl.col("template").alias("element_template"), "parent_path")
    return (
        metrics.join(points, on="tag_webid", how="inner")
        .join(positions, on=["element_webid", "element_path"], how="left")
        .select([pl.col(c).cast(t) for c, t in ASSET_METRICS_SCHEMA.items()])
        .sort(["hour", "element_path", "attribute_name"])
    )
