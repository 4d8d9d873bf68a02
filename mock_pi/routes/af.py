"""Asset Framework: asset servers, databases, elements, attributes, templates, categories, event frames.

Handlers are plain functions ``handler(mock, ctx)``; :func:`register` binds them to one mock. The JSON of
every AF object is built in :mod:`mock_pi.render_af`.
"""

from __future__ import annotations

from functools import partial

from mock_pi import render_af, webid
from mock_pi.af import ATTRIBUTE_CATEGORIES, ELEMENT_CATEGORIES, TEMPLATES, Attribute
from mock_pi.eventframes import DIRECTIONAL_MODES, SEARCH_MODES, EventFrame, search, template_matches
from mock_pi.http import Ctx, PIError
from mock_pi.router import Router
from mock_pi.routes.common import (
    check_identity,
    collection,
    filtered,
    lookup_routes,
    name_filter,
    page,
    required,
    resolve,
    sort_by_name,
    time_param,
)
from mock_pi.state import MockPI
from mock_pi.universe import Element

# -- lookups (WebID / path -> object, 404 when missing or not yet created) -----------------------------


def check_server(mock: MockPI, web_id: str) -> None:
    check_identity(web_id, "RS", mock.af.server_guid, mock.af.server_path, "asset server")


def check_database(mock: MockPI, web_id: str) -> None:
    check_identity(web_id, "RD", mock.af.database_guid, mock.af.database_path, "asset database")


def element(mock: MockPI, web_id: str) -> Element:
    found = resolve(mock.af.element_at, web_id, "element")
    if not mock.af.visible(found, mock.now_s()):
        raise PIError(404, f"The specified element was not found. WebId: '{web_id}'.")
    return found


def element_by_path(mock: MockPI, path: str) -> Element:
    found = mock.af.by_upper_path.get(path.upper())
    if found is None or not mock.af.visible(found, mock.now_s()):
        raise PIError(404, f"The specified element '{path}' was not found.")
    return found


def attribute(mock: MockPI, web_id: str) -> Attribute:
    found = resolve(mock.af.attribute_at, web_id, "attribute")
    if not mock.af.visible(mock.universe.elements[found.owner], mock.now_s()):
        raise PIError(404, f"The specified attribute was not found. WebId: '{web_id}'.")
    return found


def attribute_by_path(mock: MockPI, path: str) -> Attribute:
    element_path, _, name = path.partition("|")
    e = element_by_path(mock, element_path)
    found = next((a for a in mock.af.attributes(e) if a.name.upper() == name.upper()), None)
    if found is None:
        raise PIError(404, f"The specified attribute '{path}' was not found.")
    return found


def any_attribute(mock: MockPI, web_id: str):
    """An element attribute, or an event frame's (frame, attribute) pair."""
    if web_id[2:5] == "AbF":
        return resolve(mock.eventframe_attribute, web_id, "attribute")
    return attribute(mock, web_id)


def any_attribute_json(mock: MockPI, ctx: Ctx, found) -> dict:
    if isinstance(found, tuple):
        return render_af.eventframe_attribute(mock, ctx, *found)
    return render_af.attribute(mock, ctx, found)


def template_at(mock: MockPI, web_id: str) -> str:
    af = mock.af
    decoded = resolve(webid.decode, web_id, "element template")
    if decoded.guids:
        name = next((n for n in TEMPLATES if af.template_guid(n) == decoded.guids[-1]), None)
    else:
        name = next((n for n in TEMPLATES if af.template_path(n).lstrip("\\").upper() == decoded.path), None)
    if decoded.marker != "ET" or name is None:
        raise PIError(404, f"The specified element template was not found. WebId: '{web_id}'.")
    return name


def eventframe(mock: MockPI, web_id: str) -> EventFrame:
    return resolve(mock.eventframe, web_id, "event frame")


