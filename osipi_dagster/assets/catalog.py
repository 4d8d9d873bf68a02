"""``pi_tag_catalog``: every PI point of the data server, one row per tag."""

from datetime import datetime, timezone

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, asset

from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.transforms.catalog import SELECTED_FIELDS, catalog_frame


@asset(
    group_name="bronze",
    kinds={"polars", "deltalake"},
    metadata={"schema": "bronze"},
)
def pi_tag_catalog(context: AssetExecutionContext, pi: PIWebAPIResource) -> pl.DataFrame:
    """Every PI point (webid, name, path, descriptor, type, units, span/zero, step…) matching the
    resource's ``tag_filter``, read page by page from the data server."""
    client = pi.client
    server = client.data_server(pi.data_server)
    context.log.info(f"Listing points of data server {server.get('Name')} (filter '{pi.tag_filter}')")
    points = client.points(server["WebId"], pi.tag_filter, selected_fields=SELECTED_FIELDS)
    frame = catalog_frame(points, server.get("Name", ""), datetime.now(timezone.utc))
    context.log.info(f"{frame.height:,} points")
    context.add_output_metadata({
        "dagster/row_count": frame.height,
        "point_types": MetadataValue.json(dict(frame.group_by("point_type").len().iter_rows())),
        "pi_requests": client.stats.requests,
    })
    return frame
