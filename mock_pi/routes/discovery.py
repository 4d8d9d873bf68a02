"""Home, system, data servers, PI points and enumeration (digital state) sets."""

from __future__ import annotations

import uuid

from mock_pi import render, webid
from mock_pi.http import Ctx, PIError
from mock_pi.router import Router
from mock_pi.routes.common import check_identity, collection, filtered, lookup_routes, page, resolve
from mock_pi.signals import SYSTEM_STATES
from mock_pi.state import MockPI
from mock_pi.universe import DIGITAL_SETS, Tag

PRODUCT_VERSION = "1.13.0.6518"
SYSTEM_SET = "SYSTEM"


def register(router: Router, mock: MockPI) -> None:
    # mock.universe / mock.config are read per request: POST /admin/tags replaces them.

    @router.route("GET", "/piwebapi")
    def home(ctx: Ctx):
        b = ctx.base
        return {
            "Links": {
                "Self": b,
                "AssetServers": f"{b}assetservers",
                "DataServers": f"{b}dataservers",
                "System": f"{b}system",
            }
        }

    @router.route("GET", "/piwebapi/system")
    def system(ctx: Ctx):
        b = ctx.base
        return {
            "ProductTitle": "PI Web API 2019 SP1 (osipi mock)",
            "ProductVersion": PRODUCT_VERSION,
            "Links": {
                "Self": f"{b}system",
                "UserInfo": f"{b}system/userinfo",
                "Versions": f"{b}system/versions",
                "Status": f"{b}system/status",
            },
        }

    @router.route("GET", "/piwebapi/system/userinfo")
    def userinfo(ctx: Ctx):
        authenticated = "authorization" in ctx.headers
        return {
            "IdentityType": "WindowsIdentity" if authenticated else "Anonymous",
            "Name": mock.config.username or "",
            "IsAuthenticated": authenticated,
            "SID": "S-1-5-7",
            "ImpersonationLevel": "Impersonation",
        }

    def data_server_id(ctx: Ctx) -> str:
        return webid.object_webid(
            "DS", [mock.universe.data_server_guid], mock.universe.data_server_path, ctx.webid_type
        )

    def data_server(ctx: Ctx) -> dict:
        b, wid = ctx.base, data_server_id(ctx)
        return {
            "WebId": wid,
            "Id": str(mock.universe.data_server_guid),
            "Name": mock.config.data_server,
            "Path": f"\\\\PIServers[{mock.config.data_server}]",
            "IsConnected": True,
            "ServerVersion": "3.4.440.477",
            "ServerTime": render.iso1(mock.now_s()),
            "Links": {
                "Self": f"{b}dataservers/{wid}",
                "Points": f"{b}dataservers/{wid}/points",
                "EnumerationSets": f"{b}dataservers/{wid}/enumerationsets",
            },
        }

    def check_data_server(web_id: str) -> None:
        check_identity(web_id, "DS", mock.universe.data_server_guid, mock.universe.data_server_path, "data server")

    @router.route("GET", "/piwebapi/dataservers")
    def data_servers(ctx: Ctx):
        name, path = ctx.one("name"), ctx.one("path")
        if name is not None or path is not None:
            wanted = (name or (path or "").lstrip("\\")).upper()
            if wanted != mock.config.data_server.upper():
                raise PIError(404, f"The specified data server '{name or path}' was not found.")
            return data_server(ctx)
        return collection([data_server(ctx)])

    @router.route("GET", "/piwebapi/dataservers/{webId}")
    def data_server_by_id(ctx: Ctx):
        check_data_server(ctx.route["webId"])
        return data_server(ctx)

    def point(ctx: Ctx, tag: Tag, server_id: str | None = None, fields: render.Selection = None) -> dict:
        server_id = server_id or data_server_id(ctx)
        return render.point(tag, ctx.base, server_id, mock.universe.point_webid(tag, ctx.webid_type), fields)

    by_name: dict[tuple[int, int], list[Tag]] = {}

    def visible_by_name() -> list[Tag]:
        """Visible points sorted by name, sorted once per set of points rather than once per page (100,000
        tags are 100 pages of 1,000). The visible points are the ones created by now, so how many of the
        universe's tags are visible names the set (even when the clock is set back)."""
        visible = mock.universe.visible_tags(mock.now_s())
        key = (len(mock.universe.tags), len(visible))
        if key not in by_name:
            by_name.clear()
            by_name[key] = sorted(visible, key=lambda t: t.name)
        return by_name[key]

    @router.route("GET", "/piwebapi/dataservers/{webId}/points")
    def points(ctx: Ctx):
        check_data_server(ctx.route["webId"])
        tags = visible_by_name()
        server_id = data_server_id(ctx)  # the same for every point: encoded once per page, not per point
        fields = (
            render.child(ctx.selection, "Items") if ctx.selection is not None and "Items" in ctx.selection else None
        )
        listed = page(mock, ctx, filtered(tags, ctx.one("nameFilter")))
        return collection([point(ctx, t, server_id, fields) for t in listed])

    def tag_by_path(path: str) -> Tag:
        server, _, name = path.lstrip("\\").partition("\\")
        tag = (
            mock.universe.tags_by_upper_name.get(name.upper())
            if server.upper() == mock.config.data_server.upper()
            else None
        )
        if tag is None or tag.created_s > mock.now_s():
            raise PIError(404, f"PI Point not found '{path}'.")
        return tag

    lookup_routes(router, "points", point, mock.tag, tag_by_path)

    @router.route("GET", "/piwebapi/points/{webId}/attributes")
    def point_attributes(ctx: Ctx):
        tag = mock.tag(ctx.route["webId"])
        s = tag.sensor
        values = {
            "tag": tag.name,
            "descriptor": tag.descriptor,
            "pointtype": s.point_type,
            "engunits": s.units,
            "zero": s.zero,
            "span": s.span,
            "pointsource": "OPC",
            "digitalset": s.digital_set,
            "compressing": 1,
            "step": int(s.kind in ("digital", "string")),
            "pointid": tag.point_id,
        }
        return collection(
            filtered([{"Name": k, "Value": v} for k, v in values.items()], ctx.one("name"), name=lambda a: a["Name"])
        )

    # -- enumeration sets (digital state sets) ------------------------------------------------------

    def enumeration_sets() -> dict[str, list[tuple[str, int, bool]]]:
        sets = {name: [(state, i, False) for i, state in enumerate(states)] for name, states in DIGITAL_SETS.items()}
        sets[SYSTEM_SET] = [(state, code, True) for code, state in sorted(SYSTEM_STATES.items())]
        return sets

    def set_guid(name: str) -> uuid.UUID:
        return uuid.uuid5(mock.universe.namespace, f"enumerationset/{name}")

    def set_path(name: str) -> str:
        return f"{mock.universe.data_server_path}\\{name}"

    def set_webid(ctx: Ctx, name: str) -> str:
        return webid.object_webid(
            "MS", [mock.universe.data_server_guid, set_guid(name)], set_path(name), ctx.webid_type, owner="D"
        )

    def enumeration_set(ctx: Ctx, name: str) -> dict:
        wid = set_webid(ctx, name)
        return {
            "WebId": wid,
            "Id": str(set_guid(name)),
            "Name": name,
            "Description": f"{name} states",
            "Path": set_path(name),
            "Links": {
                "Self": f"{ctx.base}enumerationsets/{wid}",
                "Values": f"{ctx.base}enumerationsets/{wid}/enumerationvalues",
            },
        }

    def set_by_webid(web_id: str) -> str:
        decoded = resolve(webid.decode, web_id, "enumeration set")
        for name in enumeration_sets():
            if decoded.marker == "MS" and (
                set_guid(name) in decoded.guids or decoded.path == set_path(name).lstrip("\\").upper()
            ):
                return name
        raise PIError(404, f"The specified enumeration set was not found. WebId: '{web_id}'.")

    @router.route("GET", "/piwebapi/dataservers/{webId}/enumerationsets")
    def enumeration_set_list(ctx: Ctx):
        check_data_server(ctx.route["webId"])
        return collection([enumeration_set(ctx, n) for n in enumeration_sets()])

    @router.route("GET", "/piwebapi/enumerationsets/{webId}")
    def enumeration_set_by_id(ctx: Ctx):
        return enumeration_set(ctx, set_by_webid(ctx.route["webId"]))

    @router.route("GET", "/piwebapi/enumerationsets/{webId}/enumerationvalues")
    def enumeration_values(ctx: Ctx):
        name = set_by_webid(ctx.route["webId"])
        parent = set_webid(ctx, name)
        items = []
        for state, value, _system in enumeration_sets()[name]:
            guid = uuid.uuid5(mock.universe.namespace, f"enumerationvalue/{name}/{value}")
            path = f"{set_path(name)}\\{state}"
            wid = webid.object_webid(
                "MV", [mock.universe.data_server_guid, set_guid(name), guid], path, ctx.webid_type, owner="D"
            )
            items.append(
                {
                    "WebId": wid,
                    "Id": str(guid),
                    "Name": state,
                    "Value": value,
                    "Description": "",
                    "Path": path,
                    "Parent": name,
                    "Links": {
                        "Self": f"{ctx.base}enumerationvalues/{wid}",
                        "EnumerationSet": f"{ctx.base}enumerationsets/{parent}",
                    },
                }
            )
        return collection(items)
