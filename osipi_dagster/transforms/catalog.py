"""PI point objects → the ``pi_tag_catalog`` table, with the history of which points exist."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from itertools import islice

import polars as pl

from osipi_dagster.pi.values import UTC_TIMESTAMP

# PI Point field → catalog column (docs/pi-web-api.md#points-and-the-data-server).
POINT_COLUMNS: dict[str, tuple[str, pl.DataType]] = {
    "WebId": ("webid", pl.String()),
    "Id": ("point_id", pl.Int64()),
    "Name": ("name", pl.String()),
    "Path": ("path", pl.String()),
    "Descriptor": ("descriptor", pl.String()),
    "PointClass": ("point_class", pl.String()),
    "PointType": ("point_type", pl.String()),
    "DigitalSetName": ("digital_set_name", pl.String()),
    "EngineeringUnits": ("engineering_units", pl.String()),
    "Span": ("span", pl.Float64()),
    "Zero": ("zero", pl.Float64()),
    "Step": ("step", pl.Boolean()),
    "Future": ("future", pl.Boolean()),
    "DisplayDigits": ("display_digits", pl.Int64()),
}
SELECTED_FIELDS = ";".join(f"Items.{field}" for field in POINT_COLUMNS)

CATALOG_SCHEMA = {
    **{column: dtype for column, dtype in POINT_COLUMNS.values()},
    "data_server": pl.String(),
    "first_seen_at": UTC_TIMESTAMP,  # first load that listed the point
    "last_seen_at": UTC_TIMESTAMP,  # latest load that listed it
    "removed_at": UTC_TIMESTAMP,  # first load that no longer listed it (null while it exists)
    "is_active": pl.Boolean(),
}


POINTS_PER_FRAME = 10_000  # decoded point objects alive at once while the catalog is built


def points_frame(points: Iterable[dict], data_server: str) -> pl.DataFrame:
    """One row per listed PI point; a point listed twice (pages shifting during paging) is kept once.

    Built ``POINTS_PER_FRAME`` points at a time: the Python objects of 100,000 points would take more
    memory than their columns do."""
    schema = {column: dtype for column, dtype in POINT_COLUMNS.values()}
    frames = []
    points = iter(points)
    while chunk := list(islice(points, POINTS_PER_FRAME)):
        columns = {column: [point.get(field) for point in chunk] for field, (column, _) in POINT_COLUMNS.items()}
        frames.append(pl.DataFrame(columns, schema=schema))
    frame = pl.concat(frames, rechunk=True) if frames else pl.DataFrame(schema=schema)
    return frame.unique(subset="webid", keep="first", maintain_order=True).with_columns(data_server=pl.lit(data_server))


def catalog_frame(listed: pl.DataFrame, previous: pl.DataFrame | None, loaded_at: datetime) -> pl.DataFrame:
    """The new catalog: listed points are active; points of the previous catalog that are no longer
    listed stay, marked removed (their history in ``pi_timeseries`` stays joinable)."""
    now = pl.lit(loaded_at, dtype=UTC_TIMESTAMP)
    if previous is None or previous.is_empty():
        previous = pl.DataFrame(schema=CATALOG_SCHEMA)
    seen = previous.select("webid", "first_seen_at")
    active = listed.join(seen, on="webid", how="left").with_columns(
        first_seen_at=pl.coalesce("first_seen_at", now),
        last_seen_at=now,
        removed_at=pl.lit(None, dtype=UTC_TIMESTAMP),
        is_active=pl.lit(True),
    )
    gone = previous.join(listed.select("webid"), on="webid", how="anti").with_columns(
        removed_at=pl.coalesce("removed_at", now), is_active=pl.lit(False)
    )
    return (
        pl.concat([active.select(list(CATALOG_SCHEMA)), gone.select(list(CATALOG_SCHEMA))])
        .cast(CATALOG_SCHEMA)
        .sort("name")
    )
