"""The code location's ``Definitions``: every asset, sensor and resource, and nothing unresolved."""

from __future__ import annotations

from dagster import AssetsDefinition, Definitions, SensorDefinition

import osipi_dagster.assets
import osipi_dagster.sensors
from osipi_dagster.definitions import defs
from osipi_dagster.resources.delta_io_manager import WindowedDeltaLakePolarsIOManager
from osipi_dagster.resources.lakehouse import DeltaLakehouse
from osipi_dagster.resources.pi_web_api import PIWebAPIResource

# The tables of the README, bronze to gold.
ASSETS = {
    "pi_tag_catalog",
    "pi_timeseries",
    "pi_af_elements",
    "pi_af_attributes",
    "pi_event_frames",
    "pi_event_frames_current",
    "pi_metrics_hourly",
    "pi_asset_metrics_hourly",
    "pi_summaries_hourly",
}
# Defined only when OSIPI_INTERPOLATED_INTERVAL is set (unset in the tests).
OPTIONAL_ASSETS = {"pi_interpolated"}
REPORTS = {"osipi_ingestion_report"}  # charts, not tables


def _exported(module, kind: type) -> list:
    return [getattr(module, name) for name in module.__all__ if isinstance(getattr(module, name), kind)]


def test_every_asset_is_defined_once():
    keys = [key.to_user_string() for key in defs.resolve_all_asset_keys()]
    assert sorted(keys) == sorted(ASSETS | REPORTS)
    exported = _exported(osipi_dagster.assets, AssetsDefinition)  # (an asset check is one too, with no keys)
    assert {key.to_user_string() for asset in exported for key in asset.keys} == (ASSETS | OPTIONAL_ASSETS | REPORTS)


def test_the_checks_are_defined():
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {
        "pi_metrics_match_pi_summaries",
        "pi_timeseries_keys_unique",
        "pi_timeseries_complete_against_pi_count",
        "pi_tag_catalog_unique_webids",
        "pi_af_point_attributes_resolve_to_tags",
        "pi_metrics_count_matches_raw_rows",
        "column_schema_change",  # on each bronze table (test_schema_and_freshness.py)
    }


def test_the_automation_sensor_and_every_exported_sensor_are_defined():
    exported = {sensor.name for sensor in _exported(osipi_dagster.sensors, SensorDefinition)}
    assert exported == {"pi_new_tags_sensor", "pi_open_event_frames_sensor"}
    assert sorted(sensor.name for sensor in defs.sensors) == sorted(exported | {"osipi_automation"})


def test_resources_are_the_pi_client_the_lakehouse_and_the_windowed_io_manager_and_all_resolve():
    assert {key: type(resource) for key, resource in defs.resources.items()} == {
        "pi": PIWebAPIResource,
        "lakehouse": DeltaLakehouse,
        "io_manager": WindowedDeltaLakePolarsIOManager,
    }
    needed = set().union(*(asset.required_resource_keys for asset in defs.resolve_asset_graph().assets_defs))
    assert needed == set(defs.resources)  # each resource is used, each one used is defined
    Definitions.validate_loadable(defs)


def test_every_table_declares_its_name_and_described_columns_at_definition_time():
    for asset in _exported(osipi_dagster.assets, AssetsDefinition):
        for key, spec_metadata in (
            (spec.key, spec.metadata) for spec in asset.specs if spec.key.path[-1] not in REPORTS
        ):
            schema = spec_metadata["dagster/column_schema"].schema
            assert spec_metadata["dagster/table_name"] == f"{spec_metadata['schema']}.{key.to_user_string()}"
            assert schema.columns, key
            undescribed = [column.name for column in schema.columns if not column.description]
            assert not undescribed, f"{key.to_user_string()}: columns without a description: {undescribed}"
