"""Helpers the route modules share: paging, name filters, time ranges, ``/multiple`` envelopes."""

from __future__ import annotations

import fnmatch
import re
import uuid
from collections.abc import Callable, Sequence

from mock_pi import webid
from mock_pi.http import Ctx, PIError, Reply
from mock_pi.render import child, select
from mock_pi.state import MockPI
from mock_pi.timeparse import TimeParseError, parse_time
from mock_pi.webid import WebIdError


def name_filter(pattern: str | None):
    """PI name filters: ``*``, ``?``, ``[ab]``, ``[!ab]``, case-insensitive; None = match all."""
    if not pattern or pattern == "*":
        return None
    return re.compile(fnmatch.translate(pattern), re.IGNORECASE).match


def filtered(items: Sequence, pattern: str | None, name: Callable = lambda x: x.name) -> list:
    match = name_filter(pattern)
    return list(items) if match is None else [x for x in items if match(name(x))]


def page(mock: MockPI, ctx: Ctx, items: Sequence) -> list:
    """``startIndex``/``maxCount`` paging (default 0/1000, capped by MaxReturnedItemsPerCall)."""
    start, count = ctx.int("startIndex", 0), ctx.int("maxCount", 1000)
    mock.check_max_count("maxCount", count, ctx.path)
    if start < 0:
        raise PIError(400, "Parameter 'startIndex' must be greater than or equal to 0.")
    return list(items[start : start + count])


def sort_by_name(ctx: Ctx, items: list, name: Callable = lambda x: x.name) -> list:
    descending = ctx.choice("sortOrder", ("Ascending", "Descending"), "Ascending") == "Descending"
    return sorted(items, key=lambda x: name(x).upper(), reverse=descending)


def collection(items: list) -> dict:
    return {"Links": {}, "Items": items}


def time_param(mock: MockPI, ctx: Ctx, name: str, default: str, relative_to: float | None = None) -> float:
    try:
        return parse_time(ctx.one(name, default), mock.now_s(), ctx.one("timeZone"), relative_to=relative_to)
    except TimeParseError as exc:
        raise PIError(400, str(exc)) from exc


def time_range(mock: MockPI, ctx: Ctx, default_start: str = "*-1d", default_end: str = "*") -> tuple[float, float]:
    start = time_param(mock, ctx, "startTime", default_start)
    return start, time_param(mock, ctx, "endTime", default_end, relative_to=start)


def required(ctx: Ctx, name: str) -> str:
    value = ctx.one(name)
    if not value:
        raise PIError(400, f"The '{name}' parameter is required.")
    return value


def resolve(finder: Callable[[str], object], web_id: str, what: str) -> object:
    """Look an object up by WebID: 400 for a malformed WebID, 404 when nothing has it."""
    try:
        found = finder(web_id)
    except WebIdError as exc:
        raise PIError(400, str(exc)) from exc
    if found is None:
        raise PIError(404, f"The specified {what} was not found. WebId: '{web_id}'.")
    return found


def check_identity(web_id: str, marker: str, guid: uuid.UUID, path: str, what: str) -> None:
    """A server-level WebID (data server, asset server, database) must name this object: right marker, and
    its GUID (Full/IDOnly) or path (PathOnly) — 400 when malformed, 404 otherwise."""
    decoded = resolve(webid.decode, web_id, what)
    if (
        decoded.marker != marker
        or (decoded.guids and decoded.guids[-1] != guid)
        or (decoded.path and decoded.path != path.lstrip("\\").upper())
    ):
        raise PIError(404, f"The specified {what} was not found. WebId: '{web_id}'.")


def multiple(ctx: Ctx, by_webid: Callable[[str], dict], by_path: Callable[[str], dict]) -> Reply:
    """``GET /{objects}/multiple?webId=..&path=..``: 200, or 207 when some items carry an ``Exception``."""
    requests = [("WebId", w) for w in ctx.many("webId")] + [("Path", p) for p in ctx.many("path")]
    if not requests:
        raise PIError(400, "At least one 'webId' or 'path' parameter is required.")
    items, failed = [], False
    for kind, identifier in requests:
        item = {"Identifier": identifier, "IdentifierType": kind}
        try:
            item["Object"] = (by_webid if kind == "WebId" else by_path)(identifier)
        except PIError as exc:
            item["Exception"] = {"Errors": exc.errors}
            failed = True
        items.append(item)
    selection = ctx.selection
    if selection is not None:
        object_selection = child(child(selection, "Items"), "Object")
        for item in items:
            if "Object" in item:
                item["Object"] = select(item["Object"], object_selection)
    return Reply({"Links": {}, "Items": items}, 207 if failed else 200, selected=True)


def lookup_routes(
    router,
    kind: str,
    to_json: Callable[[Ctx, object], dict],
    by_webid: Callable[[str], object],
    by_path: Callable[[str], object],
) -> None:
    """``GET /{kind}/{webId}``, ``GET /{kind}?path=`` and ``GET /{kind}/multiple`` for one object kind."""
    router.add("GET", f"/piwebapi/{kind}/{{webId}}", lambda ctx: to_json(ctx, by_webid(ctx.route["webId"])))
    router.add("GET", f"/piwebapi/{kind}", lambda ctx: to_json(ctx, by_path(required(ctx, "path"))))
    router.add(
        "GET",
        f"/piwebapi/{kind}/multiple",
        lambda ctx: multiple(ctx, lambda w: to_json(ctx, by_webid(w)), lambda p: to_json(ctx, by_path(p))),
    )
