"""``POST /piwebapi/batch`` as docs/pi-web-api.md#batch describes it.

* The body maps request ids to ``{Method, Resource | RequestTemplate, Parameters, ParentIds, Content, Headers}``.
* Sub-requests without ``ParentIds`` are independent (PI runs them in parallel; the mock runs them in
  dependency order, which is indistinguishable to a client); a child of a failed parent is not run and
  answers **409**.
* ``{0}``, ``{1}``… in ``Resource`` are filled from the ``Parameters`` JsonPaths into parent responses;
  a JsonPath selecting nothing answers **400** "Some JSON paths did not select any tokens".
  ``Resource`` may itself be a JsonPath (``$.1.Content.Links.Self``).
* ``RequestTemplate`` fans out: one inner request per token (cartesian product over parameters), reported
  as ``Status`` 207 with ``Content: {"Items": [{Status, Headers, Content}, ...]}``.
* ``Content`` (the sub-request body) must be a JSON-encoded *string*.
* The outer status is 207 whatever the sub-requests did.

Runs of independent ``GET …/streams/{webId}/recorded`` sub-requests with the same query are computed in
one vectorised pass (:func:`mock_pi.routes.streams.recorded_items`): same answers, a fraction of the cost.
Every sub-response, prefetched or not, passes :meth:`Batch._respond`, where ``item_webexception_rate`` /
``item_errors_rate`` may cut a 200 answer's ``Items`` next to a ``WebException`` / ``Errors``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import orjson

from mock_pi import jsonpath
from mock_pi.faults import Faults
from mock_pi.http import JSON_TYPE, Ctx, PIError, Reply, split_url

HEADERS = {"Content-Type": JSON_TYPE}
NO_TOKENS = "Some JSON paths did not select any tokens: {}"


def _response(reply: Reply) -> dict:
    return {"Status": reply.status, "Headers": {**HEADERS, **(reply.headers or {})}, "Content": reply.body}


def _error(status: int, message: str) -> dict:
    return {"Status": status, "Headers": dict(HEADERS), "Content": {"Errors": [message]}}


class Batch:
    def __init__(
        self,
        dispatch: Callable[[Ctx], Reply],
        outer: Ctx,
        faults: Faults,
        prefetch: Callable[[list[Ctx]], dict[int, Reply]] | None = None,
    ):
        self.dispatch = dispatch
        self.outer = outer
        self.faults = faults
        self.prefetch = prefetch
        self.results: dict[str, dict] = {}
        self._parsed: dict[str, dict] = {}

    def run(self, body: object) -> dict:
        if not isinstance(body, dict) or not all(isinstance(v, dict) for v in body.values()):
            raise PIError(400, "The batch request must be a JSON object of request objects.")
        order = self._order(body)
        self._inject_faults(body)
        self._prefetch(body)
        for rid in order:
            if rid not in self.results:
                self.results[rid] = self._execute(rid, body[rid])
        return {rid: self.results[rid] for rid in body}

    def _inject_faults(self, body: dict) -> None:
        """Injected 500s (``batch_fail_one``, ``batch_item_rate``), decided before anything runs so that
        every sub-request — prefetched or not — can be hit. ``path_regex`` is matched on the Resource."""
        settings = self.faults.settings
        if not settings.batch_fail_one and settings.batch_item_rate <= 0:
            return
        resources = {
            rid: str(req.get("Resource") or (req.get("RequestTemplate") or {}).get("Resource") or "")
            for rid, req in body.items()
            if rid not in self.results
        }
        candidates = [rid for rid, resource in resources.items() if self.faults.applies(split_url(resource)[0])]
        victim = self.faults.pick_batch_victim(candidates)
        for rid in candidates:
            if rid == victim or self.faults.draw("batch_item", self.faults.settings.batch_item_rate):
                self.results[rid] = _error(500, "Injected fault: this sub-request failed.")

    def _order(self, body: dict) -> list[str]:
        """Topological order; unknown or cyclic parents answer 400 for the requests involved."""
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(rid: str, chain: tuple[str, ...]) -> bool:
            if state.get(rid) == 2:
                return rid not in self.results
            if rid in chain:
                return False
            parents = body[rid].get("ParentIds") or []
            for parent in parents:
                if parent not in body:
                    self.results[rid] = _error(400, f"The parent request '{parent}' does not exist.")
                    break
                if not visit(parent, chain + (rid,)):
                    self.results.setdefault(rid, _error(400, f"Request '{rid}' has a circular or invalid dependency."))
                    break
            state[rid] = 2
            order.append(rid)
            return rid not in self.results

        for rid in body:
            visit(rid, ())
        return order

    def _prefetch(self, body: dict) -> None:
        """Answer independent plain GET sub-requests in one go where the prefetcher knows how."""
        if self.prefetch is None:
            return
        simple = [
            rid
            for rid, req in body.items()
            if rid not in self.results
            and not req.get("ParentIds")
            and not req.get("Parameters")
            and (req.get("Method") or "GET").upper() == "GET"
            and isinstance(req.get("Resource"), str)
            and "{" not in req["Resource"]
            and not req["Resource"].startswith("$")
        ]
        if len(simple) < 2:
            return
        ctxs = [self._ctx(body[rid], body[rid]["Resource"]) for rid in simple]
        for i, reply in self.prefetch(ctxs).items():
            self.results[simple[i]] = self._respond(reply, ctxs[i].path)

    def _respond(self, reply: Reply, path: str) -> dict:
        """A sub-response; a 200 one with ``Items`` (or a stream set's items) may be damaged by item faults."""
        if reply.status == 200 and isinstance(reply.body, dict) and self.faults.applies(path):
            if path.lower().startswith("/piwebapi/streamsets/"):
                reply.body = self.faults.damage_stream_items(reply.body)
            reply.body = self.faults.damage_item(reply.body)
        return _response(reply)

    def _ctx(self, request: dict, url: str) -> Ctx:
        headers = request.get("Headers") or {}
        content = request.get("Content")
        if content is not None and not isinstance(content, str):
            raise PIError(400, "The 'Content' of a batch request must be a JSON-encoded string.")
        return Ctx.from_url(
            request.get("Method") or "GET",
            url,
            self.outer.base,
            headers,
            (content or "").encode(),
            client=self.outer.client,
        )

    def _execute(self, rid: str, request: dict) -> dict:
        failed = [p for p in request.get("ParentIds") or [] if self.results[p]["Status"] >= 400]
        if failed:
            return _error(409, f"The parent request(s) {', '.join(failed)} failed; this request was not executed.")
        try:
            tokens = [self._select(path) for path in request.get("Parameters") or []]
            template = request.get("RequestTemplate")
            if template is not None:
                resource = template.get("Resource") if isinstance(template, dict) else None
                if not isinstance(resource, str):
                    raise PIError(400, "The 'RequestTemplate' must have a 'Resource'.")
                return self._fan_out(request, resource, tokens)
            resource = request.get("Resource")
            if not isinstance(resource, str) or not resource:
                raise PIError(400, f"Request '{rid}' has neither 'Resource' nor 'RequestTemplate'.")
            if resource.startswith("$"):
                resource = _text(self._select(resource)[0])
            # A plain Resource takes the first token of each parameter (fan-out needs RequestTemplate).
            return self._call(request, _fill(resource, [_text(t[0]) for t in tokens]))
        except PIError as exc:
            return _error(exc.status, exc.errors[0] if exc.errors else "Bad request.")

    def _fan_out(self, request: dict, resource: str, tokens: list[list]) -> dict:
        items = [
            self._call(request, _fill(resource, [_text(v) for v in combo])) for combo in itertools.product(*tokens)
        ]
        return {"Status": 207, "Headers": dict(HEADERS), "Content": {"Items": items}}

    def _call(self, request: dict, url: str) -> dict:
        if split_url(url)[0].rstrip("/").lower().endswith("/piwebapi/batch"):
            return _error(400, "A batch request cannot contain another batch request.")
        ctx = self._ctx(request, url)
        return self._respond(self.dispatch(ctx), ctx.path)

    def _select(self, path: str) -> list:
        try:
            tokens = jsonpath.select(self._document(path), path)
        except jsonpath.JsonPathError as exc:
            raise PIError(400, str(exc)) from exc
        if not tokens:
            raise PIError(400, NO_TOKENS.format(path))
        return tokens

    def _document(self, path: str) -> dict:
        """Parent responses as plain JSON (pre-rendered fragments parsed only when a path needs them)."""
        rid = (
            path[2:].split(".", 1)[0].split("[", 1)[0].strip("'")
            if path.startswith("$.")
            else path[3:].split("'", 1)[0]
        )
        if rid not in self._parsed and rid in self.results:
            self._parsed[rid] = orjson.loads(orjson.dumps(self.results[rid]))
        return {rid: self._parsed[rid]} if rid in self._parsed else {}


def _text(token: object) -> str:
    return token if isinstance(token, str) else orjson.dumps(token).decode()


def _fill(resource: str, values: list[str]) -> str:
    for i, value in enumerate(values):
        resource = resource.replace(f"{{{i}}}", value)
    return resource
