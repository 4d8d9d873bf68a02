"""The JsonPath subset PI Web API batch ``Parameters`` use: ``$.id.Content.Links.Self``,
``$.id.Content.Items[*].WebId``, ``$['id'].Content.Items[0]``, ``$..WebId`` is not supported."""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"\.([^.\[\]]+)|\['([^']*)'\]|\[(\*|-?\d+)\]")


class JsonPathError(ValueError):
    pass


def select(document: Any, path: str) -> list[Any]:
    """All tokens ``path`` selects in ``document`` (a list: wildcards may select several)."""
    path = path.strip()
    if not path.startswith("$"):
        raise JsonPathError(f"Invalid JSON path '{path}'.")
    nodes = [document]
    pos = 1
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if match is None:
            raise JsonPathError(f"Invalid JSON path '{path}'.")
        pos = match.end()
        name, quoted, index = match.groups()
        out = []
        for node in nodes:
            if index == "*":
                out.extend(node.values() if isinstance(node, dict) else node if isinstance(node, list) else [])
            elif index is not None:
                if isinstance(node, list) and -len(node) <= int(index) < len(node):
                    out.append(node[int(index)])
            else:
                field = name if name is not None else quoted
                if isinstance(node, dict) and field in node:
                    out.append(node[field])
        nodes = out
    return nodes
