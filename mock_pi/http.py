"""Framework-free request/reply objects shared by the ASGI shell, the routes and ``POST /batch``.

Routes are plain functions ``handler(ctx) -> body | Reply`` so a batch sub-request is one function call,
not a trip through an HTTP stack. Bodies are JSON-like objects (orjson encodes them; pre-rendered parts
travel as :class:`orjson.Fragment`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from mock_pi import render

JSON_TYPE = "application/json; charset=utf-8"
WEBID_TYPES = ("Full", "IDOnly", "PathOnly", "LocalIDOnly", "DefaultIDOnly")


class PIError(Exception):
    """An error answered in the PI Web API's shape: ``{"Errors": [...]}`` with an HTTP status."""

    def __init__(self, status: int, *errors: str, headers: dict | None = None):
        super().__init__(errors[0] if errors else str(status))
        self.status = status
        self.errors = list(errors)
        self.headers = headers


@dataclass
class Reply:
    """A handler's answer. ``selected`` means ``selectedFields`` was already applied by the handler."""

    body: Any
    status: int = 200
    headers: dict | None = None
    selected: bool = False

    def encode(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else orjson.dumps(self.body)


def error_reply(exc: PIError) -> Reply:
    return Reply({"Errors": exc.errors}, exc.status, exc.headers, selected=True)


def split_url(url: str) -> tuple[str, str]:
    """(percent-decoded path, raw query) of an absolute or relative URL; relative = below /piwebapi/."""
    head, _, query = url.partition("?")
    if "//" in head:
        if url.startswith(("http://", "https://")) and not _UNUSUAL.intersection(url):
            # what urlsplit gives for a plain absolute URL (a batch has thousands), without its cost
            path = head[head.find("/", head.index("//") + 2) :] if head.count("/") > 2 else ""
        else:
            parts = urlsplit(url)
            path, query = parts.path, parts.query
    else:
        path = head
    path = unquote(path) if "%" in path else path
    return (path if path.startswith("/") else "/piwebapi/" + path), query


_UNUSUAL = frozenset("#\t\r\n ")  # fragments and characters urlsplit strips: left to urlsplit


@lru_cache(maxsize=256)
def _parse_query(query: str) -> tuple[tuple[str, str], ...]:
    """Batch sub-requests usually share one query string: parse it once."""
    return tuple(parse_query(query))


def parse_query(query: str) -> list[tuple[str, str]]:
    """``parse_qsl(query, keep_blank_values=True)``, field by field: the plain ones (no ``%`` or ``+``, such as
    the hundred WebIds of a stream-set URL) are split without parse_qsl's decoding work."""
    out = []
    for pair in query.split("&"):
        if "%" in pair or "+" in pair:
            out += parse_qsl(pair, keep_blank_values=True)
        elif pair:
            name, _, value = pair.partition("=")
            out.append((name, value))
    return out


@dataclass
class Ctx:
    """One request as the routes see it (HTTP or a batch sub-request)."""

    method: str
    path: str  # percent-decoded, no query string
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""
    base: str = "http://localhost/piwebapi/"  # for absolute Links
    client: str = ""
    connection: str = ""  # host:port of the TCP connection (NTLM authenticates connections)
    reply_headers: dict = field(default_factory=dict)  # sent with whatever answers the request (auth)
    route: dict[str, str] = field(default_factory=dict)  # path parameters
    prefetched: dict | None = None  # batch: results computed for many sub-requests at once

    @classmethod
    def from_url(cls, method: str, url: str, base: str, headers: dict | None = None, body: bytes = b"", **kw) -> Ctx:
        """A sub-request from an absolute or relative URL (the authority is ignored, like PI does)."""
        path, query = split_url(url)
        return cls(
            method.upper(),
            path,
            list(_parse_query(query)),
            {k.lower(): v for k, v in (headers or {}).items()},
            body,
            base,
            **kw,
        )

    @cached_property
    def params(self) -> dict[str, list[str]]:
        """Query parameters with case-insensitive names (as the ASP.NET server treats them)."""
        out: dict[str, list[str]] = {}
        for name, value in self.query:
            out.setdefault(name.lower(), []).append(value)
        return out

    def one(self, name: str, default: str | None = None) -> str | None:
        values = self.params.get(name.lower())
        return values[0] if values else default

    def many(self, name: str) -> list[str]:
        return self.params.get(name.lower(), [])

    def int(self, name: str, default: int) -> int:
        text = self.one(name)
        if text is None or text == "":
            return default
        try:
            return int(text)
        except ValueError as exc:
            raise PIError(400, f"The value '{text}' is not valid for parameter '{name}'.") from exc

    def bool(self, name: str, default: bool = False) -> bool | None:
        text = self.one(name)
        if text is None or text == "":
            return default
        if text.lower() not in ("true", "false"):
            raise PIError(400, f"The value '{text}' is not valid for parameter '{name}'.")
        return text.lower() == "true"

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        """An enumeration parameter, matched case-insensitively, returned in its canonical spelling."""
        text = self.one(name)
        if not text:
            return default
        for option in options:
            if option.lower() == text.lower():
                return option
        raise PIError(400, f"The value '{text}' is not valid for parameter '{name}'.")

    @cached_property
    def selection(self) -> render.Selection:
        return render.parse_selected_fields(self.one("selectedFields"))

    @cached_property
    def webid_type(self) -> str:
        kind = self.choice("webIdType", WEBID_TYPES, "Full")
        # Local/DefaultIDOnly carry no server id; the mock answers them like IDOnly.
        return "IDOnly" if kind in ("LocalIDOnly", "DefaultIDOnly") else kind
