"""PI point objects → the ``pi_tag_catalog`` table."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import polars as pl

# PI Point field → catalog column (shared/pi-web-api.md §1.4).
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
    "loaded_at": pl.Datetime("us", "UTC"),
}


def catalog_frame(points: Iterable[dict], data_server: str, loaded_at: datetime) -> pl.DataFrame:
    """One row per PI point, sorted by name; a point listed twice (paging shift) is kept once."""
    rows = {field: [] for field in POINT_COLUMNS}
    for point in points:
        for field, values in rows.items():
            values.append(point.get(field))
    frame = pl.DataFrame(
        {column: rows[field] for field, (column, _) in POINT_COLUMNS.items()},
        schema={column: dtype for column, dtype in POINT_COLUMNS.values()},
    )
    return (
        frame.unique(subset="webid", keep="first", maintain_order=True)
        .with_columns(data_server=pl.lit(data_server), loaded_at=pl.lit(loaded_at, dtype=pl.Datetime("us", "UTC")))
        .sort("name")
    )
