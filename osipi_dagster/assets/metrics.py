"""Gold: ``pi_metrics_hourly`` per tag and ``pi_asset_metrics_hourly`` per AF element attribute, both
recomputed from ``pi_timeseries`` whenever an hour of it is (re)loaded; ``pi_summaries_hourly``, PI's own
hourly summaries, and the check that the two agree; optional ``pi_interpolated``."""

from datetime import datetime

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    BackfillPolicy,
    Config,
    MetadataValue,
    asset,
    asset_check,
)
from pydantic import Field

from osipi_dagster.assets.columns import table_metadata
from osipi_dagster.assets.partition_checks import in_hour, partition_hours, per_partition_result
from osipi_dagster.automation import follows_upstream_condition, hourly_freshness_policy, hourly_settle_condition
from osipi_dagster.partitions import hourly_partitions
from osipi_dagster.pi.summaries import StreamSetReader
from osipi_dagster.pi.values import UTC_TIMESTAMP
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.settings import get_settings
from osipi_dagster.transforms import metrics

# ``pi_interpolated`` exists only when this is set (e.g. ``1m``): evenly spaced values are many rows.
INTERPOLATED_INTERVAL = get_settings().interpolated_interval


def _gold(**kwargs):
    """Hourly gold assets: partitioned like ``pi_timeseries`` (their ``metadata`` names the ``hour`` column),
    automation follows any updated upstream partition, and they are as fresh as the hourly loads."""
    return asset(
        **{
            "group_name": "gold",
            "kinds": {"polars", "deltalake"},
            "partitions_def": hourly_partitions,
            "backfill_policy": BackfillPolicy.single_run(),
            "automation_condition": follows_upstream_condition(),
            "freshness_policy": hourly_freshness_policy(),
            **kwargs,
        }
    )


def stream_set_reader(pi: PIWebAPIResource) -> StreamSetReader:
    return StreamSetReader(
        pi.client,
        streams_per_request=pi.streams_per_request,
        max_concurrency=pi.max_concurrent_requests,
        max_items_per_call=pi.max_items_per_call,
    )


def edge_events(reader: StreamSetReader, webids: list[str], start: datetime, end: datetime) -> pl.DataFrame:
    """The events PI has around every hour edge of ``[start, end]`` (``metrics.EDGE_SCHEMA``)."""
    frames = [
        reader.events_around(webids, edge).with_columns(edge=pl.lit(edge, UTC_TIMESTAMP))
        for edge in [*metrics.hour_starts(start, end), end]
    ]
    return pl.concat(frames).select(list(metrics.EDGE_SCHEMA)).cast(metrics.EDGE_SCHEMA)


@_gold(
    metadata=table_metadata("gold", "pi_metrics_hourly", partition_expr="hour"),
    pool="pi_web_api",
    # The catalog only supplies Step flags and names: its daily refresh must not recompute every hour.
    automation_condition=follows_upstream_condition(ignore=["pi_tag_catalog"]),
)
def pi_metrics_hourly(
    context: AssetExecutionContext, pi: PIWebAPIResource, pi_timeseries: pl.LazyFrame, pi_tag_catalog: pl.DataFrame
) -> pl.DataFrame:
    """Per tag and UTC hour: count, good_count, share_good, min, max, mean, PI's time-weighted mean
    (continuous points interpolate, step points hold, the hour's edges from the events PI has around
    them), good_seconds, sample stddev, first and last value, first/last event time. Conventions:
    ``transforms/metrics.py`` and ``docs/pi-summaries.md``."""
    window = context.partition_time_window
    active = pi_tag_catalog.filter(pl.col("is_active"))["webid"].to_list()
    edges = edge_events(stream_set_reader(pi), active, window.start, window.end)
    frame = metrics.hourly_metrics(pi_timeseries, edges, pi_tag_catalog, metrics.hour_starts(window.start, window.end))
    context.add_output_metadata(
        {"dagster/row_count": frame.height, "tags": frame["tag_webid"].n_unique(), "edge_events": edges.height}
    )
    return frame


@_gold(
    metadata=table_metadata("gold", "pi_asset_metrics_hourly", partition_expr="hour"),
    # The daily AF refresh must not recompute the whole history: a changed tree applies to the hours rebuilt
    # from then on (backfill older hours to apply it to them).
    automation_condition=follows_upstream_condition(ignore=["pi_af_attributes", "pi_af_elements"]),
)
def pi_asset_metrics_hourly(
    context: AssetExecutionContext,
    pi_metrics_hourly: pl.DataFrame,
    pi_af_attributes: pl.DataFrame,
    pi_af_elements: pl.DataFrame,
) -> pl.DataFrame:
    """``pi_metrics_hourly`` per AF attribute that reads a tag, with element name, path, template and parent
    path: e.g. the mean of attribute ``Bearing Temperature`` per ``Pump`` element per hour."""
    frame = metrics.asset_metrics(pi_metrics_hourly, pi_af_attributes, pi_af_elements)
    context.add_output_metadata({"dagster/row_count": frame.height, "elements": frame["element_webid"].n_unique()})
    return frame


