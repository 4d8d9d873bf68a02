"""PI Web API JSON shapes of AF objects: asset servers, databases, elements, attributes, templates,
categories and event frames (the AF counterpart of :mod:`mock_pi.render`).

Each builder takes the :class:`~mock_pi.state.MockPI`, the request (for the absolute ``Links`` base and
``webIdType``) and the object.
"""

from __future__ import annotations

import uuid

from mock_pi import webid
from mock_pi.af import TEMPLATES, Attribute, af_type
from mock_pi.eventframes import OPEN_END, EventFrame
from mock_pi.http import Ctx
from mock_pi.render import iso1
from mock_pi.state import MockPI
from mock_pi.universe import Element, Tag

ASSET_SERVER_VERSION = "2.10.9.593"


def data_links(base: str, kind: str, wid: str) -> dict:
    """Links to stream data of an object: its own streams (attribute) or its attributes' streamsets."""
    root = f"{base}{kind}/{wid}"
    return {
        "InterpolatedData": f"{root}/interpolated",
        "RecordedData": f"{root}/recorded",
        "PlotData": f"{root}/plot",
        "SummaryData": f"{root}/summary",
        "Value": f"{root}/value",
        "EndValue": f"{root}/end",
    }


def asset_server(mock: MockPI, ctx: Ctx) -> dict:
    af, b = mock.af, ctx.base
    wid = af.server_webid(ctx.webid_type)
    return {
        "WebId": wid,
        "Id": str(af.server_guid),
        "Name": mock.config.asset_server,
        "Description": "",
        "Path": af.server_path,
        "IsConnected": True,
        "ServerVersion": ASSET_SERVER_VERSION,
        "ServerTime": iso1(mock.now_s()),
        "ExtendedProperties": {},
        "Links": {"Self": f"{b}assetservers/{wid}", "Databases": f"{b}assetservers/{wid}/assetdatabases"},
    }


def database(mock: MockPI, ctx: Ctx) -> dict:
    af, b = mock.af, ctx.base
    wid = af.database_webid(ctx.webid_type)
    db = f"{b}assetdatabases/{wid}"
    return {
        "WebId": wid,
        "Id": str(af.database_guid),
        "Name": mock.config.asset_database,
        "Description": "The osipi mock plant",
        "Path": af.database_path,
        "ExtendedProperties": {},
        "Links": {
            "Self": db,
            "Elements": f"{db}/elements",
            "ElementTemplates": f"{db}/elementtemplates",
            "EventFrames": f"{db}/eventframes",
            "AssetServer": f"{b}assetservers/{af.server_webid(ctx.webid_type)}",
            "ElementCategories": f"{db}/elementcategories",
            "AttributeCategories": f"{db}/attributecategories",
            "ElementAttributes": f"{db}/elementattributes",
        },
    }


def _database_link(mock: MockPI, ctx: Ctx) -> str:
    return f"{ctx.base}assetdatabases/{mock.af.database_webid(ctx.webid_type)}"


def element(mock: MockPI, ctx: Ctx, e: Element) -> dict:
    af, b, kind = mock.af, ctx.base, ctx.webid_type
    wid = af.element_webid(e, kind)
    links = {
        "Self": f"{b}elements/{wid}",
        "Attributes": f"{b}elements/{wid}/attributes",
        "Elements": f"{b}elements/{wid}/elements",
        "Database": _database_link(mock, ctx),
        "Template": f"{b}elementtemplates/{af.template_webid(e.template, kind)}",
        "EventFrames": f"{b}elements/{wid}/eventframes",
        **data_links(b, "streamsets", wid),
    }
    if e.parent is not None:
        links["Parent"] = f"{b}elements/{af.element_webid(mock.universe.elements[e.parent], kind)}"
    return {
        "WebId": wid,
        "Id": str(e.guid),
        "Name": e.name,
        "Description": af.description(e),
        "Path": e.path,
        "TemplateName": e.template,
        "HasChildren": bool(e.children),
        "CategoryNames": list(af.categories(e)),
        "ExtendedProperties": {},
        "Links": links,
    }