def eventframe_by_path(mock: MockPI, path: str) -> EventFrame:
    found = mock.eventframes.by_path(path, mock.now_s())
    if found is None:
        raise PIError(404, f"The specified event frame '{path}' was not found.")
    return found


# -- servers and databases ----------------------------------------------------------------------------


def asset_servers(mock: MockPI, ctx: Ctx):
    wanted = ctx.one("name") or (ctx.one("path") or "").lstrip("\\")
    if wanted:
        if wanted.upper() != mock.config.asset_server.upper():
            raise PIError(404, f"The specified asset server '{wanted}' was not found.")
        return render_af.asset_server(mock, ctx)
    return collection([render_af.asset_server(mock, ctx)])


def asset_server_by_id(mock: MockPI, ctx: Ctx):
    check_server(mock, ctx.route["webId"])
    return render_af.asset_server(mock, ctx)


def databases(mock: MockPI, ctx: Ctx):
    check_server(mock, ctx.route["webId"])
    return collection([render_af.database(mock, ctx)])


def database_by_path(mock: MockPI, ctx: Ctx):
    if required(ctx, "path").upper() != mock.af.database_path.upper():
        raise PIError(404, f"The specified asset database '{ctx.one('path')}' was not found.")
    return render_af.database(mock, ctx)


def database_by_id(mock: MockPI, ctx: Ctx):
    check_database(mock, ctx.route["webId"])
    return render_af.database(mock, ctx)


# -- elements -----------------------------------------------------------------------------------------


def element_search(mock: MockPI, ctx: Ctx, parent: Element | None) -> dict:
    af, now = mock.af, mock.now_s()
    candidates = af.descendants(parent) if ctx.bool("searchFullHierarchy", False) else af.children(parent)
    elements = filtered([e for e in candidates if af.visible(e, now)], ctx.one("nameFilter"))
    description = name_filter(ctx.one("descriptionFilter"))
    template, category = ctx.one("templateName"), ctx.one("categoryName")
    elements = [
        e
        for e in elements
        if template_matches(e.template, template)
        and (not category or category.upper() in (c.upper() for c in af.categories(e)))
        and (description is None or description(af.description(e)))
    ]
    return collection([render_af.element(mock, ctx, e) for e in page(mock, ctx, sort_by_name(ctx, elements))])


def root_elements(mock: MockPI, ctx: Ctx):
    check_database(mock, ctx.route["webId"])
    return element_search(mock, ctx, None)


def child_elements(mock: MockPI, ctx: Ctx):
    return element_search(mock, ctx, element(mock, ctx.route["webId"]))


# -- attributes ---------------------------------------------------------------------------------------


def attribute_filter(ctx: Ctx, attributes: list[Attribute], name_param: str, category_param: str) -> list:
    category = ctx.one(category_param)
    out = filtered(attributes, ctx.one(name_param))
    return [a for a in out if not category or a.category.upper() == category.upper()]


def element_attributes(mock: MockPI, ctx: Ctx):
    attributes = attribute_filter(
        ctx, mock.af.attributes(element(mock, ctx.route["webId"])), "nameFilter", "categoryName"
    )
    return collection([render_af.attribute(mock, ctx, a) for a in page(mock, ctx, sort_by_name(ctx, attributes))])


def child_attributes(mock: MockPI, ctx: Ctx):
    attribute(mock, ctx.route["webId"])
    return collection([])


def database_element_attributes(mock: MockPI, ctx: Ctx):
    """Attributes of many elements in one call (elementNameFilter, elementTemplate, attributeNameFilter…)."""
    check_database(mock, ctx.route["webId"])
    af, now = mock.af, mock.now_s()
    candidates = af.descendants(None) if ctx.bool("searchFullHierarchy", False) else af.children(None)
    template, category = ctx.one("elementTemplate"), ctx.one("elementCategory")
    elements = [
        e
        for e in filtered(candidates, ctx.one("elementNameFilter"))
        if af.visible(e, now)
        and template_matches(e.template, template)
        and (not category or category.upper() in (c.upper() for c in af.categories(e)))
    ]
    attributes = [
        a
        for e in sort_by_name(ctx, elements)
        for a in attribute_filter(ctx, af.attributes(e), "attributeNameFilter", "attributeCategory")
    ]
    return collection([render_af.attribute(mock, ctx, a) for a in page(mock, ctx, attributes)])


