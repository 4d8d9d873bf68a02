"""The mock PI Web API as an ASGI app (FastAPI routes, orjson bodies, PI-shaped errors).

Routes follow shared/pi-web-api.md. Bodies are built as plain dicts and encoded with orjson: no
pydantic models in the hot path. Every error is ``{"Errors": [...]}`` (401: ``{"Message": ...}``),
never FastAPI's ``{"detail": ...}``.
"""

from __future__ import annotations

import base64
import fnmatch
import re
import time
from functools import lru_cache

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from mock_pi import render, signals
from mock_pi.config import MockConfig
from mock_pi.signals import Events
from mock_pi.timeparse import TimeParseError, parse_time
from mock_pi.universe import Tag, Universe
from mock_pi.webid import WebIdError, decode

PRODUCT_VERSION = "1.13.0.6518"


class PIError(Exception):
    """An error answered in the PI Web API's shape."""

    def __init__(self, status: int, *errors: str):
        super().__init__(errors[0] if errors else str(status))
        self.status = status
        self.errors = list(errors)


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json; charset=utf-8",
                    headers=headers)


class MockPI:
    """State and semantics of one mock PI System, independent of HTTP."""

    def __init__(self, config: MockConfig):
        self.config = config
        self.universe = Universe(config)
        self._profile = lru_cache(maxsize=None)(signals.profile)

    def now_s(self) -> float:
        return self.config.now.timestamp() if self.config.now else time.time()

    def check_max_count(self, name: str, value: int) -> None:
        limit = self.config.max_returned_items_per_call
        if value > limit:
            raise PIError(400, f"Parameter '{name}' is greater than the maximum allowed ({limit}).")
        if value < 1:
            raise PIError(400, f"Parameter '{name}' must be greater than 0.")

    def tag(self, web_id: str) -> Tag:
        try:
            tag = self.universe.find_tag(web_id)
        except WebIdError as exc:
            raise PIError(400, str(exc)) from exc
        if tag is None or tag.created_s > self.now_s():
            raise PIError(404, f"The specified PI Point was not found. WebId: '{web_id}'.")
        return tag

    def recorded(self, tag: Tag, start_s: float, end_s: float, max_count: int) -> tuple[Events, bool]:
        """Recorded events between two times, truncated silently at ``max_count`` like PI does.

        Returns the events and whether they are in descending order (``end < start``).
        """
        descending = end_s < start_s
        lo, hi = (end_s, start_s) if descending else (start_s, end_s)
        events = signals.recorded(tag, lo, hi, self.now_s(), self.config.seed, self.config.late_lag_seconds,
                                  self._profile(tag))
        if descending:
            events = events.take(slice(None, None, -1))
        if len(events) > max_count:
            events = events.take(slice(0, max_count))
        return events, descending


# -- request helpers --------------------------------------------------------------------------------

def params(request: Request) -> dict[str, list[str]]:
    """Query parameters with case-insensitive names (as the ASP.NET server treats them)."""
    out: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        out.setdefault(name.lower(), []).append(value)
    return out


