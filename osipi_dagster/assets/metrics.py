"""Gold: ``pi_metrics_hourly`` per tag and ``pi_asset_metrics_hourly`` per AF element attribute, both
recomputed from ``pi_timeseries`` whenever an hour of it is (re)loaded."""

import polars as pl
from dagster import AssetExecutionContext, BackfillPolicy, asset

from osipi_dagster.automation import follows_upstream_condition
from osipi_dagster.partitions import hourly_partitions
from osipi_dagster.transforms import metrics


def _gold(**kwargs):
    """Hourly gold assets: partitioned like ``pi_timeseries`` on the ``hour`` column, automation follows any updated upstream partition."""
    return asset(
        group_name="gold",
        kinds={"polars", "deltalake"},
        partitions_def=hourly_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        metadata={"schema": "gold", "partition_expr": "hour"},
        automation_condition=follows_upstream_condition(),
        **kwargs,
    )


@_gold()
def pi_metrics_hourly(context: AssetExecutionContext, pi_timeseries: pl.LazyFrame) -> pl.DataFrame:
    """Per tag and UTC hour: count, good_count, share_good, min, max, mean, time-weighted mean (step),
    sample stddev, first and last value, first/last event time. Conventions: ``transforms/metrics.py``."""
    frame = metrics.hourly_metrics(pi_timeseries)
    context.add_output_metadata({"dagster/row_count": frame.height, "tags": frame["tag_webid"].n_unique()})
    return frame


@_gold()
def pi_asset_metrics_hourly(context: AssetExecutionContext, pi_metrics_hourly: pl.DataFrame,
                            pi_af_attributes: pl.DataFrame, pi_af_elements: pl.DataFrame) -> pl.DataFrame:
    """``pi_metrics_hourly`` per AF attribute that reads a tag, with element name, path, template and parent
    path: e.g. the mean of attribute ``Bearing Temperature`` per ``Pump`` element per hour."""
    frame = metrics.asset_metrics(pi_metrics_hourly, pi_af_attributes, pi_af_elements)
    context.add_output_metadata({"dagster/row_count": frame.height,
                                 "elements": frame["element_webid"].n_unique()})
    return frame
