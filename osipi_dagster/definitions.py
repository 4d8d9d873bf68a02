"""The one ``Definitions`` of the osipi-dagster code location."""

from dagster import Definitions

from osipi_dagster.assets import pi_tag_catalog, pi_timeseries
from osipi_dagster.automation import automation_sensor
from osipi_dagster.resources import resources_from_env

defs = Definitions(
    assets=[pi_tag_catalog, pi_timeseries],
    sensors=[automation_sensor],
    resources=resources_from_env(),
)