def one(p: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    values = p.get(name.lower())
    return values[0] if values else default


def int_param(p: dict[str, list[str]], name: str, default: int) -> int:
    text = one(p, name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise PIError(400, f"The value '{text}' is not valid for parameter '{name}'.") from exc


def base_url(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}/piwebapi/"


def name_filter(pattern: str | None):
    """PI name filters: ``*``, ``?``, ``[ab]``, ``[!ab]``, case-insensitive."""
    if not pattern or pattern == "*":
        return None
    return re.compile(fnmatch.translate(pattern), re.IGNORECASE).match


def time_range(mock: MockPI, p: dict, default_start: str = "*-1d", default_end: str = "*") -> tuple[float, float]:
    now = mock.now_s()
    tz = one(p, "timeZone")
    try:
        start = parse_time(one(p, "startTime", default_start), now, tz)
        end = parse_time(one(p, "endTime", default_end), now, tz, relative_to=start)
    except TimeParseError as exc:
        raise PIError(400, str(exc)) from exc
    return start, end


# -- auth -------------------------------------------------------------------------------------------

class AuthMiddleware:
    """Basic / Bearer auth when configured; anonymous otherwise. 401 bodies use ``Message``."""

    def __init__(self, app, config: MockConfig):
        self.app = app
        self.accepted: set[str] = set()
        if config.username is not None:
            creds = base64.b64encode(f"{config.username}:{config.password or ''}".encode()).decode()
            self.accepted.add(f"Basic {creds}")
        if config.bearer_token:
            self.accepted.add(f"Bearer {config.bearer_token}")
        self.challenge = "Bearer" if config.bearer_token and config.username is None else "Basic"

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            if headers.get(b"authorization", b"").decode("latin-1") not in self.accepted:
                response = json_response({"Message": "Authorization has been denied for this request."}, 401,
                                         {"WWW-Authenticate": f'{self.challenge} realm="mock_pi"'})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


# -- app --------------------------------------------------------------------------------------------

def create_app(config: MockConfig | None = None) -> FastAPI:
    mock = MockPI(config or MockConfig())
    universe = mock.universe
    app = FastAPI(title="mock PI Web API", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.mock = mock

    @app.exception_handler(PIError)
    async def _pi_error(_request: Request, exc: PIError):
        return json_response({"Errors": exc.errors}, exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException):
        message = "The requested resource was not found." if exc.status_code == 404 else str(exc.detail)
        return json_response({"Errors": [message]}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError):
        return json_response({"Errors": [str(e.get("msg")) for e in exc.errors()]}, 400)

    def respond(request: Request, body: dict, p: dict | None = None) -> Response:
        selection = render.parse_selected_fields(one(p if p is not None else params(request), "selectedFields"))
        return json_response(render.select(body, selection))

    @app.get("/piwebapi")
    @app.get("/piwebapi/")
    async def home(request: Request):
        b = base_url(request)
        return respond(request, {"Links": {"Self": b, "AssetServers": f"{b}assetservers",
                                           "DataServers": f"{b}dataservers", "System": f"{b}system"}})

    @app.get("/piwebapi/system")
    async def system(request: Request):
        b = base_url(request)
        return respond(request, {"ProductTitle": "PI Web API 2019 SP1 (osipi mock)", "ProductVersion": PRODUCT_VERSION,
                                 "Links": {"Self": f"{b}system", "UserInfo": f"{b}system/userinfo",
                                           "Versions": f"{b}system/versions", "Status": f"{b}system/status"}})

    def data_server(request: Request) -> dict:
        b = base_url(request)
        wid = universe.data_server_webid
        return {
            "WebId": wid, "Id": str(universe.data_server_guid), "Name": mock.config.data_server,
            "Path": f"\\\\PIServers[{mock.config.data_server}]", "IsConnected": True,
            "ServerVersion": "3.4.440.477", "ServerTime": render.iso(np.array([int(mock.now_s())]))[0],
            "Links": {"Self": f"{b}dataservers/{wid}", "Points": f"{b}dataservers/{wid}/points",
                      "EnumerationSets": f"{b}dataservers/{wid}/enumerationsets"},
        }

    def check_data_server(web_id: str) -> None:
        if web_id != universe.data_server_webid:
            try:
                decoded = decode(web_id)
            except WebIdError as exc:
                raise PIError(400, str(exc)) from exc
            if decoded.marker != "DS" or (decoded.guids and decoded.guids[0] != universe.data_server_guid):
                raise PIError(404, f"The specified data server was not found. WebId: '{web_id}'.")

    @app.get("/piwebapi/dataservers")
    async def data_servers(request: Request):
        p = params(request)
        name, path = one(p, "name"), one(p, "path")
        server = data_server(request)
        if name is not None or path is not None:
            wanted = (name or (path or "").lstrip("\\")).upper()
            if wanted != mock.config.data_server.upper():
                raise PIError(404, f"The specified data server '{name or path}' was not found.")
            return respond(request, server, p)
        return respond(request, {"Links": {}, "Items": [server]}, p)

    @app.get("/piwebapi/dataservers/{web_id}")
    async def data_server_by_id(request: Request, web_id: str):
        check_data_server(web_id)
        return respond(request, data_server(request))

    @app.get("/piwebapi/dataservers/{web_id}/points")
    async def points(request: Request, web_id: str):
        check_data_server(web_id)
        p = params(request)
        start, count = int_param(p, "startIndex", 0), int_param(p, "maxCount", 1000)
        mock.check_max_count("maxCount", count)
        match = name_filter(one(p, "nameFilter"))
        tags = sorted(universe.visible_tags(mock.now_s()), key=lambda t: t.name)
        if match is not None:
            tags = [t for t in tags if match(t.name)]
        b = base_url(request)
        kind = one(p, "webIdType", "Full")
        page = [render.point(t, b, universe.data_server_webid, universe.point_webid(t, kind))
                for t in tags[start:start + count]]
        return respond(request, {"Links": {}, "Items": page}, p)

    @app.get("/piwebapi/points/{web_id}")
    async def point_by_id(request: Request, web_id: str):
        tag = mock.tag(web_id)
        return respond(request, render.point(tag, base_url(request), universe.data_server_webid))

    @app.get("/piwebapi/points")
    async def point_by_path(request: Request):
        p = params(request)
        path = one(p, "path")
        if not path:
            raise PIError(400, "The 'path' parameter is required.")
        server, _, name = path.lstrip("\\").partition("\\")
        tag = universe.tags_by_upper_name.get(name.upper()) if server.upper() == mock.config.data_server.upper() else None
        if tag is None or tag.created_s > mock.now_s():
            raise PIError(404, f"PI Point not found '{path}'.")
        return respond(request, render.point(tag, base_url(request), universe.data_server_webid), p)

    def recorded_body(tag: Tag, p: dict, value_selection) -> tuple[list, int]:
        start, end = time_range(mock, p)
        max_count = int_param(p, "maxCount", 1000)
        mock.check_max_count("maxCount", max_count)
        events, _desc = mock.recorded(tag, start, end, max_count)
        return render.timed_values(tag, events, value_selection), len(events)

    @app.get("/piwebapi/streams/{web_id}/recorded")
    async def stream_recorded(request: Request, web_id: str):
        p = params(request)
        tag = mock.tag(web_id)
        selection = render.parse_selected_fields(one(p, "selectedFields"))
        items, _ = recorded_body(tag, p, render.child(selection, "Items"))
        body = {"Links": {}, "Items": items, "UnitsAbbreviation": ""}
        if selection is not None:
            body = {k: v for k, v in body.items() if k in selection}
        return json_response(body)

    @app.get("/piwebapi/streamsets/recorded")
    async def streamset_recorded(request: Request):
        p = params(request)
        web_ids = p.get("webid", [])
        if not web_ids:
            raise PIError(400, "The 'webId' parameter is required.")
        mock.check_max_count("webId", len(web_ids))
        selection = render.parse_selected_fields(one(p, "selectedFields"))
        stream_sel = render.child(selection, "Items")
        value_sel = render.child(stream_sel, "Items")
        b = base_url(request)
        streams = []
        for wid in web_ids:
            try:
                tag = mock.tag(wid)
            except PIError as exc:
                if exc.status != 404:
                    raise
                streams.append({"WebId": wid, "Items": [], "UnitsAbbreviation": "",
                                "WebException": {"StatusCode": 404, "Errors": exc.errors}})
                continue
            items, _ = recorded_body(tag, p, value_sel)
            stream = {"WebId": wid, "Name": tag.name, "Path": tag.path,
                      "Links": {"Source": f"{b}points/{wid}"}, "Items": items, "UnitsAbbreviation": ""}
            if stream_sel is not None:
                stream = {k: v for k, v in stream.items() if k in stream_sel}
            streams.append(stream)
        body = {"Links": {}, "Items": streams}
        if selection is not None:
            body = {k: v for k, v in body.items() if k in selection}
        return json_response(body)

    if mock.config.username is not None or mock.config.bearer_token:
        app.add_middleware(AuthMiddleware, config=mock.config)
    return app


def create_app_from_env():
    """Factory for ``uvicorn --factory`` workers: the config travels in an environment variable."""
    return create_app(MockConfig.from_env())
