"""The mock PI Web API as an ASGI app.

A thin ASGI shell around :class:`~mock_pi.router.Router`: it reads the request, applies the server-level
rules in PI's order — request size (413), rate limit (429), authentication (401), CSRF defence (POST
needs ``X-Requested-With``), injected faults — dispatches, and writes the body (gzip when the client asks).
``/admin/*`` (fault settings, server limits, clock, tags added at run time) bypasses all of that. Every error body is
``{"Errors": [...]}`` (401: ``{"Message": ...}``), never a framework's ``{"detail": ...}``.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections import defaultdict

import orjson
from starlette.datastructures import State
from zlib_ng import zlib_ng

from mock_pi import batch
from mock_pi import faults as fault_tools
from mock_pi.auth import MockAuth
from mock_pi.config import MockConfig
from mock_pi.http import JSON_TYPE, Ctx, PIError, Reply, error_reply, parse_query
from mock_pi.render import iso1
from mock_pi.router import Router
from mock_pi.routes import af as af_routes
from mock_pi.routes import discovery, streams
from mock_pi.state import MockPI
from mock_pi.timeparse import TimeParseError, parse_time

__all__ = ["MockPI", "PIError", "create_app", "create_app_from_env", "MockApp"]

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
GZIP_MIN_BYTES = 1024


class MockApp:
    """ASGI application; ``state.mock`` is the :class:`MockPI` it serves."""

    def __init__(self, mock: MockPI):
        self.mock = mock
        self.state = State()
        self.state.mock = mock
        self.router = Router()
        discovery.register(self.router, mock)
        streams.register(self.router, mock)
        af_routes.register(self.router, mock)
        self.router.add("POST", "/piwebapi/batch", self._batch)
        self.admin = Router()
        _register_admin(self.admin, mock)
        self._auth = MockAuth(mock.config)
        self._rate: dict[tuple[str, int], int] = defaultdict(int)
        self._rate_lock = threading.Lock()

    # -- ASGI ------------------------------------------------------------------------------------

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        limit = self.mock.config.max_request_content_length
        body, too_large = await _read_body(receive, limit, int(headers.get("content-length") or 0))
        client = scope.get("client") or ("", 0)
        ctx = Ctx(
            scope["method"],
            scope["path"],
            _query(scope),
            headers,
            body,
            _base(scope, headers),
            client[0],
            connection=f"{client[0]}:{client[1]}",
        )
        answer = await self._handle(ctx, too_large, receive)
        if answer is None:
            return  # the client went away while its request hung: nothing to send
        status, payload, extra = answer
        out_headers = [(b"content-type", JSON_TYPE.encode())]
        for name, values in {**(extra or {}), **ctx.reply_headers}.items():  # a list value = the header repeated
            for value in values if isinstance(values, list) else [values]:
                out_headers.append((name.lower().encode(), str(value).encode()))
        if self.mock.config.gzip and len(payload) >= GZIP_MIN_BYTES and "gzip" in headers.get("accept-encoding", ""):
            # zlib-ng: ~3x faster than zlib at level 1, so the mock's gzip costs the shared cores little
            compressor = zlib_ng.compressobj(1, zlib_ng.DEFLATED, 31)
            payload = compressor.compress(payload) + compressor.flush()
            out_headers += [(b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding")]
        out_headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send({"type": "http.response.body", "body": payload})

    async def _handle(self, ctx: Ctx, too_large: bool, receive) -> tuple[int, bytes, dict | None] | None:
        if ctx.path.startswith("/admin/"):
            reply = self.admin.dispatch(ctx)
            return reply.status, reply.encode(), reply.headers
        if too_large:
            limit = self.mock.config.max_request_content_length
            return _error(413, f"The request content length exceeds the maximum allowed ({limit} bytes).")
        if self._rate_limited(ctx.client):
            return _error(429, "Rate limit was reached.", {"Retry-After": "1"})
        answered = self._auth.gate(ctx)  # 401s and the token endpoint (mock_pi/auth.py)
        if answered:
            return answered
        if self.mock.config.csrf_defense and ctx.method in UNSAFE_METHODS and "x-requested-with" not in ctx.headers:
            return _error(
                403,
                "The request is missing the 'X-Requested-With' header required by the server's "
                "CSRF defence (EnableCSRFDefense).",
            )
        f = self.mock.faults
        f.count_request()
        if not f.applies(ctx.path):
            reply = self.router.dispatch(ctx)
            return reply.status, reply.encode(), reply.headers
        delay = f.latency_s()
        if f.draw("hang", f.settings.hang_rate):
            if await _client_left_within(receive, delay + f.settings.hang_seconds):
                f.count("hang_abandoned")
                return None
        elif delay:
            await asyncio.sleep(delay)
        retry = {"Retry-After": str(f.settings.retry_after_s)}
        if f.draw("rate_limited", f.settings.rate_429):
            return _error(429, "Rate limit was reached.", retry)
        if f.draw("unavailable", f.settings.rate_503):
            return _error(503, "The service is temporarily unavailable.", retry)
        reply = self.router.dispatch(ctx)
        if reply.status < 300 and ctx.path.lower().startswith("/piwebapi/streamsets/"):
            reply.body = f.damage_stream_items(reply.body)
        if (
            reply.status < 300
            and isinstance(reply.body, dict)
            and "Items" in reply.body
            and f.draw("webexception", f.settings.webexception_rate)
        ):
            reply.body = fault_tools.with_webexception(reply.body)
        payload = reply.encode()
        if reply.status < 300:
            for kind, rate in (("malformed", f.settings.malformed_rate), ("truncated", f.settings.truncated_rate)):
                if f.draw(kind, rate):
                    payload = fault_tools.corrupt(payload, kind)
                    break
        value_delay = f.value_latency_s(payload)
        if value_delay:
            await asyncio.sleep(value_delay)
        return reply.status, payload, reply.headers

    def _rate_limited(self, client: str) -> bool:
        limit = self.mock.config.rate_limit_per_second
        if limit <= 0:
            return False
        second = int(time.monotonic())
        with self._rate_lock:
            if len(self._rate) > 10_000:
                self._rate = defaultdict(int, {k: v for k, v in self._rate.items() if k[1] == second})
            self._rate[(client, second)] += 1
            return self._rate[(client, second)] > limit

    # -- batch -----------------------------------------------------------------------------------

    def _batch(self, ctx: Ctx) -> Reply:
        try:
            body = orjson.loads(ctx.body or b"null")
        except orjson.JSONDecodeError as exc:
            raise PIError(400, f"The batch request body is not valid JSON: {exc}") from exc
        runner = batch.Batch(
            self.router.dispatch,
            ctx,
            self.mock.faults,
            prefetch=lambda ctxs: streams.prefetch_recorded(self.mock, ctxs),
        )
        return Reply(runner.run(body), 207, selected=True)


def _error(status: int, message: str, headers: dict | None = None) -> tuple[int, bytes, dict | None]:
    reply = error_reply(PIError(status, message))
    return status, reply.encode(), headers


async def _client_left_within(receive, seconds: float) -> bool:
    """Wait ``seconds``, or less if the client disconnects first (then True): a hung request must not
    hold the server after its client has given up."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:  # the body is already read: the next message is the disconnect
        waiter = asyncio.ensure_future(receive())
        done, _ = await asyncio.wait({waiter}, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
        if not done:
            waiter.cancel()
            return False
        if waiter.result().get("type") == "http.disconnect":
            return True


async def _read_body(receive, limit: int, declared: int) -> tuple[bytes, bool]:
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks), size > limit or declared > limit


