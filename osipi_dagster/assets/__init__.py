"""Software-defined assets, one module per table family."""

from osipi_dagster.assets.af import pi_af_attributes, pi_af_elements
from osipi_dagster.assets.catalog import pi_tag_catalog
from osipi_dagster.assets.event_frames import pi_event_frames, pi_event_frames_current
from osipi_dagster.assets.metrics import (
    pi_asset_metrics_hourly,
    pi_interpolated,
    pi_metrics_hourly,
    pi_metrics_match_pi_summaries,
    pi_summaries_hourly,
)
from osipi_dagster.assets.report import osipi_ingestion_report
from osipi_dagster.assets.timeseries import pi_timeseries

__all__ = [
    "pi_tag_catalog",
    "pi_timeseries",
    "pi_af_elements",
    "pi_af_attributes",
    "pi_event_frames",
    "pi_event_frames_current",
    "pi_metrics_hourly",
    "pi_asset_metrics_hourly",
    "pi_summaries_hourly",
    "pi_metrics_match_pi_summaries",
    "pi_interpolated",
    "osipi_ingestion_report",
]
