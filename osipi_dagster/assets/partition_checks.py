"""Partitioned asset checks that stay true per partition in range runs (backfills, the settle window)."""

from datetime import datetime

import polars as pl
from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from osipi_dagster.partitions import hourly_partitions

SHOWN_PARTITIONS = 24  # failed partitions named in a range's summary


def partition_hours(context: AssetCheckExecutionContext) -> list[tuple[str | None, datetime | None, datetime | None]]:
    """The run's hourly partitions and their windows: one, or several in a range run; ``(None, None, None)`` (the
    whole input) for a check called without partitions (a direct call in a test)."""
    op_context = context.op_execution_context
    if not (op_context.has_partition_key or op_context.has_partition_key_range):
        return [(None, None, None)]
    return [(key, *hourly_partitions.time_window_for_partition_key(key)) for key in context.partition_keys]


def in_hour(start: datetime | None, end: datetime | None, column: str = "timestamp") -> pl.Expr:
    """Rows of ``[start, end)`` (every row without a window)."""
    return pl.col(column).is_between(start, end, closed="left") if start is not None else pl.lit(True)


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


def per_partition_result(
    context: AssetCheckExecutionContext, results: dict[str | None, AssetCheckResult]
) -> AssetCheckResult:
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
        severity=next(iter(results.values())).severity,
        metadata={
            "partitions_checked": len(results),
            "partitions_failed": len(failed),
            **({"failed_partitions": ", ".join(failed[:SHOWN_PARTITIONS])} if failed else {}),
        },
    )
