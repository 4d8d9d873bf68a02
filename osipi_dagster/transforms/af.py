"""AF elements and attributes (PI Web API JSON) → the ``pi_af_elements`` and ``pi_af_attributes`` tables."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pyarrow as pa

from osipi_dagster.pi.values import UTC_TIMESTAMP

ELEMENT_SCHEMA = {
    "webid": pl.String(),
    "id": pl.String(),
    "name": pl.String(),
    "path": pl.String(),  # identity of a position in the tree (one row per path)
    "parent_webid": pl.String(),  # null for a root element
    "parent_path": pl.String(),
    "depth": pl.Int32(),  # 0 = directly under the database
    "template": pl.String(),
    "categories": pl.List(pl.String()),
    "has_children": pl.Boolean(),
    "description": pl.String(),
    "is_primary_path": pl.Boolean(),  # False on the extra paths of a referenced element
    "database": pl.String(),
    "loaded_at": UTC_TIMESTAMP,
}
ATTRIBUTE_SCHEMA = {
    "element_webid": pl.String(),
    "element_path": pl.String(),
    "webid": pl.String(),
    "id": pl.String(),
    "name": pl.String(),
    "path": pl.String(),
    "parent_path": pl.String(),  # the owning attribute of a child attribute, else null
    "type": pl.String(),
    "type_qualifier": pl.String(),
    "units": pl.String(),
    "data_reference": pl.String(),  # "" for a static value, "PI Point", "Formula", …
    "config_string": pl.String(),
    "categories": pl.List(pl.String()),
    "is_configuration_item": pl.Boolean(),
    "point_webid": pl.String(),  # from Links.Point, as the server gave it
    "tag_webid": pl.String(),  # the pi_tag_catalog webid it maps to (null if none)
    "tag_name": pl.String(),
    "description": pl.String(),
    "loaded_at": UTC_TIMESTAMP,
}


_ELEMENT_FIELDS = {  # PI field → (column, dtype); the rest of ELEMENT_SCHEMA is derived
    "WebId": ("webid", pl.String()),
    "Id": ("id", pl.String()),
    "Name": ("name", pl.String()),
    "Path": ("primary_path", pl.String()),
    "Paths": ("paths", pl.List(pl.String())),
    "TemplateName": ("template", pl.String()),
    "CategoryNames": ("categories", pl.List(pl.String())),
    "HasChildren": ("has_children", pl.Boolean()),
    "Description": ("description", pl.String()),
}


def elements_frame(database: dict, items: list[dict], loaded_at: datetime) -> pl.DataFrame:
    """One row per *position* of an element: an element referenced under several parents has one row per
    path (its ``Paths``), all with its webid. ``parent_webid`` is looked up from the parent path among the
    crawled elements (AF paths are case-insensitive)."""
    database_path = database["Path"]
    unique = list({item["WebId"]: item for item in items}.values())  # a paging shift may list one twice
    positions = (
        pi_columns(unique, _ELEMENT_FIELDS)
        .with_columns(
            path=pl.when(pl.col("paths").list.len() > 0).then("paths").otherwise(pl.concat_list("primary_path"))
        )
        .explode("path")
        .unique(["webid", "path"], maintain_order=True)
        .with_columns(parent_path=pl.col("path").str.replace(r"\\[^\\]*$", ""))
        .with_columns(
            parent_path=pl.when(pl.col("parent_path").str.to_uppercase() != database_path.upper()).then("parent_path")
        )
    )
    parents = positions.select(
        pl.col("path").str.to_uppercase().alias("_parent"), pl.col("webid").alias("parent_webid")
    )
    return (
        positions.with_columns(_parent=pl.col("parent_path").str.to_uppercase())
        .join(parents, on="_parent", how="left", maintain_order="left")
        .with_columns(
            depth=pl.col("path").str.count_matches("\\", literal=True) - database_path.count("\\") - 1,
            template=_non_empty("template"),
            categories=pl.col("categories").fill_null([]),
            is_primary_path=pl.col("path") == pl.col("primary_path"),
            database=pl.lit(database_path),
            loaded_at=pl.lit(loaded_at, dtype=UTC_TIMESTAMP),
        )
        .select([pl.col(c).cast(t) for c, t in ELEMENT_SCHEMA.items()])
        .sort("path")
    )


_ATTRIBUTE_FIELDS = {  # PI field → (column, dtype); the rest of ATTRIBUTE_SCHEMA is derived
    "WebId": ("webid", pl.String()),
    "Id": ("id", pl.String()),
    "Name": ("name", pl.String()),
    "Path": ("path", pl.String()),
    "Description": ("description", pl.String()),
    "Type": ("type", pl.String()),
    "TypeQualifier": ("type_qualifier", pl.String()),
    "DataReferencePlugIn": ("data_reference", pl.String()),
    "ConfigString": ("config_string", pl.String()),
    "CategoryNames": ("categories", pl.List(pl.String())),
    "IsConfigurationItem": ("is_configuration_item", pl.Boolean()),
    "DefaultUnitsNameAbbreviation": ("units_abbreviation", pl.String()),
    "DefaultUnitsName": ("units_name", pl.String()),
}


def pi_columns(items: list[dict], fields: dict[str, tuple[str, pl.DataType]]) -> pl.DataFrame:
    """PI objects → one column per field, through Arrow (6× faster than polars for list columns)."""
    table = pa.table({column: pa.array([item.get(field) for item in items]) for field, (column, _) in fields.items()})
    return pl.from_arrow(table).cast({column: dtype for column, dtype in fields.values()})


def link_webid(url: pl.Expr) -> pl.Expr:
    """The WebId at the end of a ``Links`` URL (``…/points/{webId}``); WebIds are URL-safe base64."""
    return url.str.replace(r"\?.*$", "").str.strip_chars_end("/").str.split("/").list.last()


def _non_empty(column: str) -> pl.Expr:
    return pl.when(pl.col(column) != "").then(pl.col(column))


def attributes_frame(by_element: dict[str, list[dict]], catalog: pl.DataFrame, loaded_at: datetime) -> pl.DataFrame:
    """One row per element attribute; ``PI Point`` attributes get the catalog ``tag_webid`` they read.

    The point is matched by the WebId in ``Links.Point``, else (a server that returns another WebId type)
    by the PI point path or name in ``ConfigString`` (``\\\\server\\tag;options`` or ``\\\\server?id\\tag?id``).
    """
    attributes = [attribute for attrs in by_element.values() for attribute in attrs]
    path = pl.col("path")
    frame = pi_columns(attributes, _ATTRIBUTE_FIELDS).with_columns(
        element_webid=pl.Series([e for e, attrs in by_element.items() for _ in attrs], dtype=pl.String),
        point_webid=link_webid(pl.Series([(a.get("Links") or {}).get("Point") for a in attributes], dtype=pl.String)),
        element_path=path.str.split("|").list.first(),
        parent_path=pl.when(path.str.count_matches("|", literal=True) > 1).then(path.str.replace(r"\|[^|]*$", "")),
        units=pl.coalesce(_non_empty("units_abbreviation"), _non_empty("units_name")),
        type_qualifier=_non_empty("type_qualifier"),
        config_string=_non_empty("config_string"),
        data_reference=pl.col("data_reference").fill_null(""),
        categories=pl.col("categories").fill_null([]),
    )
    return (
        resolve_points(frame, catalog)
        .with_columns(loaded_at=pl.lit(loaded_at, dtype=UTC_TIMESTAMP))
        .select(list(ATTRIBUTE_SCHEMA))
        .sort("path")
    )


def resolve_points(frame: pl.DataFrame, catalog: pl.DataFrame) -> pl.DataFrame:
    """Add ``tag_webid``/``tag_name`` to PI Point attributes: by point WebId, else by path, else by name."""
    tags = catalog.select(
        pl.col("webid").alias("tag_webid"),
        pl.col("name").alias("tag_name"),
        pl.col("path").str.to_uppercase().alias("tag_path"),
        pl.col("name").str.to_uppercase().alias("tag_upper"),
    )
    reference = pl.col("config_string").str.split(";").list.first().str.replace_all(r"\?[^\\]*", "").str.to_uppercase()
    is_point = pl.col("data_reference") == "PI Point"
    frame = frame.with_columns(
        _by_webid=pl.when(is_point).then(pl.col("point_webid")),
        _by_path=pl.when(is_point & reference.str.starts_with("\\\\")).then(reference),
        _by_name=pl.when(is_point & ~reference.str.starts_with("\\\\")).then(reference),
    )
    for key, column in (("_by_webid", "tag_webid"), ("_by_path", "tag_path"), ("_by_name", "tag_upper")):
        match = tags.select(
            pl.col(column).alias(key),
            pl.col("tag_webid").alias(f"{key}_webid"),
            pl.col("tag_name").alias(f"{key}_name"),
        ).unique(key, keep="first")
        frame = frame.join(match, on=key, how="left", maintain_order="left")
    keys = ("_by_webid", "_by_path", "_by_name")
    return frame.with_columns(
        tag_webid=pl.coalesce([f"{k}_webid" for k in keys]),
        tag_name=pl.coalesce([f"{k}_name" for k in keys]),
    ).drop([c for k in keys for c in (k, f"{k}_webid", f"{k}_name")])
