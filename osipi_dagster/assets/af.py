"""``pi_af_elements`` and ``pi_af_attributes``: the AF asset tree, and which tag each attribute reads."""

import time
from datetime import UTC, datetime

import polars as pl
from dagster import AssetExecutionContext, asset

from osipi_dagster.assets.columns import table_metadata
from osipi_dagster.automation import daily_refresh_or_first_load_condition
from osipi_dagster.pi import af
from osipi_dagster.pi.client import PIWebAPIClient
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.transforms.af import attributes_frame, elements_frame


def pi_load_metadata(frame: pl.DataFrame, client: PIWebAPIClient, began: float, **extra) -> dict:
    """Output metadata shared by the AF and event-frame loads: rows, PI requests so far, seconds."""
    return {
        "dagster/row_count": frame.height,
        **extra,
        "pi_requests": client.stats.requests,
        "seconds": round(time.perf_counter() - began, 3),
    }


def search_page_size(pi: PIWebAPIResource) -> int:
    """Big search pages, but never above the server's MaxReturnedItemsPerCall."""
    return min(af.SEARCH_PAGE_SIZE, pi.max_items_per_call)


@asset(
    group_name="bronze",
    kinds={"polars", "deltalake"},
    metadata=table_metadata("bronze", "pi_af_elements"),
    automation_condition=daily_refresh_or_first_load_condition(),
    pool="pi_web_api",
)
def pi_af_elements(context: AssetExecutionContext, pi: PIWebAPIResource) -> pl.DataFrame:
    """One row per position of an element in each AF database: webid, id, name, path, parent_webid (from
    the parent path), depth, template, categories, has_children, description. ``path`` identifies a
    position: an element referenced under several parents has one row per path, with the same webid
    (``is_primary_path`` marks its own path)."""
    client, began = pi.client, time.perf_counter()
    loaded_at = datetime.now(UTC)
    frames = []
    for database in af.asset_databases(client, pi.af_databases):
        items = af.elements(client, database["WebId"], search_page_size(pi))
        frames.append(elements_frame(database, items, loaded_at))
        context.log.info(f"{database['Path']}: {len(items):,} elements")
    frame = pl.concat(frames) if frames else elements_frame({"Path": ""}, [], loaded_at)
    context.add_output_metadata(
        pi_load_metadata(
            frame,
            client,
            began,
            elements=frame["webid"].n_unique(),
            databases=len(frames),
            max_depth=frame["depth"].max(),
        )
    )
    return frame


@asset(
    group_name="silver",
    kinds={"polars", "deltalake"},
    metadata=table_metadata("silver", "pi_af_attributes"),
    automation_condition=daily_refresh_or_first_load_condition(),
    pool="pi_web_api",
)
def pi_af_attributes(
    context: AssetExecutionContext, pi: PIWebAPIResource, pi_af_elements: pl.DataFrame, pi_tag_catalog: pl.DataFrame
) -> pl.DataFrame:
    """One row per element attribute: element webid and path, attribute webid, name, path, type, units,
    data reference and config string, and for ``PI Point`` attributes the ``tag_webid`` of
    ``pi_tag_catalog`` it reads — the join key from time series to assets."""
    client, began = pi.client, time.perf_counter()
    by_element = af.element_attributes(
        client,
        pi_af_elements["webid"].unique(maintain_order=True).to_list(),
        per_batch=pi.streams_per_request,
        concurrency=pi.max_concurrent_requests,
    )
    frame = attributes_frame(by_element, pi_tag_catalog, datetime.now(UTC))
    points = frame.filter(pl.col("data_reference") == "PI Point")
    unresolved = points.filter(pl.col("tag_webid").is_null())
    if unresolved.height:
        context.log.warning(
            f"{unresolved.height:,} PI Point attributes read no catalogued tag, e.g. "
            f"{unresolved['path'].head(3).to_list()}"
        )
    context.add_output_metadata(
        pi_load_metadata(
            frame, client, began, point_attributes=points.height, unresolved_point_attributes=unresolved.height
        )
    )
    return frame
