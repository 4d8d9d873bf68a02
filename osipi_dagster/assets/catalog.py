"""``pi_tag_catalog``: every PI point of the data server, one row per tag, removed ones kept and marked."""

from datetime import UTC, datetime

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, asset

from osipi_dagster.assets.columns import table_metadata
from osipi_dagster.automation import daily_refresh_condition
from osipi_dagster.resources.lakehouse import DeltaLakehouse
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.transforms.catalog import SELECTED_FIELDS, catalog_frame, points_frame


@asset(
    group_name="bronze",
    kinds={"polars", "deltalake"},
    metadata=table_metadata("bronze", "pi_tag_catalog"),
    automation_condition=daily_refresh_condition(),
)
def pi_tag_catalog(context: AssetExecutionContext, pi: PIWebAPIResource, lakehouse: DeltaLakehouse) -> pl.DataFrame:
    """Every PI point (webid, name, path, descriptor, type, units, span/zero, step…) matching the
    resource's ``tag_filter``, read page by page from the data server. Points that disappeared since
    the previous load stay in the table with ``is_active = false`` and ``removed_at`` set."""
    client = pi.client
    server = client.data_server(pi.data_server)
    context.log.info(f"Listing points of data server {server.get('Name')} (filter '{pi.tag_filter}')")
    listed = points_frame(
        client.points(server["WebId"], pi.tag_filter, selected_fields=SELECTED_FIELDS), server.get("Name", "")
    )
    previous = lakehouse.scan("bronze", "pi_tag_catalog")
    frame = catalog_frame(listed, previous.collect() if previous is not None else None, datetime.now(UTC))
    active = frame.filter(pl.col("is_active"))
    context.log.info(f"{active.height:,} active points, {frame.height - active.height:,} removed")
    context.add_output_metadata(
        {
            "dagster/row_count": frame.height,
            "active_tags": active.height,
            "removed_tags": frame.height - active.height,
            "point_types": MetadataValue.json(dict(active.group_by("point_type").len().iter_rows())),
            "pi_requests": client.stats.requests,
        }
    )
    return frame
