"""Asset checks: the data is what PI has, once, in its window, and gold agrees with it.

Blocking checks (ERROR severity, ``blocking=True``) stop the downstream assets of the same run: duplicated or
misplaced rows, or a catalog with a WebId twice, must not flow to gold."""

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetIn,
    MetadataValue,
    asset_check,
    build_column_schema_change_checks,
)

from osipi_dagster.assets.af import pi_af_attributes, pi_af_elements
from osipi_dagster.assets.catalog import pi_tag_catalog
from osipi_dagster.assets.event_frames import pi_event_frames
from osipi_dagster.assets.metrics import markdown_table, pi_metrics_hourly, stream_set_reader
from osipi_dagster.assets.partition_checks import in_hour, partition_hours, per_partition_result
from osipi_dagster.assets.timeseries import pi_timeseries
from osipi_dagster.partitions import hourly_partitions
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.transforms import quality
from osipi_dagster.transforms.timeseries import KEY

# PI's Count over one interval with this basis counts the events of [start, end), like the hourly partitions
# (plain EventWeighted would count an event exactly at the end too).
COUNT_BASIS = "EventWeightedExcludeMostRecentEvent"
# The share of PI Point attributes that must resolve to a catalogued tag; below it the AF tree points at tags
# outside the tag filter or at another data server.
MIN_RESOLVED_SHARE = 0.95
SHOWN = 20  # offending rows shown in a check's metadata


def _result(problems: dict[str, pl.DataFrame], **facts) -> AssetCheckResult:
    """Passed when every problem frame is empty; their sizes and first rows as metadata."""
    return AssetCheckResult(
        passed=all(frame.height == 0 for frame in problems.values()),
        severity=AssetCheckSeverity.ERROR,
        metadata={
            **facts,
            **{name: frame.height for name, frame in problems.items()},
            **{
                f"first_{name}": MetadataValue.md(markdown_table(frame.head(SHOWN)))
                for name, frame in problems.items()
                if frame.height
            },
        },
    )


@asset_check(
    asset=pi_timeseries,
    partitions_def=hourly_partitions,
    blocking=True,
    description="Each (tag_webid, timestamp, sequence) once in the partition. (Timestamps outside the window "
    "cannot be written: the IO manager's overwrite predicate rejects them.)",
)
def pi_timeseries_keys_unique(context: AssetCheckExecutionContext, pi_timeseries: pl.LazyFrame) -> AssetCheckResult:
    duplicates = quality.duplicate_keys(pi_timeseries, KEY)
    return per_partition_result(
        context,
        {
            key: _result({"duplicate_keys": duplicates.filter(in_hour(start, end))})
            for key, start, end in partition_hours(context)
        },
    )


@asset_check(
    asset=pi_timeseries,
    additional_ins={"pi_tag_catalog": AssetIn()},
    partitions_def=hourly_partitions,
    description="Every active tag accounted for, with exactly as many rows per tag as PI's own Count of the "
    f"hour (streamsets/summary, calculationBasis={COUNT_BASIS}: the events of [start, end)). Values that "
    "arrive in PI after the load show here until the settle window reloads the hour.",
)
def pi_timeseries_complete_against_pi_count(
    context: AssetCheckExecutionContext, pi: PIWebAPIResource, pi_timeseries: pl.LazyFrame, pi_tag_catalog: pl.DataFrame
) -> AssetCheckResult:
    window = context.partition_time_window
    active = pi_tag_catalog.filter(pl.col("is_active"))["webid"].to_list()
    # One request series for the run's hours, one Count per tag and hour (stamped with the hour's start).
    summaries = stream_set_reader(pi).summaries(active, window.start, window.end, "1h", COUNT_BASIS, ["Count"])
    rows = quality.rows_per_tag_and_hour(pi_timeseries)
    results = {}
    for key, start, end in partition_hours(context):
        mismatches = quality.count_mismatches(
            rows.filter(pl.col("hour") == start).drop("hour"),
            quality.pi_counts(summaries.filter(in_hour(start, end))),
            active,
        )
        results[key] = _result({"tags_not_matching_pi": mismatches}, active_tags=len(active))
    return per_partition_result(context, results)


@asset_check(asset=pi_tag_catalog, blocking=True, description="Each WebId once in the catalog")
def pi_tag_catalog_unique_webids(pi_tag_catalog: pl.DataFrame) -> AssetCheckResult:
    return _result({"duplicate_webids": quality.duplicate_keys(pi_tag_catalog.lazy(), ["webid"])})


@asset_check(
    asset=pi_af_attributes,
    description=f"At least {MIN_RESOLVED_SHARE:.0%} of the PI Point attributes read a tag of pi_tag_catalog "
    "(the others join to no time series)",
)
def pi_af_point_attributes_resolve_to_tags(pi_af_attributes: pl.DataFrame) -> AssetCheckResult:
    points, unresolved = quality.unresolved_share(pi_af_attributes)
    share = (points - unresolved) / points if points else 1.0
    return AssetCheckResult(
        passed=share >= MIN_RESOLVED_SHARE,
        severity=AssetCheckSeverity.WARN,
        metadata={"point_attributes": points, "unresolved": unresolved, "resolved_share": round(share, 4)},
    )


@asset_check(
    asset=pi_metrics_hourly,
    additional_ins={"pi_timeseries": AssetIn()},
    partitions_def=hourly_partitions,
    blocking=True,
    description="count of every tag-hour equals the rows of pi_timeseries for that tag and hour",
)
def pi_metrics_count_matches_raw_rows(
    context: AssetCheckExecutionContext, pi_metrics_hourly: pl.DataFrame, pi_timeseries: pl.LazyFrame
) -> AssetCheckResult:
    mismatches = quality.gold_count_mismatches(pi_metrics_hourly, pi_timeseries)
    return per_partition_result(
        context,
        {
            key: _result({"tag_hours_not_matching": mismatches.filter(in_hour(start, end, "hour"))})
            for key, start, end in partition_hours(context)
        },
    )


CHECKS = [
    pi_timeseries_keys_unique,
    pi_timeseries_complete_against_pi_count,
    pi_tag_catalog_unique_webids,
    pi_af_point_attributes_resolve_to_tags,
    pi_metrics_count_matches_raw_rows,
]

# The tables loaded from PI: a column added, removed or retyped (a transform or a PI point type changed) shows as
# a failed `column_schema_change` check (warning) on the table, comparing the `dagster/column_schema` of its last
# two materialisations (the IO manager records the columns written on each).
SCHEMA_CHANGE_CHECKS = build_column_schema_change_checks(
    assets=[pi_tag_catalog, pi_timeseries, pi_af_elements, pi_af_attributes, pi_event_frames]
)