# -- templates and categories -------------------------------------------------------------------------


def element_templates(mock: MockPI, ctx: Ctx):
    check_database(mock, ctx.route["webId"])
    names = filtered(list(TEMPLATES), ctx.one("query"), name=lambda n: n)
    return collection([render_af.template(mock, ctx, n) for n in page(mock, ctx, sorted(names))])


def element_template(mock: MockPI, ctx: Ctx):
    return render_af.template(mock, ctx, template_at(mock, ctx.route["webId"]))


def attribute_templates(mock: MockPI, ctx: Ctx):
    name = template_at(mock, ctx.route["webId"])
    specs = mock.af.attribute_templates(name, inherited=ctx.bool("showInherited", False))
    return collection([render_af.attribute_template(mock, ctx, name, spec) for spec in specs])


def element_categories(mock: MockPI, ctx: Ctx):
    check_database(mock, ctx.route["webId"])
    return collection(
        [
            render_af.category(mock, ctx, "EC", "ElementCategories", name, description)
            for name, description in sorted(ELEMENT_CATEGORIES.items())
        ]
    )


def attribute_categories(mock: MockPI, ctx: Ctx):
    check_database(mock, ctx.route["webId"])
    return collection(
        [
            render_af.category(mock, ctx, "AC", "AttributeCategories", name, description)
            for name, description in sorted(ATTRIBUTE_CATEGORIES.items())
        ]
    )


# -- event frames -------------------------------------------------------------------------------------


def eventframe_search(mock: MockPI, ctx: Ctx, element: Element | None = None, parent: EventFrame | None = None) -> dict:
    mode = ctx.choice("searchMode", SEARCH_MODES, "Overlapped")
    directional = mode in DIRECTIONAL_MODES
    if directional and (ctx.one("endTime") or ctx.one("sortField")):
        raise PIError(400, f"'endTime' and 'sortField' are not allowed with searchMode '{mode}'.")
    now = mock.now_s()
    start = time_param(mock, ctx, "startTime", "*-8h")
    end = time_param(mock, ctx, "endTime", "*", relative_to=start)
    name = name_filter(ctx.one("nameFilter"))
    ref_name = name_filter(ctx.one("referencedElementNameFilter"))
    template, ref_template = ctx.one("templateName"), ctx.one("referencedElementTemplateName")
    category = ctx.one("categoryName")
    severities = {s.upper() for s in ctx.many("severity")}
    can_ack, is_ack = ctx.bool("canBeAcknowledged", None), ctx.bool("isAcknowledged", None)

    def accept(f: EventFrame) -> bool:
        t = TEMPLATES[f.template]
        return (
            (name is None or name(f.name))
            and (ref_name is None or ref_name(f.element.name))
            and template_matches(f.template, template)
            and template_matches(f.element.template, ref_template)
            and (not category or category.upper() in (c.upper() for c in t.categories))
            and (not severities or f.severity.upper() in severities)
            and (can_ack is None or t.can_be_acknowledged == can_ack)
            and (is_ack is None or (f.acknowledged_s is not None) == is_ack)
            and (element is None or f.element.index == element.index)
            and (
                parent is None
                or (f.child and f.slot == parent.slot and f.element == parent.element and f.schedule == parent.schedule)
            )
        )

    children = parent is not None or ctx.bool("searchFullHierarchy", False)
    wanted = ctx.int("startIndex", 0) + ctx.int("maxCount", 1000)
    frames = search(mock.eventframes, mode, start, end, now, children, wanted, accept)
    if parent is None and not children:
        frames = [f for f in frames if not f.child]
    if not directional:
        field = ctx.choice("sortField", ("Name", "StartTime", "EndTime"), "Name")
        descending = ctx.choice("sortOrder", ("Ascending", "Descending"), "Ascending") == "Descending"
        key = {"Name": lambda f: f.name.upper(), "StartTime": lambda f: f.start_s, "EndTime": lambda f: f.end_s}
        frames = sorted(frames, key=key[field], reverse=descending)
    return collection([render_af.eventframe(mock, ctx, f) for f in page(mock, ctx, frames)])


