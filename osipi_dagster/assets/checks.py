"""Asset checks: the data is what PI has, once, in its window, and gold agrees with it.

Blocking checks (ERROR severity, ``blocking=True``) stop the downstream assets of the same run: duplicated or
misplaced rows, or a catalog with a WebId twice, must not flow to gold."""

from datetime import datetime

import polars as pl
from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetIn,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    MetadataValue,
    asset_check,
    build_column_schema_change_checks,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from osipi_dagster.assets.af import pi_af_attributes, pi_af_elements
from osipi_dagster.assets.catalog import pi_tag_catalog
from osipi_dagster.assets.event_frames import pi_event_frames
from osipi_dagster.assets.metrics import markdown_table, pi_metrics_hourly, stream_set_reader
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


def _hours(context: AssetCheckExecutionContext) -> list[tuple[str, datetime, datetime]]:
    """The run's hourly partitions and their windows: one, or several in a range run."""
    return [(key, *hourly_partitions.time_window_for_partition_key(key)) for key in context.partition_keys]


def _in_hour(start: datetime, end: datetime, column: str = "timestamp") -> pl.Expr:
    return pl.col(column).is_between(start, end, closed="left")


def _latest_materialization(
    instance: DagsterInstance, asset_key: AssetKey, partition: str
) -> AssetCheckEvaluationTargetMaterializationData | None:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
    ).records
    if not records:
        return None
    record = records[0]
    return AssetCheckEvaluationTargetMaterializationData(
        run_id=record.run_id, storage_id=record.storage_id, timestamp=record.timestamp
    )


def _per_partition(context: AssetCheckExecutionContext, results: dict[str, AssetCheckResult]) -> AssetCheckResult:
    """The check's result for the run's hourly partitions.

    A range run (a backfill, the settle window) checks all its hours in one step, and Dagster records that step's
    result without a partition, so the UI would show the check as skipped for every hour of the range. So each
    hour's result is also recorded as that partition's evaluation; the step's own result sums them up (and fails,
    blocking gold, when any hour fails)."""
    if len(results) == 1:
        return next(iter(results.values()))
    [spec] = context.check_specs
    for key, result in results.items():
        context.op_execution_context.log_event(
            AssetCheckEvaluation(
                asset_key=spec.asset_key,
                check_name=spec.name,
                passed=result.passed,
                metadata=result.metadata,
                severity=result.severity,
                blocking=spec.blocking,
                partition=key,
                target_materialization_data=_latest_materialization(context.instance, spec.asset_key, key),
            )
        )
    failed = [key for key, result in results.items() if not result.passed]
    return AssetCheckResult(
        passed=not failed,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "partitions_checked": len(results),
            "partitions_failed": len(failed),
            **({"failed_partitions": ", ".join(failed[:SHOWN])} if failed else {}),
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
    return _per_partition(
        context,
        {
            key: _result({"duplicate_keys": duplicates.filter(_in_hour(start, end))})
            for key, start, end in _hours(context)
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
    for key, start, end in _hours(context):
        mismatches = quality.count_mismatches(
            rows.filter(pl.col("hour") == start).drop("hour"),
            quality.pi_counts(summaries.filter(_in_hour(start, end))),
            active,
        )
        results[key] = _result({"tags_not_matching_pi": mismatches}, active_tags=len(active))
    return _per_partition(context, results)


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
    return _per_partition(
        context,
        {
            key: _result({"tag_hours_not_matching": mismatches.filter(_in_hour(start, end, "hour"))})
            for key, start, end in _hours(context)
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