class PISummariesConfig(Config):
    time_weighted_basis: str = Field(
        default="TimeWeighted",
        description="PI calculationBasis of the tw_* columns (TimeWeighted, "
        "TimeWeightedContinuous or TimeWeightedDiscrete)",
    )
    event_weighted_basis: str = Field(
        default="EventWeightedExcludeMostRecentEvent",
        description="PI calculationBasis of count and the ew_* columns; the default counts the events of "
        "[start, end) like the hourly partitions (plain EventWeighted takes both ends of a single interval)",
    )


@_gold(
    metadata=table_metadata("gold", "pi_summaries_hourly", partition_expr="hour"),
    pool="pi_web_api",
    deps=["pi_timeseries"],  # lineage only: PI computes these from its archive, as the hours settle
    automation_condition=hourly_settle_condition(),
)
def pi_summaries_hourly(
    context: AssetExecutionContext, config: PISummariesConfig, pi: PIWebAPIResource, pi_tag_catalog: pl.DataFrame
) -> pl.DataFrame:
    """PI's own hourly summaries of every active tag (``streamsets/summary``, ``summaryDuration=1h``):
    time-weighted average, minimum, maximum, total and percent good; event-weighted count, average,
    minimum, maximum, standard deviation and percent good; ``bad_summaries`` names those PI could not
    compute. The reference ``pi_metrics_hourly`` is checked against."""
    window = context.partition_time_window
    active = pi_tag_catalog.filter(pl.col("is_active"))["webid"].to_list()
    reader = stream_set_reader(pi)
    long = pl.concat(
        [
            reader.summaries(
                active, window.start, window.end, "1h", config.time_weighted_basis, metrics.summary_types("time")
            ),
            reader.summaries(
                active, window.start, window.end, "1h", config.event_weighted_basis, metrics.summary_types("event")
            ),
        ]
    )
    frame = metrics.hourly_summaries(long, pi_tag_catalog, config.time_weighted_basis, config.event_weighted_basis)
    context.add_output_metadata(
        {
            "dagster/row_count": frame.height,
            "tags": len(active),
            "bad_summaries": int(frame["bad_summaries"].list.len().sum()),
        }
    )
    return frame


@asset_check(
    asset=pi_metrics_hourly,
    additional_ins={"pi_summaries_hourly": AssetIn()},
    partitions_def=hourly_partitions,
    description="pi_metrics_hourly agrees with PI's own summaries per tag-hour: counts exactly, "
    f"averages, extremes, stddev and shares within a relative {metrics.REL_TOL:g}",
)
def pi_metrics_match_pi_summaries(
    context: AssetCheckExecutionContext, pi_metrics_hourly: pl.DataFrame, pi_summaries_hourly: pl.DataFrame
) -> AssetCheckResult:
    differences = metrics.disagreements(pi_metrics_hourly, pi_summaries_hourly)
    return per_partition_result(
        context,
        {
            key: _summaries_result(
                pi_metrics_hourly.filter(in_hour(start, end, "hour")), differences.filter(in_hour(start, end, "hour"))
            )
            for key, start, end in partition_hours(context)
        },
    )


def _summaries_result(metrics_of_hour: pl.DataFrame, differences: pl.DataFrame) -> AssetCheckResult:
    shown = differences.head(20).with_columns(pl.col("hour").dt.strftime("%Y-%m-%dT%H:%MZ"))
    return AssetCheckResult(
        passed=differences.height == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "tag_hours": metrics_of_hour.height,
            "disagreements": differences.height,
            "columns": MetadataValue.json(
                differences["column"].value_counts().to_dicts() if differences.height else []
            ),
            "first_disagreements": MetadataValue.md(markdown_table(shown)),
        },
    )


def markdown_table(frame: pl.DataFrame) -> str:
    if frame.height == 0:
        return "none"
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * frame.width]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join(lines)


class PIInterpolatedConfig(Config):
    interval: str = Field(
        default=INTERPOLATED_INTERVAL or "1m",
        description="Spacing of the values (a fixed PI duration: 30s, 1m, 15m, 1h)",
    )


@asset(
    group_name="silver",
    kinds={"polars", "deltalake"},
    partitions_def=hourly_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    metadata=table_metadata("silver", "pi_interpolated", partition_expr="timestamp"),
    automation_condition=hourly_settle_condition(),
    pool="pi_web_api",
    deps=["pi_timeseries"],
)
def pi_interpolated(
    context: AssetExecutionContext, config: PIInterpolatedConfig, pi: PIWebAPIResource, pi_tag_catalog: pl.DataFrame
) -> pl.DataFrame:
    """PI's interpolated values of every active tag, evenly spaced by ``interval`` over the partition's
    hour(s) (``streamsets/interpolated``): one row per tag and time, ``[start, end)``, for ML features."""
    window = context.partition_time_window
    active = pi_tag_catalog.filter(pl.col("is_active"))
    raw = stream_set_reader(pi).interpolated(active["webid"].to_list(), window.start, window.end, config.interval)
    frame = metrics.interpolated_frame(raw.filter(pl.col("timestamp") < window.end), active, config.interval)
    context.add_output_metadata({"dagster/row_count": frame.height, "tags": active.height, "interval": config.interval})
    return frame