def _query(scope) -> list[tuple[str, str]]:
    return parse_query(scope.get("query_string", b"").decode("latin-1"))


def _base(scope, headers: dict[str, str]) -> str:
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("localhost", None)
        host = f"{server[0]}:{server[1]}" if server[1] else server[0]
    return f"{scope.get('scheme', 'http')}://{host}/piwebapi/"


def _register_admin(router: Router, mock: MockPI) -> None:
    """``/admin/faults``, ``/admin/limits``, ``/admin/clock`` and ``/admin/tags``: test and demo control, outside
    PI's surface (no auth, no faults)."""

    def body(ctx: Ctx) -> dict:
        try:
            data = orjson.loads(ctx.body or b"{}")
        except orjson.JSONDecodeError as exc:
            raise PIError(400, f"Invalid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise PIError(400, "Expected a JSON object.")
        return data

    @router.route("GET", "/admin/faults")
    def get_faults(ctx: Ctx):
        return mock.faults.snapshot()

    @router.route("POST", "/admin/faults")
    def set_faults(ctx: Ctx):
        try:
            mock.faults.configure(body(ctx))
        except (TypeError, ValueError) as exc:
            raise PIError(400, str(exc)) from exc
        return mock.faults.snapshot()

    def limits() -> dict:
        per_call, per_endpoint = mock.limits
        return {"MaxReturnedItemsPerCall": per_call, "MaxReturnedItemsFor": dict(per_endpoint)}

    @router.route("GET", "/admin/limits")
    def get_limits(ctx: Ctx):
        return limits()

    @router.route("POST", "/admin/limits")
    def set_limits(ctx: Ctx):
        data = body(ctx)
        unknown = set(data) - {"MaxReturnedItemsPerCall", "MaxReturnedItemsFor"}
        if unknown:
            raise PIError(
                400, f"Unknown limits: {sorted(unknown)}; known: MaxReturnedItemsPerCall, MaxReturnedItemsFor."
            )
        try:
            mock.set_limits(
                data.get("MaxReturnedItemsPerCall", mock.config.max_returned_items_per_call),
                dict(data.get("MaxReturnedItemsFor") or {}).items(),
            )
        except (TypeError, ValueError, re.error) as exc:
            raise PIError(400, f"Invalid limits: {exc}") from exc
        return limits()

    def clock() -> dict:
        now = mock.now_s()
        return {"Now": iso1(now), "NowSeconds": now, "Fixed": mock.fixed_now is not None}

    @router.route("GET", "/admin/clock")
    def get_clock(ctx: Ctx):
        return clock()

    @router.route("GET", "/admin/process")
    def get_process(ctx: Ctx):
        # Which worker process answered (``--workers N``): lets a test prove several workers serve alike.
        return {"Pid": os.getpid()}

    def points() -> dict:
        return {
            "Points": len(mock.universe.visible_tags(mock.now_s())),
            "Expansions": [{"At": iso1(e.at.timestamp()), "Tags": e.tags} for e in mock.config.expansions],
        }

    @router.route("GET", "/admin/tags")
    def get_tags(ctx: Ctx):
        return points()

    @router.route("POST", "/admin/tags")
    def add_tags(ctx: Ctx):
        # A plant expansion now: new points (and AF elements) appear as with --expansion, e.g. for the demo.
        count = body(ctx).get("count")
        if not isinstance(count, int) or isinstance(count, bool):
            raise PIError(400, f'Expected {{"count": N}} with a whole number N >= 1, not {count!r}.')
        try:
            expansion = mock.add_tags(count)
        except ValueError as exc:
            raise PIError(400, str(exc)) from exc
        created = int(expansion.at.timestamp())
        names = [t.name for t in mock.universe.tags if t.created_s == created][-count:]  # the newest at that time
        return {"Added": count, "At": iso1(created), "Names": names, **points()}

    @router.route("POST", "/admin/clock")
    def set_clock(ctx: Ctx):
        data = body(ctx)
        if "now" in data:
            try:
                mock.set_now(None if data["now"] is None else parse_time(str(data["now"]), mock.now_s()))
            except TimeParseError as exc:
                raise PIError(400, str(exc)) from exc
        if "advanceSeconds" in data:
            mock.set_now(mock.now_s() + float(data["advanceSeconds"]))
        return clock()


def create_app(config: MockConfig | None = None) -> MockApp:
    return MockApp(MockPI(config or MockConfig()))


def create_app_from_env() -> MockApp:
    """Factory for ``uvicorn --factory`` workers: the config travels in an environment variable."""
    return create_app(MockConfig.from_env())
