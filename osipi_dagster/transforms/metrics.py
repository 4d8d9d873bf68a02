"""``pi_timeseries`` rows → hourly metrics per tag (``pi_metrics_hourly``) and the same metrics placed in the
AF hierarchy (``pi_asset_metrics_hourly``); PI's own hourly summaries (``pi_summaries_hourly``) and the
comparison of the two.

Conventions (PI's, written down in ``docs/pi-summaries.md``; the tests compute them independently):

* ``count`` counts every event of the hour ``[start, end)`` (bad ones and strings too); ``share_good`` =
  good / count — PI's event-weighted Count and PercentGood with ``EventWeightedExcludeMostRecentEvent``.
* ``min``/``max``/``mean``/``stddev`` (sample, n-1)/``first``/``last`` use the *usable* events only: good
  and with a numeric ``value`` (digital states count with their state code; strings and system states
  do not) — PI's event-weighted summaries.
* ``time_weighted_mean`` is PI's time-weighted average over ``[start, end]``: the signal runs through
  the events in order; a continuous point (Step off) runs linearly from a usable event to the next when
  that one is usable too, a step point (and a usable event followed by an unusable one) holds its value
  until the next event; time after an unusable event, and before the tag's first event, is left out.
  The value at the hour's start comes from the last event *before* it and the end runs towards the first
  event *at or after* the hour's end: both read from PI (``boundaryType=Outside``), not from another
  partition. ``good_seconds`` is the time that counted (PI's time-weighted PercentGood × 36).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl

from osipi_dagster.pi.values import UTC_TIMESTAMP

HOUR_S = 3600.0
METRIC_COLUMNS = {
    "count": pl.UInt32(),
    "good_count": pl.UInt32(),
    "share_good": pl.Float64(),
    "min": pl.Float64(),
    "max": pl.Float64(),
    "mean": pl.Float64(),
    "time_weighted_mean": pl.Float64(),
    "stddev": pl.Float64(),
    "first": pl.Float64(),
    "last": pl.Float64(),
    "first_timestamp": UTC_TIMESTAMP,
    "last_timestamp": UTC_TIMESTAMP,  # of the first/last event of the hour, any quality
    "good_seconds": pl.Float64(),
}
METRICS_SCHEMA = {
    "hour": UTC_TIMESTAMP,
    "tag_webid": pl.String(),
    "tag_name": pl.String(),
    "units": pl.String(),
    **METRIC_COLUMNS,
}
ASSET_METRICS_SCHEMA = {
    "hour": UTC_TIMESTAMP,
    "element_webid": pl.String(),
    "element_name": pl.String(),
    "element_path": pl.String(),
    "element_template": pl.String(),
    "parent_path": pl.String(),
    "attribute_webid": pl.String(),
    "attribute_name": pl.String(),
    "tag_webid": pl.String(),
    "tag_name": pl.String(),
    "units": pl.String(),
    **METRIC_COLUMNS,
}
EDGE_SCHEMA = {
    "tag_webid": pl.String(),
    "edge": UTC_TIMESTAMP,
    "timestamp": UTC_TIMESTAMP,
    "sequence": pl.Int32(),
    "value": pl.Float64(),
    "good": pl.Boolean(),
}


def hour_starts(start: datetime, end: datetime) -> list[datetime]:
    return [start + timedelta(hours=i) for i in range(int((end - start) / timedelta(hours=1)))]


def _seconds(column: str) -> pl.Expr:
    return pl.col(column).dt.epoch("us") / 1e6


def boundary_points(edges: pl.DataFrame) -> pl.DataFrame:
    """From the events read around each hour edge: the last one before it (it starts the hour beginning
    there) and the first one at or after it (it ends the hour ending there)."""
    edges = edges.lazy().sort(["tag_webid", "edge", "timestamp", "sequence"])
    before = (
        edges.filter(pl.col("timestamp") < pl.col("edge"))
        .group_by(["tag_webid", "edge"])
        .last()
        .with_columns(hour=pl.col("edge"), role=pl.lit(0))
    )
    after = (
        edges.filter(pl.col("timestamp") >= pl.col("edge"))
        .group_by(["tag_webid", "edge"])
        .first()
        .with_columns(hour=pl.col("edge") - pl.duration(hours=1), role=pl.lit(2))
    )
    return (
        pl.concat([before, after])
        .select("tag_webid", "hour", "timestamp", "sequence", "value", "good", "role")
        .collect()
    )


def time_weighted(events: pl.LazyFrame, edges: pl.DataFrame, steps: pl.DataFrame) -> pl.LazyFrame:
    """Per tag and hour: ``_area`` (integral of the usable signal, value × seconds) and ``good_seconds``.

    ``events``: the hour's rows (``tag_webid``, ``hour``, ``timestamp``, ``sequence``, ``value``, ``good``);
    ``edges``: :data:`EDGE_SCHEMA`; ``steps``: ``tag_webid``, ``step`` (PI's Step attribute).
    """
    inside = events.select("tag_webid", "hour", "timestamp", "sequence", "value", "good", role=pl.lit(1))
    points = pl.concat([inside, boundary_points(edges).lazy()], how="vertical_relaxed")
    usable = pl.col("good") & pl.col("value").is_not_null()
    over = ["tag_webid", "hour"]
    t, nt, v, nv = pl.col("t"), pl.col("nt"), pl.col("value"), pl.col("nv")
    a = _seconds("hour")
    lo = pl.max_horizontal(t, a)
    hi = pl.min_horizontal(nt.fill_null(a + HOUR_S), a + HOUR_S)

    def at(x: pl.Expr) -> pl.Expr:  # the value at x on this piece (exact at both of its ends)
        line = v + (x - t) / (nt - t) * (nv - v)
        return pl.when(~pl.col("linear") | (x <= t)).then(v).when(x >= nt).then(nv).otherwise(line)

    return (
        points.join(steps.lazy(), on="tag_webid", how="left")
        .sort(["tag_webid", "hour", "timestamp", "role", "sequence"])
        .with_columns(t=_seconds("timestamp"), ok=usable.fill_null(False))
        .with_columns(nt=t.shift(-1).over(over), nv=v.shift(-1).over(over), nok=pl.col("ok").shift(-1).over(over))
        .with_columns(
            linear=~pl.col("step").fill_null(False) & pl.col("ok") & pl.col("nok").fill_null(False) & (nt > t)
        )
        .with_columns(lo=lo, hi=hi)
        .with_columns(
            held=pl.when(pl.col("ok") & (pl.col("hi") > pl.col("lo"))).then(pl.col("hi") - pl.col("lo")).otherwise(0.0)
        )
        .with_columns(_area=pl.col("held") * (at(pl.col("lo")) + at(pl.col("hi"))) / 2)
        .group_by(over)
        .agg(_area=pl.col("_area").filter(pl.col("held") > 0).sum(), good_seconds=pl.col("held").sum())
    )


def hourly_metrics(
    timeseries: pl.DataFrame | pl.LazyFrame, edges: pl.DataFrame, catalog: pl.DataFrame, hours: Sequence[datetime] = ()
) -> pl.DataFrame:
    """One row per tag and UTC hour: every tag with events in the hour, and every tag of ``edges`` (the
    active tags whose boundary events were read) for each of ``hours``.

    ``edges``: the events PI returned around each hour edge (:data:`EDGE_SCHEMA`, see
    :meth:`osipi_dagster.pi.summaries.StreamSetReader.events_around`); ``catalog``: ``pi_tag_catalog``
    (Step attribute, names and units of tags without events in an hour).
    """
    events = (
        timeseries.lazy()
        .with_columns(hour=pl.col("timestamp").dt.truncate("1h"))
        .sort(["tag_webid", "timestamp", "sequence"])
    )
    usable = pl.col("good") & pl.col("value").is_not_null()
    value = pl.col("value").filter(usable)
    tags = catalog.lazy().select(
        pl.col("webid").alias("tag_webid"),
        pl.col("name").alias("_name"),
        pl.col("engineering_units").alias("_units"),
        "step",
    )
    counted = events.group_by(["hour", "tag_webid"]).agg(
        tag_name=pl.col("tag_name").first(),
        units=pl.col("units").first(),
        count=pl.len(),
        good_count=pl.col("good").sum(),
        min=value.min(),
        max=value.max(),
        mean=value.mean(),
        stddev=value.std(ddof=1),
        first=value.first(),
        last=value.last(),
        first_timestamp=pl.col("timestamp").first(),
        last_timestamp=pl.col("timestamp").last(),
    )
    grid = pl.LazyFrame({"tag_webid": edges["tag_webid"].unique()}, schema={"tag_webid": pl.String()}).join(
        pl.LazyFrame({"hour": list(hours)}, schema={"hour": UTC_TIMESTAMP}), how="cross"
    )
    keys = pl.concat([grid, counted.select("tag_webid", "hour")]).unique()
    weighted = time_weighted(events, edges, tags.select("tag_webid", "step"))
    return (
        keys.join(counted, on=["tag_webid", "hour"], how="left")
        .join(weighted, on=["tag_webid", "hour"], how="left")
        .join(tags.select("tag_webid", "_name", "_units"), on="tag_webid", how="left")
        .with_columns(
            tag_name=pl.coalesce("tag_name", "_name"),
            units=pl.coalesce("units", "_units"),
            count=pl.col("count").fill_null(0),
            good_count=pl.col("good_count").fill_null(0),
            good_seconds=pl.col("good_seconds").fill_null(0.0),
        )
        .with_columns(
            share_good=pl.when(pl.col("count") > 0).then(pl.col("good_count") / pl.col("count")),
            time_weighted_mean=pl.when(pl.col("good_seconds") > 0).then(pl.col("_area") / pl.col("good_seconds")),
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
        "tag_webid",
        "element_webid",
        "element_path",
        pl.col("webid").alias("attribute_webid"),
        pl.col("name").alias("attribute_name"),
    )
    positions = elements.select(
        pl.col("webid").alias("element_webid"),
        pl.col("path").alias("element_path"),
        pl.col("name").alias("element_name"),
        pl.col("template").alias("element_template"),
        "parent_path",
    )
    return (
        metrics.join(points, on="tag_webid", how="inner")
        .join(positions, on=["element_webid", "element_path"], how="left")
        .select([pl.col(c).cast(t) for c, t in ASSET_METRICS_SCHEMA.items()])
        .sort(["hour", "element_path", "attribute_name"])
    )


# -- PI's own summaries ----------------------------------------------------------------------------------

# The summaries ``pi_summaries_hourly`` keeps: (weighting, PI summary type) → column.
SUMMARY_COLUMNS = {
    ("time", "Average"): "tw_average",
    ("time", "Minimum"): "tw_minimum",
    ("time", "Maximum"): "tw_maximum",
    ("time", "Total"): "tw_total",
    ("time", "PercentGood"): "tw_percent_good",
    ("event", "Count"): "count",
    ("event", "Average"): "ew_average",
    ("event", "Minimum"): "ew_minimum",
    ("event", "Maximum"): "ew_maximum",
    ("event", "StdDev"): "ew_stddev",
    ("event", "PercentGood"): "ew_percent_good",
}
SUMMARIES_SCHEMA = {
    "hour": UTC_TIMESTAMP,
    "tag_webid": pl.String(),
    "tag_name": pl.String(),
    "units": pl.String(),
    **{column: pl.UInt32() if column == "count" else pl.Float64() for column in SUMMARY_COLUMNS.values()},
    "bad_summaries": pl.List(pl.String()),  # "<column>: <PI's error state>" for each summary PI could not compute
    "time_weighted_basis": pl.String(),
    "event_weighted_basis": pl.String(),
}


def summary_types(weighting: str) -> list[str]:
    return [t for (w, t) in SUMMARY_COLUMNS if w == weighting]


def hourly_summaries(summaries: pl.DataFrame, catalog: pl.DataFrame, time_basis: str, event_basis: str) -> pl.DataFrame:
    """PI's summaries (long: ``tag_webid``, ``basis``, ``type``, ``timestamp`` = interval start, ``value``,
    ``good``, ``error``) → one row per tag and hour with a column per summary; a summary PI reports as bad
    is null and named in ``bad_summaries``."""
    if summaries.height == 0:
        return pl.DataFrame(schema=SUMMARIES_SCHEMA)
    columns = pl.DataFrame(
        {
            "weighting": [w for w, _ in SUMMARY_COLUMNS],
            "type": [t for _, t in SUMMARY_COLUMNS],
            "column": list(SUMMARY_COLUMNS.values()),
        }
    )
    long = (
        summaries.with_columns(
            weighting=pl.when(pl.col("basis") == time_basis).then(pl.lit("time")).otherwise(pl.lit("event"))
        )
        .join(columns, on=["weighting", "type"], how="inner")
        .rename({"timestamp": "hour"})
    )
    wide = long.pivot(on="column", index=["hour", "tag_webid"], values="value", aggregate_function="first")
    bad = (
        long.filter(~pl.col("good"))
        .group_by(["hour", "tag_webid"])
        .agg(bad_summaries=pl.format("{}: {}", "column", "error").sort())
    )
    names = catalog.select(
        pl.col("webid").alias("tag_webid"), pl.col("name").alias("tag_name"), pl.col("engineering_units").alias("units")
    )
    for column in SUMMARY_COLUMNS.values():
        if column not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64()).alias(column))
    return (
        wide.join(bad, on=["hour", "tag_webid"], how="left")
        .join(names, on="tag_webid", how="left")
        .with_columns(
            bad_summaries=pl.col("bad_summaries").fill_null([]),
            time_weighted_basis=pl.lit(time_basis),
            event_weighted_basis=pl.lit(event_basis),
        )
        .select([pl.col(c).cast(t) for c, t in SUMMARIES_SCHEMA.items()])
        .sort(["hour", "tag_name", "tag_webid"])
    )


# Our column, PI's column, and how ours is scaled to PI's unit.
COMPARED = (
    ("time_weighted_mean", "tw_average", 1.0),
    ("good_seconds", "tw_percent_good", 100 / HOUR_S),
    ("mean", "ew_average", 1.0),
    ("min", "ew_minimum", 1.0),
    ("max", "ew_maximum", 1.0),
    ("stddev", "ew_stddev", 1.0),
    ("share_good", "ew_percent_good", 100.0),
)
REL_TOL = 1e-9


def disagreements(metrics: pl.DataFrame, summaries: pl.DataFrame, rel_tol: float = REL_TOL) -> pl.DataFrame:
    """Tag-hours where ``pi_metrics_hourly`` and ``pi_summaries_hourly`` disagree: one row per (hour, tag,
    column) with both values. A row missing on either side disagrees (tags PI has no summaries of at all —
    points since removed — are left out); counts must be equal; a value PI
    computed must be matched within ``rel_tol`` × max(|PI's value|, 1) (values PI reports as bad — e.g.
    anything but Count for digital and string points — are not compared)."""
    key = ["hour", "tag_webid"]
    # Points no longer in PI (rows kept in pi_timeseries) have no summaries: nothing to compare them with.
    metrics = metrics.filter(pl.col("tag_webid").is_in(summaries["tag_webid"].unique().implode()))
    ours = metrics.select(
        *key, pl.lit(True).alias("_ours"), "count", *[(pl.col(c) * scale).alias(c) for c, _, scale in COMPARED]
    )
    pi = summaries.select(
        *key, pl.lit(True).alias("_pi"), pl.col("count").alias("pi_count"), *[pl.col(p) for _, p, _ in COMPARED]
    )
    joined = ours.join(pi, on=key, how="full", coalesce=True)
    checks = [
        joined.filter(pl.col("_ours").is_null() | pl.col("_pi").is_null()).select(
            *key,
            column=pl.when(pl.col("_ours").is_null())
            .then(pl.lit("missing in pi_metrics_hourly"))
            .otherwise(pl.lit("missing in pi_summaries_hourly")),
            ours=pl.lit(None, pl.Float64()),
            pi=pl.lit(None, pl.Float64()),
        ),
        joined.filter(pl.col("count") != pl.col("pi_count")).select(
            *key,
            column=pl.lit("count"),
            ours=pl.col("count").cast(pl.Float64()),
            pi=pl.col("pi_count").cast(pl.Float64()),
        ),
    ]
    for column, pi_column, _ in COMPARED:
        differs = pl.col(pi_column).is_not_null() & (
            pl.col(column).is_null()
            | ((pl.col(column) - pl.col(pi_column)).abs() > rel_tol * pl.max_horizontal(pl.col(pi_column).abs(), 1.0))
        )
        checks.append(
            joined.filter(pl.col("_ours") & pl.col("_pi") & differs).select(
                *key, column=pl.lit(column), ours=pl.col(column), pi=pl.col(pi_column)
            )
        )
    return pl.concat(checks).sort(key)


INTERPOLATED_SCHEMA = {
    "tag_webid": pl.String(),
    "tag_name": pl.String(),
    "timestamp": UTC_TIMESTAMP,
    "value": pl.Float64(),
    "value_text": pl.String(),
    "good": pl.Boolean(),
    "units": pl.String(),
    "interval": pl.String(),
}


def interpolated_frame(raw: pl.DataFrame, catalog: pl.DataFrame, interval: str) -> pl.DataFrame:
    """PI's interpolated values (RAW_SCHEMA) with tag names and units: ``pi_interpolated`` rows."""
    names = catalog.select(
        pl.col("webid").alias("tag_webid"), pl.col("name").alias("tag_name"), pl.col("engineering_units").alias("units")
    )
    return (
        raw.join(names, on="tag_webid", how="left")
        .with_columns(interval=pl.lit(interval))
        .select([pl.col(c).cast(t) for c, t in INTERPOLATED_SCHEMA.items()])
        .sort(["tag_name", "timestamp"])
    )
