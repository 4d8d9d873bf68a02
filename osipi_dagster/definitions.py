"""The one ``Definitions`` of the osipi-dagster code location."""

from dagster import Definitions

from osipi_dagster.assets import (
    osipi_ingestion_report,
    pi_af_attributes,
    pi_af_elements,
    pi_asset_metrics_hourly,
    pi_event_frames,
    pi_event_frames_current,
    pi_interpolated,
    pi_metrics_hourly,
    pi_metrics_match_pi_summaries,
    pi_summaries_hourly,
    pi_tag_catalog,
    pi_timeseries,
)
from osipi_dagster.assets.checks import CHECKS, SCHEMA_CHANGE_CHECKS
from osipi_dagster.assets.metrics import INTERPOLATED_INTERVAL
from osipi_dagster.automation import automation_sensor
from osipi_dagster.resources import resources_from_env
from osipi_dagster.sensors import pi_new_tags_sensor, pi_open_event_frames_sensor

defs = Definitions(
    assets=[
        pi_tag_catalog,
        pi_timeseries,
        pi_af_elements,
        pi_af_attributes,
        pi_event_frames,
        pi_event_frames_current,
        pi_metrics_hourly,
        pi_asset_metrics_hourly,
        pi_summaries_hourly,
        osipi_ingestion_report,
        # Evenly spaced values are many rows: only when OSIPI_INTERPOLATED_INTERVAL asks for them.
        *([pi_interpolated] if INTERPOLATED_INTERVAL else []),
    ],
    asset_checks=[pi_metrics_match_pi_summaries, *CHECKS, *SCHEMA_CHANGE_CHECKS],
    sensors=[automation_sensor, pi_new_tags_sensor, pi_open_event_frames_sensor],
    resources=resources_from_env(),
)
