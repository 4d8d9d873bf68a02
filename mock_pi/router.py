"""A tiny path router: literal segments win over ``{param}`` segments; dispatch is a dict walk.

Batch executes thousands of sub-requests per call, so routing must cost microseconds, not a scan of
regular expressions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mock_pi.http import Ctx, PIError, Reply, error_reply
from mock_pi.render import select

Handler = Callable[[Ctx], Any]


class _Node:
    __slots__ = ("literal", "param", "param_name", "handlers")

    def __init__(self):
        self.literal: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.param_name = ""
        self.handlers: dict[str, Handler] = {}


class Router:
    def __init__(self):
        self.root = _Node()

    def add(self, methods: str, pattern: str, handler: Handler) -> None:
        node = self.root
        for segment in _segments(pattern):
            if segment.startswith("{") and segment.endswith("}"):
                node.param = node.param or _Node()
                node.param_name = segment[1:-1]
                node = node.param
            else:
                node = node.literal.setdefault(segment.lower(), _Node())
        for method in methods.split():
            node.handlers[method] = handler

    def route(self, methods: str, *patterns: str):
        """Decorator form of :meth:`add` (several patterns may share one handler)."""

        def decorate(handler: Handler) -> Handler:
            for pattern in patterns:
                self.add(methods, pattern, handler)
            return handler

        return decorate

    def _find(self, path: str) -> tuple[_Node | None, dict[str, str]]:
        return _walk(self.root, _segments(path), 0, {})

    def dispatch(self, ctx: Ctx) -> Reply:
        """Run the handler for ``ctx``; PI errors become ``{"Errors": [...]}`` replies."""
        node, route = self._find(ctx.path)
        try:
            if node is None or not node.handlers:
                raise PIError(404, "The requested resource was not found.")
            handler = node.handlers.get(ctx.method)
            if handler is None:
                raise PIError(405, f"The requested resource does not support http method '{ctx.method}'.")
            ctx.route = route
            result = handler(ctx)
        except PIError as exc:
            return error_reply(exc)
        reply = result if isinstance(result, Reply) else Reply(result)
        if not reply.selected and ctx.selection is not None and reply.status < 400:
            reply.body = select(reply.body, ctx.selection)
            reply.selected = True
        return reply


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _walk(node: _Node, segments: list[str], i: int, route: dict[str, str]):
    if i == len(segments):
        return node, route
    nxt = node.literal.get(segments[i].lower())
    if nxt is not None:
        found, r = _walk(nxt, segments, i + 1, route)
        if found is not None and found.handlers:
            return found, r
    if node.param is not None:
        return _walk(node.param, segments, i + 1, {**route, node.param_name: segments[i]})
    return None, route