def _attribute_body(
    mock: MockPI,
    ctx: Ctx,
    wid: str,
    guid,
    name: str,
    path: str,
    type_: str,
    units: str,
    tag: Tag | None,
    owner: dict,
    categories: list[str],
) -> dict:
    """An AF attribute object (element or event-frame attribute): PI Point data reference when ``tag``."""
    b = ctx.base
    links = {
        "Self": f"{b}attributes/{wid}",
        "Attributes": f"{b}attributes/{wid}/attributes",
        **owner,
        **data_links(b, "streams", wid),
    }
    if tag is not None:
        links["Point"] = f"{b}points/{mock.universe.point_webid(tag, ctx.webid_type)}"
    else:
        links["Value"] = f"{b}attributes/{wid}/value"
    sensor = tag.sensor if tag is not None else None
    return {
        "WebId": wid,
        "Id": str(guid),
        "Name": name,
        "Description": "",
        "Path": path,
        "Type": type_,
        "TypeQualifier": sensor.digital_set if sensor else "",
        "DefaultUnitsName": units,
        "DefaultUnitsNameAbbreviation": units,
        "DisplayDigits": -5,
        "DataReferencePlugIn": "PI Point" if tag else "",
        "ConfigString": tag.path if tag else "",
        "IsConfigurationItem": tag is None,
        "IsExcluded": False,
        "IsHidden": False,
        "IsManualDataEntry": False,
        "HasChildren": False,
        "CategoryNames": categories,
        "Step": bool(sensor and sensor.kind in ("digital", "string")),
        "TraitName": "",
        "Span": float(sensor.span) if sensor else 0.0,
        "Zero": float(sensor.zero) if sensor else 0.0,
        "Links": links,
    }


def attribute(mock: MockPI, ctx: Ctx, a: Attribute) -> dict:
    af, kind = mock.af, ctx.webid_type
    owner = mock.universe.elements[a.owner]
    links = {
        "Element": f"{ctx.base}elements/{af.element_webid(owner, kind)}",
        "Template": f"{ctx.base}elementtemplates/{af.template_webid(owner.template, kind)}",
    }
    return _attribute_body(
        mock, ctx, af.attribute_webid(a, kind), a.guid, a.name, a.path, a.type, a.units, a.tag, links, [a.category]
    )


def eventframe_attribute(mock: MockPI, ctx: Ctx, f: EventFrame, a: dict) -> dict:
    tag = a["tag"]
    owner = {"EventFrame": f"{ctx.base}eventframes/{mock.eventframe_webid(f, ctx.webid_type)}"}
    type_ = a["type"] or af_type(tag.sensor)
    return _attribute_body(
        mock,
        ctx,
        mock.eventframe_attribute_webid(f, a, ctx.webid_type),
        a["guid"],
        a["name"],
        a["path"],
        type_,
        tag.sensor.units if tag else "",
        tag,
        owner,
        [],
    )


def template(mock: MockPI, ctx: Ctx, name: str) -> dict:
    af, b, kind = mock.af, ctx.base, ctx.webid_type
    t = TEMPLATES[name]
    wid = af.template_webid(name, kind)
    links = {
        "Self": f"{b}elementtemplates/{wid}",
        "AttributeTemplates": f"{b}elementtemplates/{wid}/attributetemplates",
        "Database": _database_link(mock, ctx),
    }
    if t.base:
        links["BaseTemplate"] = f"{b}elementtemplates/{af.template_webid(t.base, kind)}"
    return {
        "WebId": wid,
        "Id": str(af.template_guid(name)),
        "Name": name,
        "Description": t.description,
        "Path": af.template_path(name),
        "AllowElementToExtend": True,
        "BaseTemplate": t.base or "",
        "InstanceType": t.instance_type,
        "NamingPattern": "",
        "CategoryNames": list(t.categories),
        "ExtendedProperties": {},
        "Severity": t.severity,
        "CanBeAcknowledged": t.can_be_acknowledged,
        "Links": links,
    }


