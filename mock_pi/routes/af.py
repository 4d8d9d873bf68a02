"""Asset Framework: asset servers, databases, elements, attributes, templates, categories, event frames."""

from __future__ import annotations

import uuid

import numpy as np

from mock_pi import render, webid
from mock_pi.af import ATTRIBUTE_CATEGORIES, ELEMENT_CATEGORIES, TEMPLATES, Attribute, af_type
from mock_pi.eventframes import DIRECTIONAL_MODES, OPEN_END, SEARCH_MODES, EventFrame, search, template_matches
from mock_pi.http import Ctx, PIError
from mock_pi.router import Router
from mock_pi.routes.common import (collection, filtered, lookup_routes, name_filter, page, required, resolve,
                                   sort_by_name, time_param)
from mock_pi.state import MockPI
from mock_pi.universe import Element


def _iso(ts: float) -> str:
    return render.iso(np.array([int(ts)]))[0]


def _data_links(base: str, kind: str, wid: str) -> dict:
    """Links to stream data of an object: its own streams (attribute) or its attributes' streamsets."""
    root = f"{base}{kind}/{wid}"
    return {"InterpolatedData": f"{root}/interpolated", "RecordedData": f"{root}/recorded",
            "PlotData": f"{root}/plot", "SummaryData": f"{root}/summary", "Value": f"{root}/value",
            "EndValue": f"{root}/end"}