def database_eventframes(mock: MockPI, ctx: Ctx):
    check_database(mock, ctx.route["webId"])
    return eventframe_search(mock, ctx)


def element_eventframes(mock: MockPI, ctx: Ctx):
    return eventframe_search(mock, ctx, element=element(mock, ctx.route["webId"]))


def child_eventframes(mock: MockPI, ctx: Ctx):
    parent = eventframe(mock, ctx.route["webId"])
    kids = filtered(mock.eventframes.children(parent, mock.now_s()), ctx.one("nameFilter"))
    return collection([render_af.eventframe(mock, ctx, f) for f in page(mock, ctx, kids)])


def eventframe_attributes(mock: MockPI, ctx: Ctx):
    f = eventframe(mock, ctx.route["webId"])
    attributes = filtered(mock.eventframes.attributes(f), ctx.one("nameFilter"), name=lambda a: a["name"])
    return collection([render_af.eventframe_attribute(mock, ctx, f, a) for a in page(mock, ctx, attributes)])


def referenced_elements(mock: MockPI, ctx: Ctx):
    return collection([render_af.element(mock, ctx, eventframe(mock, ctx.route["webId"]).element)])


# -- routes -------------------------------------------------------------------------------------------

ROUTES = {
    "/piwebapi/assetservers": asset_servers,
    "/piwebapi/assetservers/{webId}": asset_server_by_id,
    "/piwebapi/assetservers/{webId}/assetdatabases": databases,
    "/piwebapi/assetdatabases": database_by_path,
    "/piwebapi/assetdatabases/{webId}": database_by_id,
    "/piwebapi/assetdatabases/{webId}/elements": root_elements,
    "/piwebapi/elements/{webId}/elements": child_elements,
    "/piwebapi/elements/{webId}/attributes": element_attributes,
    "/piwebapi/attributes/{webId}/attributes": child_attributes,
    "/piwebapi/assetdatabases/{webId}/elementattributes": database_element_attributes,
    "/piwebapi/assetdatabases/{webId}/elementtemplates": element_templates,
    "/piwebapi/elementtemplates/{webId}": element_template,
    "/piwebapi/elementtemplates/{webId}/attributetemplates": attribute_templates,
    "/piwebapi/assetdatabases/{webId}/elementcategories": element_categories,
    "/piwebapi/assetdatabases/{webId}/attributecategories": attribute_categories,
    "/piwebapi/assetdatabases/{webId}/eventframes": database_eventframes,
    "/piwebapi/elements/{webId}/eventframes": element_eventframes,
    "/piwebapi/eventframes/{webId}/eventframes": child_eventframes,
    "/piwebapi/eventframes/{webId}/attributes": eventframe_attributes,
    "/piwebapi/eventframes/{webId}/referencedelements": referenced_elements,
}


def register(router: Router, mock: MockPI) -> None:
    for pattern, handler in ROUTES.items():
        router.add("GET", pattern, partial(handler, mock))
    lookup_routes(
        router, "elements", partial(render_af.element, mock), partial(element, mock), partial(element_by_path, mock)
    )
    lookup_routes(
        router,
        "attributes",
        partial(any_attribute_json, mock),
        partial(any_attribute, mock),
        partial(attribute_by_path, mock),
    )
    lookup_routes(
        router,
        "eventframes",
        partial(render_af.eventframe, mock),
        partial(eventframe, mock),
        partial(eventframe_by_path, mock),
    )