def attribute_template(mock: MockPI, ctx: Ctx, template_name: str, spec: dict) -> dict:
    af, kind = mock.af, ctx.webid_type
    path = f"{af.template_path(template_name)}|{spec['Name']}"
    guid = uuid.uuid5(mock.universe.namespace, f"attributetemplate/{path}")
    wid = webid.object_webid("AT", [af.server_guid, af.template_guid(template_name), guid], path, kind, owner="E")
    return {
        "WebId": wid,
        "Id": str(guid),
        "Name": spec["Name"],
        "Description": "",
        "Path": path,
        "Type": spec["Type"],
        "TypeQualifier": "",
        "DefaultUnitsName": spec["Units"],
        "DefaultValue": None,
        "DataReferencePlugIn": spec["DataReferencePlugIn"],
        "ConfigString": spec["ConfigString"],
        "IsConfigurationItem": not spec["DataReferencePlugIn"],
        "IsExcluded": False,
        "IsHidden": False,
        "IsManualDataEntry": False,
        "HasChildren": False,
        "CategoryNames": [spec["Category"]],
        "TraitName": "",
        "Links": {
            "Self": f"{ctx.base}attributetemplates/{wid}",
            "ElementTemplate": f"{ctx.base}elementtemplates/{af.template_webid(template_name, kind)}",
        },
    }


def category(mock: MockPI, ctx: Ctx, marker: str, kind: str, name: str, description: str) -> dict:
    """An element (``EC``, ``ElementCategories``) or attribute (``AC``, ``AttributeCategories``) category."""
    af = mock.af
    guid = uuid.uuid5(mock.universe.namespace, f"{kind}/{name}")
    path = f"{af.database_path}\\{kind}[{name}]"
    wid = webid.object_webid(marker, [af.server_guid, guid], path, ctx.webid_type)
    return {
        "WebId": wid,
        "Id": str(guid),
        "Name": name,
        "Description": description,
        "Path": path,
        "Links": {"Self": f"{ctx.base}{kind.lower()}/{wid}", "Database": _database_link(mock, ctx)},
    }


def eventframe(mock: MockPI, ctx: Ctx, f: EventFrame) -> dict:
    af, b, kind = mock.af, ctx.base, ctx.webid_type
    wid = mock.eventframe_webid(f, kind)
    element_wid = af.element_webid(f.element, kind)
    links = {
        "Self": f"{b}eventframes/{wid}",
        "Attributes": f"{b}eventframes/{wid}/attributes",
        "EventFrames": f"{b}eventframes/{wid}/eventframes",
        "Database": _database_link(mock, ctx),
        "ReferencedElements": f"{b}eventframes/{wid}/referencedelements",
        "PrimaryReferencedElement": f"{b}elements/{element_wid}",
        "Template": f"{b}elementtemplates/{af.template_webid(f.template, kind)}",
        **data_links(b, "streamsets", wid),
    }
    parent = mock.eventframes.parent(f, mock.now_s())
    if parent is not None:
        links["Parent"] = f"{b}eventframes/{mock.eventframe_webid(parent, kind)}"
    t = TEMPLATES[f.template]
    return {
        "WebId": wid,
        "Id": str(f.guid),
        "Name": f.name,
        "Description": t.description,
        "Path": f.path,
        "TemplateName": f.template,
        "HasChildren": f.children > 0,
        "CategoryNames": list(t.categories),
        "ExtendedProperties": {},
        "StartTime": iso1(f.start_s),
        "EndTime": OPEN_END if f.is_open else iso1(f.end_s),
        "Severity": f.severity,
        "AcknowledgedBy": "PLANT\\operator" if f.acknowledged_s else "",
        "AcknowledgedDate": iso1(f.acknowledged_s or 0),
        "CanBeAcknowledged": t.can_be_acknowledged,
        "IsAcknowledged": f.acknowledged_s is not None,
        "IsAnnotated": False,
        "IsLocked": False,
        "AreValuesCaptured": not f.is_open,
        "RefElementWebIds": [element_wid],
        "Links": links,
    }