def register(router: Router, mock: MockPI) -> None:
    af, universe, config = mock.af, mock.universe, mock.config
    template_by_guid = {af.template_guid(name): name for name in TEMPLATES}

    # -- servers and databases ------------------------------------------------------------------

    def server_id(ctx: Ctx) -> str:
        return webid.object_webid("RS", [af.server_guid], af.server_path, ctx.webid_type)

    def database_id(ctx: Ctx) -> str:
        return webid.object_webid("RD", [af.server_guid, af.database_guid], af.database_path, ctx.webid_type)

    def asset_server(ctx: Ctx) -> dict:
        b, wid = ctx.base, server_id(ctx)
        return {"WebId": wid, "Id": str(af.server_guid), "Name": config.asset_server, "Description": "",
                "Path": af.server_path, "IsConnected": True, "ServerVersion": "2.10.9.593",
                "ServerTime": _iso(mock.now_s()), "ExtendedProperties": {},
                "Links": {"Self": f"{b}assetservers/{wid}", "Databases": f"{b}assetservers/{wid}/assetdatabases"}}

    def database(ctx: Ctx) -> dict:
        b, wid = ctx.base, database_id(ctx)
        db = f"{b}assetdatabases/{wid}"
        return {"WebId": wid, "Id": str(af.database_guid), "Name": config.asset_database,
                "Description": "The osipi mock plant", "Path": af.database_path, "ExtendedProperties": {},
                "Links": {"Self": db, "Elements": f"{db}/elements", "ElementTemplates": f"{db}/elementtemplates",
                          "EventFrames": f"{db}/eventframes", "AssetServer": f"{b}assetservers/{server_id(ctx)}",
                          "ElementCategories": f"{db}/elementcategories",
                          "AttributeCategories": f"{db}/attributecategories",
                          "ElementAttributes": f"{db}/elementattributes"}}

    def check(web_id: str, marker: str, guid: uuid.UUID, path: str, what: str) -> None:
        decoded = resolve(webid.decode, web_id, what)
        if decoded.marker != marker or (decoded.guids and decoded.guids[-1] != guid) or \
                (decoded.path and decoded.path != path.lstrip("\\").upper()):
            raise PIError(404, f"The specified {what} was not found. WebId: '{web_id}'.")

    def check_database(web_id: str) -> None:
        check(web_id, "RD", af.database_guid, af.database_path, "asset database")

    @router.route("GET", "/piwebapi/assetservers")
    def asset_servers(ctx: Ctx):
        wanted = ctx.one("name") or (ctx.one("path") or "").lstrip("\\")
        if wanted:
            if wanted.upper() != config.asset_server.upper():
                raise PIError(404, f"The specified asset server '{wanted}' was not found.")
            return asset_server(ctx)
        return collection([asset_server(ctx)])

    @router.route("GET", "/piwebapi/assetservers/{webId}")
    def asset_server_by_id(ctx: Ctx):
        check(ctx.route["webId"], "RS", af.server_guid, af.server_path, "asset server")
        return asset_server(ctx)

    @router.route("GET", "/piwebapi/assetservers/{webId}/assetdatabases")
    def databases(ctx: Ctx):
        check(ctx.route["webId"], "RS", af.server_guid, af.server_path, "asset server")
        return collection([database(ctx)])

    @router.route("GET", "/piwebapi/assetdatabases")
    def database_by_path(ctx: Ctx):
        if required(ctx, "path").upper() != af.database_path.upper():
            raise PIError(404, f"The specified asset database '{ctx.one('path')}' was not found.")
        return database(ctx)

    @router.route("GET", "/piwebapi/assetdatabases/{webId}")
    def database_by_id(ctx: Ctx):
        check_database(ctx.route["webId"])
        return database(ctx)

    # -- elements -------------------------------------------------------------------------------

    def element_json(ctx: Ctx, e: Element) -> dict:
        b, wid = ctx.base, af.element_webid(e, ctx.webid_type)
        links = {"Self": f"{b}elements/{wid}", "Attributes": f"{b}elements/{wid}/attributes",
                 "Elements": f"{b}elements/{wid}/elements", "Database": f"{b}assetdatabases/{database_id(ctx)}",
                 "Template": f"{b}elementtemplates/{af.template_webid(e.template, ctx.webid_type)}",
                 "EventFrames": f"{b}elements/{wid}/eventframes", **_data_links(b, "streamsets", wid)}
        if e.parent is not None:
            links["Parent"] = f"{b}elements/{af.element_webid(universe.elements[e.parent], ctx.webid_type)}"
        return {"WebId": wid, "Id": str(e.guid), "Name": e.name, "Description": af.description(e), "Path": e.path,
                "TemplateName": e.template, "HasChildren": bool(e.children),
                "CategoryNames": list(af.categories(e)), "ExtendedProperties": {}, "Links": links}

    def element(web_id: str) -> Element:
        found = resolve(af.element_at, web_id, "element")
        if not af.visible(found, mock.now_s()):
            raise PIError(404, f"The specified element was not found. WebId: '{web_id}'.")
        return found

    def element_by_path(path: str) -> Element:
        found = af.by_upper_path.get(path.upper())
        if found is None or not af.visible(found, mock.now_s()):
            raise PIError(404, f"The specified element '{path}' was not found.")
        return found

    def element_search(ctx: Ctx, parent: Element | None) -> dict:
        now = mock.now_s()
        full = ctx.bool("searchFullHierarchy", False)
        candidates = af.descendants(parent) if full else af.children(parent)
        elements = [e for e in candidates if af.visible(e, now)]
        elements = filtered(elements, ctx.one("nameFilter"))
        description = name_filter(ctx.one("descriptionFilter"))
        template, category = ctx.one("templateName"), ctx.one("categoryName")
        elements = [e for e in elements if template_matches(e.template, template)
                    and (not category or category.upper() in (c.upper() for c in af.categories(e)))
                    and (description is None or description(af.description(e)))]
        return collection([element_json(ctx, e) for e in page(mock, ctx, sort_by_name(ctx, elements))])

    @router.route("GET", "/piwebapi/assetdatabases/{webId}/elements")
    def root_elements(ctx: Ctx):
        check_database(ctx.route["webId"])
        return element_search(ctx, None)

    @router.route("GET", "/piwebapi/elements/{webId}/elements")
    def child_elements(ctx: Ctx):
        return element_search(ctx, element(ctx.route["webId"]))

    lookup_routes(router, "elements", element_json, element, element_by_path)

    # -- attributes -----------------------------------------------------------------------------

    def attribute_body(ctx: Ctx, wid: str, guid, name: str, path: str, type_: str, units: str, tag, owner: dict,
                       categories: list[str]) -> dict:
        """An AF attribute object (element or event-frame attribute): PI Point data reference when ``tag``."""
        b = ctx.base
        links = {"Self": f"{b}attributes/{wid}", "Attributes": f"{b}attributes/{wid}/attributes", **owner,
                 **_data_links(b, "streams", wid)}
        if tag is not None:
            links["Point"] = f"{b}points/{universe.point_webid(tag, ctx.webid_type)}"
        else:
            links["Value"] = f"{b}attributes/{wid}/value"
        sensor = tag.sensor if tag is not None else None
        return {"WebId": wid, "Id": str(guid), "Name": name, "Description": "", "Path": path, "Type": type_,
                "TypeQualifier": sensor.digital_set if sensor else "", "DefaultUnitsName": units,
                "DefaultUnitsNameAbbreviation": units, "DisplayDigits": -5,
                "DataReferencePlugIn": "PI Point" if tag else "", "ConfigString": tag.path if tag else "",
                "IsConfigurationItem": tag is None, "IsExcluded": False, "IsHidden": False,
                "IsManualDataEntry": False, "HasChildren": False, "CategoryNames": categories,
                "Step": bool(sensor and sensor.kind in ("digital", "string")), "TraitName": "",
                "Span": float(sensor.span) if sensor else 0.0, "Zero": float(sensor.zero) if sensor else 0.0,
                "Links": links}

    def attribute_json(ctx: Ctx, a: Attribute) -> dict:
        owner = universe.elements[a.owner]
        links = {"Element": f"{ctx.base}elements/{af.element_webid(owner, ctx.webid_type)}",
                 "Template": f"{ctx.base}elementtemplates/{af.template_webid(owner.template, ctx.webid_type)}"}
        return attribute_body(ctx, af.attribute_webid(a, ctx.webid_type), a.guid, a.name, a.path, a.type, a.units,
                              a.tag, links, [a.category])

    def attribute_filter(ctx: Ctx, attributes: list[Attribute], name_param: str, category_param: str) -> list:
        category = ctx.one(category_param)
        out = filtered(attributes, ctx.one(name_param))
        return [a for a in out if not category or a.category.upper() == category.upper()]

    def attribute(web_id: str) -> Attribute:
        found = resolve(af.attribute_at, web_id, "attribute")
        if not af.visible(universe.elements[found.owner], mock.now_s()):
            raise PIError(404, f"The specified attribute was not found. WebId: '{web_id}'.")
        return found

    def attribute_by_path(path: str) -> Attribute:
        element_path, _, name = path.partition("|")
        e = element_by_path(element_path)
        found = next((a for a in af.attributes(e) if a.name.upper() == name.upper()), None)
        if found is None:
            raise PIError(404, f"The specified attribute '{path}' was not found.")
        return found

    @router.route("GET", "/piwebapi/elements/{webId}/attributes")
    def element_attributes(ctx: Ctx):
        attributes = attribute_filter(ctx, af.attributes(element(ctx.route["webId"])), "nameFilter", "categoryName")
        return collection([attribute_json(ctx, a) for a in page(mock, ctx, sort_by_name(ctx, attributes))])

    def any_attribute(web_id: str):
        """An element attribute, or an event frame's (frame, attribute) pair."""
        if web_id[2:5] == "AbF":
            return resolve(mock.eventframe_attribute, web_id, "attribute")
        return attribute(web_id)

    def any_attribute_json(ctx: Ctx, found) -> dict:
        return eventframe_attribute_json(ctx, *found) if isinstance(found, tuple) else attribute_json(ctx, found)

    lookup_routes(router, "attributes", any_attribute_json, any_attribute, attribute_by_path)

    @router.route("GET", "/piwebapi/attributes/{webId}/attributes")
    def child_attributes(ctx: Ctx):
        attribute(ctx.route["webId"])
        return collection([])

    @router.route("GET", "/piwebapi/assetdatabases/{webId}/elementattributes")
    def database_element_attributes(ctx: Ctx):
        """Attributes of many elements in one call (elementNameFilter, elementTemplate, attributeNameFilter…)."""
        check_database(ctx.route["webId"])
        now = mock.now_s()
        candidates = af.descendants(None) if ctx.bool("searchFullHierarchy", False) else af.children(None)
        template, category = ctx.one("elementTemplate"), ctx.one("elementCategory")
        elements = [e for e in filtered(candidates, ctx.one("elementNameFilter")) if af.visible(e, now)
                    and template_matches(e.template, template)
                    and (not category or category.upper() in (c.upper() for c in af.categories(e)))]
        attributes = [a for e in sort_by_name(ctx, elements)
                      for a in attribute_filter(ctx, af.attributes(e), "attributeNameFilter", "attributeCategory")]
        return collection([attribute_json(ctx, a) for a in page(mock, ctx, attributes)])

    # -- templates and categories ---------------------------------------------------------------

    def template_json(ctx: Ctx, name: str) -> dict:
        t = TEMPLATES[name]
        b, wid = ctx.base, af.template_webid(name, ctx.webid_type)
        links = {"Self": f"{b}elementtemplates/{wid}", "AttributeTemplates": f"{b}elementtemplates/{wid}/attributetemplates",
                 "Database": f"{b}assetdatabases/{database_id(ctx)}"}
        if t.base:
            links["BaseTemplate"] = f"{b}elementtemplates/{af.template_webid(t.base, ctx.webid_type)}"
        return {"WebId": wid, "Id": str(af.template_guid(name)), "Name": name, "Description": t.description,
                "Path": af.template_path(name), "AllowElementToExtend": True, "BaseTemplate": t.base or "",
                "InstanceType": t.instance_type, "NamingPattern": "", "CategoryNames": list(t.categories),
                "ExtendedProperties": {}, "Severity": t.severity, "CanBeAcknowledged": t.can_be_acknowledged,
                "Links": links}

    def template_at(web_id: str) -> str:
        decoded = resolve(webid.decode, web_id, "element template")
        name = template_by_guid.get(decoded.guids[-1]) if decoded.guids else next(
            (n for n in TEMPLATES if af.template_path(n).lstrip("\\").upper() == decoded.path), None)
        if decoded.marker != "ET" or name is None:
            raise PIError(404, f"The specified element template was not found. WebId: '{web_id}'.")
        return name

    @router.route("GET", "/piwebapi/assetdatabases/{webId}/elementtemplates")
    def element_templates(ctx: Ctx):
        check_database(ctx.route["webId"])
        names = filtered(list(TEMPLATES), ctx.one("query"), name=lambda n: n)
        return collection([template_json(ctx, n) for n in page(mock, ctx, sorted(names))])

    @router.route("GET", "/piwebapi/elementtemplates/{webId}")
    def element_template(ctx: Ctx):
        return template_json(ctx, template_at(ctx.route["webId"]))

    @router.route("GET", "/piwebapi/elementtemplates/{webId}/attributetemplates")
    def attribute_templates(ctx: Ctx):
        name = template_at(ctx.route["webId"])
        owner_guid = af.template_guid(name)
        items = []
        for spec in af.attribute_templates(name, inherited=ctx.bool("showInherited", False)):
            path = f"{af.template_path(name)}|{spec['Name']}"
            guid = uuid.uuid5(universe.namespace, f"attributetemplate/{path}")
            wid = webid.object_webid("AT", [af.server_guid, owner_guid, guid], path, ctx.webid_type, owner="E")
            items.append({"WebId": wid, "Id": str(guid), "Name": spec["Name"], "Description": "", "Path": path,
                          "Type": spec["Type"], "TypeQualifier": "", "DefaultUnitsName": spec["Units"],
                          "DefaultValue": None, "DataReferencePlugIn": spec["DataReferencePlugIn"],
                          "ConfigString": spec["ConfigString"], "IsConfigurationItem": not spec["DataReferencePlugIn"],
                          "IsExcluded": False, "IsHidden": False, "IsManualDataEntry": False, "HasChildren": False,
                          "CategoryNames": [spec["Category"]], "TraitName": "",
                          "Links": {"Self": f"{ctx.base}attributetemplates/{wid}",
                                    "ElementTemplate": f"{ctx.base}elementtemplates/{af.template_webid(name, ctx.webid_type)}"}})
        return collection(items)

    def categories(ctx: Ctx, marker: str, kind: str, entries: dict[str, str]) -> dict:
        items = []
        for name, description in sorted(entries.items()):
            guid = uuid.uuid5(universe.namespace, f"{kind}/{name}")
            path = f"{af.database_path}\\{kind}[{name}]"
            wid = webid.object_webid(marker, [af.server_guid, guid], path, ctx.webid_type)
            items.append({"WebId": wid, "Id": str(guid), "Name": name, "Description": description, "Path": path,
                          "Links": {"Self": f"{ctx.base}{kind.lower()}/{wid}",
                                    "Database": f"{ctx.base}assetdatabases/{database_id(ctx)}"}})
        return collection(items)

    @router.route("GET", "/piwebapi/assetdatabases/{webId}/elementcategories")
    def element_categories(ctx: Ctx):
        check_database(ctx.route["webId"])
        return categories(ctx, "EC", "ElementCategories", ELEMENT_CATEGORIES)

    @router.route("GET", "/piwebapi/assetdatabases/{webId}/attributecategories")
    def attribute_categories(ctx: Ctx):
        check_database(ctx.route["webId"])
        return categories(ctx, "AC", "AttributeCategories", ATTRIBUTE_CATEGORIES)

    # -- event frames ---------------------------------------------------------------------------

    def eventframe_json(ctx: Ctx, f: EventFrame) -> dict:
        b, wid, kind = ctx.base, mock.eventframe_webid(f, ctx.webid_type), ctx.webid_type
        element_wid = af.element_webid(f.element, kind)
        links = {"Self": f"{b}eventframes/{wid}", "Attributes": f"{b}eventframes/{wid}/attributes",
                 "EventFrames": f"{b}eventframes/{wid}/eventframes", "Database": f"{b}assetdatabases/{database_id(ctx)}",
                 "ReferencedElements": f"{b}eventframes/{wid}/referencedelements",
                 "PrimaryReferencedElement": f"{b}elements/{element_wid}",
                 "Template": f"{b}elementtemplates/{af.template_webid(f.template, kind)}",
                 **_data_links(b, "streamsets", wid)}
        parent = mock.eventframes.parent(f, mock.now_s())
        if parent is not None:
            links["Parent"] = f"{b}eventframes/{mock.eventframe_webid(parent, kind)}"
        template = TEMPLATES[f.template]
        return {"WebId": wid, "Id": str(f.guid), "Name": f.name, "Description": template.description,
                "Path": f.path, "TemplateName": f.template, "HasChildren": f.children > 0,
                "CategoryNames": list(template.categories), "ExtendedProperties": {},
                "StartTime": _iso(f.start_s), "EndTime": OPEN_END if f.is_open else _iso(f.end_s),
                "Severity": f.severity, "AcknowledgedBy": "PLANT\\operator" if f.acknowledged_s else "",
                "AcknowledgedDate": _iso(f.acknowledged_s or 0), "CanBeAcknowledged": template.can_be_acknowledged,
                "IsAcknowledged": f.acknowledged_s is not None, "IsAnnotated": False, "IsLocked": False,
                "AreValuesCaptured": not f.is_open, "RefElementWebIds": [element_wid], "Links": links}

    def eventframe_attribute_json(ctx: Ctx, f: EventFrame, a: dict) -> dict:
        tag = a["tag"]
        owner = {"EventFrame": f"{ctx.base}eventframes/{mock.eventframe_webid(f, ctx.webid_type)}"}
        type_ = a["type"] or (af_type(tag.sensor))
        return attribute_body(ctx, mock.eventframe_attribute_webid(f, a, ctx.webid_type), a["guid"], a["name"],
                              a["path"], type_, tag.sensor.units if tag else "", tag, owner, [])

    def eventframe(web_id: str) -> EventFrame:
        return resolve(mock.eventframe, web_id, "event frame")

    def eventframe_by_path(path: str) -> EventFrame:
        found = mock.eventframes.by_path(path, mock.now_s())
        if found is None:
            raise PIError(404, f"The specified event frame '{path}' was not found.")
        return found

    def eventframe_search(ctx: Ctx, element: Element | None = None, parent: EventFrame | None = None) -> dict:
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
            return ((name is None or name(f.name)) and (ref_name is None or ref_name(f.element.name))
                    and template_matches(f.template, template)
                    and template_matches(f.element.template, ref_template)
                    and (not category or category.upper() in (c.upper() for c in t.categories))
                    and (not severities or f.severity.upper() in severities)
                    and (can_ack is None or t.can_be_acknowledged == can_ack)
                    and (is_ack is None or (f.acknowledged_s is not None) == is_ack)
                    and (element is None or f.element.index == element.index)
                    and (parent is None or (f.child and f.slot == parent.slot and f.element == parent.element
                                            and f.schedule == parent.schedule)))

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
        return collection([eventframe_json(ctx, f) for f in page(mock, ctx, frames)])

    @router.route("GET", "/piwebapi/assetdatabases/{webId}/eventframes")
    def database_eventframes(ctx: Ctx):
        check_database(ctx.route["webId"])
        return eventframe_search(ctx)

    @router.route("GET", "/piwebapi/elements/{webId}/eventframes")
    def element_eventframes(ctx: Ctx):
        return eventframe_search(ctx, element=element(ctx.route["webId"]))

    @router.route("GET", "/piwebapi/eventframes/{webId}/eventframes")
    def child_eventframes(ctx: Ctx):
        parent = eventframe(ctx.route["webId"])
        kids = filtered(mock.eventframes.children(parent, mock.now_s()), ctx.one("nameFilter"))
        return collection([eventframe_json(ctx, f) for f in page(mock, ctx, kids)])

    lookup_routes(router, "eventframes", eventframe_json, eventframe, eventframe_by_path)

    @router.route("GET", "/piwebapi/eventframes/{webId}/attributes")
    def eventframe_attributes(ctx: Ctx):
        f = eventframe(ctx.route["webId"])
        attributes = filtered(mock.eventframes.attributes(f), ctx.one("nameFilter"), name=lambda a: a["name"])
        return collection([eventframe_attribute_json(ctx, f, a) for a in page(mock, ctx, attributes)])

    @router.route("GET", "/piwebapi/eventframes/{webId}/referencedelements")
    def referenced_elements(ctx: Ctx):
        return collection([element_json(ctx, eventframe(ctx.route["webId"]).element)])
