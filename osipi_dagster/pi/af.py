"""Crawl PI AF: databases, the element hierarchy, element attributes, event frames and their values.

Only documented PI Web API calls (docs/pi-web-api.md#batch, #asset-framework, #event-frames), so the crawl
runs unchanged against a real server:

* elements: one ``searchFullHierarchy=true`` search per database, paged with ``startIndex`` (a few
  requests for 10,000+ elements, instead of one request per parent), ``associations=Paths`` so an
  element referenced under several parents reports all its paths;
* attributes: ``POST batch`` of ``elements/{webId}/attributes`` sub-requests (the usual PI Web API bulk
  pattern, docs/pi-web-api.md#batch), a bounded number of batches in flight; an element with a full page
  is paged on its own, so nothing is truncated;
* event frames: ``searchMode=Overlapped`` between two times, ``searchFullHierarchy=true`` (otherwise PI
  returns root frames only), paged; their attribute values via ``streamsets/{frameWebId}/value``.

A sub-request that fails fails the crawl, naming the object and PI's error: a table never silently
misses part of the tree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from urllib.parse import urlencode

from osipi_dagster.pi.client import PIWebAPIClient, items_of
from osipi_dagster.pi.errors import PIWebAPIError
from osipi_dagster.pi.time_window import pi_time

DATABASE_FIELDS = "WebId;Id;Name;Path;Description"
ELEMENT_FIELDS = ";".join(
    f"Items.{f}"
    for f in ("WebId", "Id", "Name", "Path", "Paths", "Description", "TemplateName", "HasChildren", "CategoryNames")
)
ATTRIBUTE_FIELDS = ";".join(
    f"Items.{f}"
    for f in (
        "WebId",
        "Id",
        "Name",
        "Path",
        "Description",
        "Type",
        "TypeQualifier",
        "DefaultUnitsName",
        "DefaultUnitsNameAbbreviation",
        "DataReferencePlugIn",
        "ConfigString",
        "IsConfigurationItem",
        "CategoryNames",
        "Links.Point",
    )
)
EVENT_FRAME_FIELDS = ";".join(
    f"Items.{f}"
    for f in (
        "WebId",
        "Id",
        "Name",
        "Path",
        "Description",
        "TemplateName",
        "CategoryNames",
        "StartTime",
        "EndTime",
        "Severity",
        "RefElementWebIds",
        "CanBeAcknowledged",
        "IsAcknowledged",
        "AcknowledgedBy",
        "AcknowledgedDate",
        "AreValuesCaptured",
        "Links.PrimaryReferencedElement",
        "Links.Parent",
    )
)
FRAME_VALUE_FIELDS = "Items.WebId;Items.Name;Items.Path;Items.UnitsAbbreviation;Items.Value"

DEFAULT_PAGE_SIZE = 1000  # PI's own default maxCount for collections
# Each page of a search is a new search on the server (AF re-runs it and skips startIndex items), so
# searches use big pages: 5,000 event frames of the 30k-tag mock take 1.6 s in 10k pages, 13 s in 1k.
SEARCH_PAGE_SIZE = 10_000
DEFAULT_PER_BATCH = 100  # sub-requests per POST batch (other open-source PI Web API clients use 150-500)


def asset_databases(client: PIWebAPIClient, paths: Sequence[str] = ()) -> list[dict]:
    """The AF databases at ``paths`` (``\\\\AFSRV\\DB``), or every database of every asset server."""
    if paths:
        return [client.get("assetdatabases", {"path": path, "selectedFields": DATABASE_FIELDS}) for path in paths]
    servers = items_of(client.get("assetservers", {"selectedFields": "Items.WebId"}), client.url("assetservers"))
    fields = ";".join(f"Items.{f}" for f in DATABASE_FIELDS.split(";"))
    databases = []
    for server in servers:  # not a paged collection in the PI Web API reference
        path = f"assetservers/{server['WebId']}/assetdatabases"
        databases += items_of(client.get(path, {"selectedFields": fields}), client.url(path))
    return databases


def elements(client: PIWebAPIClient, database_webid: str, page_size: int = SEARCH_PAGE_SIZE) -> list[dict]:
    """Every element of a database (all levels), with ``Paths`` where the server reports them."""
    params = {"searchFullHierarchy": "true", "associations": "Paths", "selectedFields": ELEMENT_FIELDS}
    return list(client.paged(f"assetdatabases/{database_webid}/elements", params, page_size))


def element_attributes(
    client: PIWebAPIClient,
    element_webids: Iterable[str],
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    per_batch: int = DEFAULT_PER_BATCH,
    concurrency: int = 4,
) -> dict[str, list[dict]]:
    """Attributes (child attributes included) of each element, keyed by element WebId."""
    params = {"searchFullHierarchy": "true", "selectedFields": ATTRIBUTE_FIELDS}
    requests = {webid: (f"elements/{webid}/attributes", params) for webid in dict.fromkeys(element_webids)}
    return batch_collections(client, requests, page_size=page_size, per_batch=per_batch, concurrency=concurrency)


def event_frames(
    client: PIWebAPIClient, database_webid: str, start: datetime, end: datetime, page_size: int = SEARCH_PAGE_SIZE
) -> list[dict]:
    """Every event frame (child frames included) active at any time in ``[start, end]``.

    PI's ``Overlapped`` range is closed at both ends; callers that need half-open windows filter.
    """
    params = {
        "searchMode": "Overlapped",
        "startTime": pi_time(start),
        "endTime": pi_time(end),
        "searchFullHierarchy": "true",
        "selectedFields": EVENT_FRAME_FIELDS,
    }
    frames = client.paged(f"assetdatabases/{database_webid}/eventframes", params, page_size)
    return list({frame["WebId"]: frame for frame in frames}.values())  # a paging shift must not double one


def event_frame_values(
    client: PIWebAPIClient, frame_webids: Iterable[str], *, per_batch: int = DEFAULT_PER_BATCH, concurrency: int = 4
) -> dict[str, list[dict]]:
    """The attribute values of each event frame in its own time context (``streamsets/{webId}/value``):
    one ``{WebId, Name, Path, UnitsAbbreviation, Value: TimedValue}`` per attribute."""
    params = {"selectedFields": FRAME_VALUE_FIELDS}
    requests = {webid: (f"streamsets/{webid}/value", params) for webid in dict.fromkeys(frame_webids)}
    return batch_collections(client, requests, page_size=None, per_batch=per_batch, concurrency=concurrency)


def batch_collections(
    client: PIWebAPIClient,
    requests: dict[str, tuple[str, dict]],
    *,
    page_size: int | None,
    per_batch: int = DEFAULT_PER_BATCH,
    concurrency: int = 4,
) -> dict[str, list[dict]]:
    """``Items`` of many collection GETs, sent as ``POST batch`` requests of ``per_batch`` sub-requests.

    With ``page_size`` each sub-request asks for one page and a full page is read again on its own with
    paging (PI truncates silently); ``None`` is for endpoints that do not page. A failed sub-request is
    sent again on its own (so the client's retries apply); if that fails too, :class:`PIWebAPIError`
    names the failed requests.
    """
    keys = list(requests)
    batches = [keys[i : i + per_batch] for i in range(0, len(keys), max(1, per_batch))]
    paging = {"startIndex": 0, "maxCount": page_size} if page_size else {}

    def fetch_alone(path: str, params: dict) -> list[dict]:
        if page_size:
            return list(client.paged(path, params, page_size))
        return items_of(client.get(path, params), client.url(path))

    def run(batch: list[str]) -> dict[str, list[dict]]:
        answers = client.batch_get(
            [f"{client.url(requests[key][0])}?{urlencode({**requests[key][1], **paging})}" for key in batch]
        )
        results, failures = {}, {}
        for key, answer in zip(batch, answers):
            items = answer.items
            if items is not None and not (page_size and len(items) >= page_size):
                results[key] = items
                continue
            error = answer.error if items is None else None
            try:  # a failed sub-request (with the client's retries) or a full page: fetched on its own
                results[key] = fetch_alone(*requests[key])
            except PIWebAPIError as exc:
                failures[key] = f"{error}; alone: {exc}" if error else str(exc)
        if failures:
            shown = "; ".join(f"{requests[k][0]}: {e}" for k, e in list(failures.items())[:5])
            raise PIWebAPIError(
                f"{len(failures)} of {len(batch)} batched requests failed", url=client.url("batch"), errors=[shown]
            )
        return results

    out: dict[str, list[dict]] = {}
    with ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="pi-af") as pool:
        for part in pool.map(run, batches):
            out.update(part)
    return out
