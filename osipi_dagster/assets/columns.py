"""Definition-time table metadata: the Delta table's name and its columns with descriptions, so the UI shows
every table's schema before its first run (``dagster/column_schema``, ``dagster/table_name``)."""

from __future__ import annotations

import polars as pl
from dagster import MetadataValue, TableColumn, TableSchema

from osipi_dagster.transforms.af import ATTRIBUTE_SCHEMA, ELEMENT_SCHEMA
from osipi_dagster.transforms.catalog import CATALOG_SCHEMA
from osipi_dagster.transforms.event_frames import CURRENT_SCHEMA, EVENT_FRAME_SCHEMA
from osipi_dagster.transforms.metrics import (
    ASSET_METRICS_SCHEMA,
    INTERPOLATED_SCHEMA,
    METRICS_SCHEMA,
    SUMMARIES_SCHEMA,
)
from osipi_dagster.transforms.timeseries import TIMESERIES_SCHEMA

# Columns that mean the same in every table they appear in.
_SHARED = {
    "tag_webid": "WebId of the PI point (pi_tag_catalog.webid)",
    "tag_name": "name of the PI point",
    "units": "engineering units of the PI point",
    "hour": "start of the UTC hour [hour, hour + 1 h) (the hourly partition)",
    "loaded_at": "UTC time of the load that wrote the row",
    "value": "numeric value; null for text, digital-state names and system states",
    "value_text": "text of a string value, digital state or system state (numeric values: null)",
    "good": "PI quality flag Good",
    "questionable": "PI quality flag Questionable",
    "substituted": "PI quality flag Substituted",
    "annotated": "PI flag Annotated",
    "webid": "PI Web API WebId of the object",
    "id": "PI's own id of the object",
    "name": "name",
    "path": "full PI path",
    "description": "description from PI",
    "categories": "AF category names",
    "template": "AF template name",
    "parent_path": "path of the parent",
}
_METRICS = {
    "count": "recorded values in the hour (any quality)",
    "good_count": "recorded values with quality Good",
    "share_good": "good_count / count",
    "min": "smallest Good value",
    "max": "largest Good value",
    "mean": "event-weighted mean of the Good values",
    "time_weighted_mean": "PI's time-weighted mean over the hour (step points hold, others interpolate)",
    "stddev": "sample standard deviation of the Good values",
    "first": "first Good value of the hour",
    "last": "last Good value of the hour",
    "first_timestamp": "time of the hour's first event, any quality",
    "last_timestamp": "time of the hour's last event, any quality",
    "good_seconds": "seconds of the hour covered by Good values",
}
_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "pi_tag_catalog": {
        "webid": "WebId of the PI point (key)",
        "point_id": "PI point id",
        "name": "tag name",
        "path": "\\\\server\\tag path",
        "descriptor": "PI descriptor",
        "point_class": "PI point class",
        "point_type": "PI point type (Float32, Int32, Digital, String, …)",
        "digital_set_name": "digital state set of a Digital point",
        "engineering_units": "engineering units",
        "span": "PI span",
        "zero": "PI zero",
        "step": "PI Step attribute: values hold until the next (else interpolate)",
        "future": "a future-data point",
        "display_digits": "PI display digits",
        "data_server": "PI Data Archive the point lives on",
        "first_seen_at": "first load that listed the point",
        "last_seen_at": "latest load that listed the point",
        "removed_at": "first load that no longer listed the point (null while it exists)",
        "is_active": "listed by the latest load (removed points stay, with their history)",
    },
    "pi_timeseries": {
        "timestamp": "UTC time of the recorded value",
        "sequence": "0, 1, … for several values of one tag at one timestamp; key: (tag_webid, timestamp, sequence)",
    },
    "pi_af_elements": {
        "webid": "WebId of the AF element (one row per path of it)",
        "id": "AF element id",
        "path": "path of this position in the tree (key)",
        "parent_webid": "WebId of the parent element (null at the root)",
        "depth": "0 directly under the database",
        "has_children": "the element has child elements",
        "is_primary_path": "false on the extra paths of a referenced element",
        "database": "path of the AF database",
    },
    "pi_af_attributes": {
        "element_webid": "WebId of the owning element",
        "element_path": "path of the owning element",
        "webid": "WebId of the attribute (key)",
        "id": "AF attribute id",
        "parent_path": "path of the owning attribute of a child attribute, else null",
        "type": "value type",
        "type_qualifier": "type qualifier (e.g. the enumeration set)",
        "data_reference": "data reference plug-in: empty for a static value, PI Point, Formula, …",
        "config_string": "data reference configuration",
        "is_configuration_item": "AF configuration item",
        "point_webid": "WebId of the PI point the attribute reads, as the server gave it",
        "tag_webid": "pi_tag_catalog WebId it maps to (null if none)",
        "tag_name": "name of that tag",
    },
    "pi_event_frames": {
        "day": "UTC day (the daily partition): a frame is in every day it overlaps",
        "webid": "WebId of the event frame",
        "id": "event frame id",
        "severity": "severity",
        "ref_element_webids": "WebIds of the referenced elements",
        "can_be_acknowledged": "the frame can be acknowledged",
        "is_acknowledged": "the frame is acknowledged",
        "acknowledged_by": "who acknowledged it",
        "are_values_captured": "attribute values are captured in the frame",
        "start": "UTC start",
        "end": "UTC end (null while open)",
        "is_open": "the frame has not ended",
        "duration_seconds": "end - start in seconds (null while open)",
        "acknowledged_at": "UTC time of the acknowledgement",
        "primary_element_webid": "WebId of the primary referenced element",
        "parent_webid": "WebId of the parent frame of a child frame",
        "attributes": "attribute values in the frame's time context (list of structs)",
    },
    "pi_event_frames_current": {
        "first_day": "first day the frame appears in pi_event_frames",
        "last_day": "last day the frame appears in pi_event_frames",
    },
    "pi_metrics_hourly": _METRICS,
    "pi_asset_metrics_hourly": {
        **_METRICS,
        "element_webid": "WebId of the AF element",
        "element_name": "name of the AF element",
        "element_path": "path of the AF element",
        "element_template": "template of the AF element",
        "parent_path": "path of the element's parent",
        "attribute_webid": "WebId of the AF attribute that reads the tag",
        "attribute_name": "name of the AF attribute",
    },
    "pi_summaries_hourly": {
        "tw_average": "PI time-weighted average",
        "tw_minimum": "PI time-weighted minimum",
        "tw_maximum": "PI time-weighted maximum",
        "tw_total": "PI time-weighted total",
        "tw_percent_good": "PI time-weighted percent good",
        "count": "PI event count",
        "ew_average": "PI event-weighted average",
        "ew_minimum": "PI event-weighted minimum",
        "ew_maximum": "PI event-weighted maximum",
        "ew_stddev": "PI event-weighted standard deviation",
        "ew_percent_good": "PI event-weighted percent good",
        "bad_summaries": "'<column>: <PI's error state>' for each summary PI could not compute",
        "time_weighted_basis": "PI calculationBasis of the tw_* columns",
        "event_weighted_basis": "PI calculationBasis of count and the ew_* columns",
    },
    "pi_interpolated": {
        "timestamp": "UTC time of the interpolated value",
        "interval": "spacing of the values",
    },
}
_DESCRIPTIONS["pi_event_frames_current"] |= {k: v for k, v in _DESCRIPTIONS["pi_event_frames"].items() if k != "day"}
SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "pi_tag_catalog": CATALOG_SCHEMA,
    "pi_timeseries": TIMESERIES_SCHEMA,
    "pi_af_elements": ELEMENT_SCHEMA,
    "pi_af_attributes": ATTRIBUTE_SCHEMA,
    "pi_event_frames": EVENT_FRAME_SCHEMA,
    "pi_event_frames_current": CURRENT_SCHEMA,
    "pi_metrics_hourly": METRICS_SCHEMA,
    "pi_asset_metrics_hourly": ASSET_METRICS_SCHEMA,
    "pi_summaries_hourly": SUMMARIES_SCHEMA,
    "pi_interpolated": INTERPOLATED_SCHEMA,
}


def column_schema(table: str) -> TableSchema:
    """The table's columns, their polars types and descriptions."""
    described = _SHARED | _DESCRIPTIONS[table]
    return TableSchema(
        columns=[
            TableColumn(name=column, type=str(dtype), description=described.get(column))
            for column, dtype in SCHEMAS[table].items()
        ]
    )


def table_metadata(layer: str, table: str, **extra) -> dict:
    """Definition metadata of a Delta table asset: layer (the IO manager's folder), table name and columns."""
    return {
        "schema": layer,
        "dagster/table_name": f"{layer}.{table}",
        "dagster/column_schema": MetadataValue.table_schema(column_schema(table)),
        **extra,
    }
