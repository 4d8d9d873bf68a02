"""PI Web API JSON shapes: points, timed values, and the ``selectedFields`` filter."""

from __future__ import annotations

from typing import Any

import numpy as np

from mock_pi.signals import SYSTEM_STATES, Events, digital_state_name, string_value
from mock_pi.universe import Tag

Selection = dict[str, "Selection"] | None  # None = everything; {} at a leaf = the whole value

VALUE_FIELDS = ("Timestamp", "Value", "UnitsAbbreviation", "Good", "Questionable", "Substituted", "Annotated")


def parse_selected_fields(text: str | None) -> Selection:
    """``Items.Timestamp;Items.Value`` → ``{"Items": {"Timestamp": {}, "Value": {}}}``."""
    if not text:
        return None
    tree: dict = {}
    for path in text.split(";"):
        node = tree
        for part in [p for p in path.strip().split(".") if p]:
            node = node.setdefault(part, {})
    return tree


def child(selection: Selection, name: str) -> Selection:
    """The selection below field ``name`` (None = everything)."""
    if selection is None:
        return None
    sub = selection.get(name)
    return None if sub == {} else sub


def select(obj: Any, selection: Selection) -> Any:
    """Apply a parsed selection to a JSON-like object (lists are filtered item by item)."""
    if selection is None:
        return obj
    if isinstance(obj, list):
        return [select(item, selection) for item in obj]
    if isinstance(obj, dict):
        return {k: select(v, child(selection, k)) for k, v in obj.items() if k in selection}
    return obj


def point(tag: Tag, base_url: str, data_server_webid: str, web_id: str | None = None) -> dict:
    """A PI point object (shared/pi-web-api.md §1.4)."""
    s = tag.sensor
    wid = web_id or tag.webid
    stream = f"{base_url}streams/{wid}"
    return {
        "WebId": wid,
        "Id": tag.point_id,
        "Name": tag.name,
        "Path": tag.path,
        "Descriptor": tag.descriptor,
        "PointClass": "classic",
        "PointType": s.point_type,
        "DigitalSetName": s.digital_set,
        "EngineeringUnits": s.units,
        "Span": float(s.span),
        "Zero": float(s.zero),
        "Step": s.kind in ("digital", "string"),
        "Future": False,
        "DisplayDigits": -5,
        "Links": {
            "Self": f"{base_url}points/{wid}",
            "DataServer": f"{base_url}dataservers/{data_server_webid}",
            "Attributes": f"{base_url}points/{wid}/attributes",
            "InterpolatedData": f"{stream}/interpolated",
            "RecordedData": f"{stream}/recorded",
            "PlotData": f"{stream}/plot",
            "SummaryData": f"{stream}/summary",
            "Value": f"{stream}/value",
            "EndValue": f"{stream}/end",
        },
    }


def iso(ts: np.ndarray) -> list[str]:
    """Epoch seconds → ``2026-11-20T00:00:00Z`` strings (whole seconds print without a fraction)."""
    return np.datetime_as_string(ts.astype("datetime64[s]"), unit="s", timezone="UTC").tolist()


def _value_objects(tag: Tag, events: Events) -> list:
    """The ``Value`` of each event: number, string, or a digital-state object."""
    kind = tag.sensor.kind
    if kind == "digital":
        values = [{"Name": digital_state_name(tag, int(c)), "Value": int(c), "IsSystem": False} for c in events.value]
    elif kind == "string":
        values = [string_value(tag, int(c)) for c in events.value]
    elif tag.sensor.point_type == "Int32":
        values = events.value.astype(np.int64).tolist()
    else:
        values = events.value.tolist()
    states = events.system_state
    if states.any():
        for i in np.flatnonzero(states):
            code = int(states[i])
            values[i] = {"Name": SYSTEM_STATES[code], "Value": code, "IsSystem": True}
    return values


def timed_values(tag: Tag, events: Events, selection: Selection = None, descending: bool = False) -> list[dict]:
    """Events as a list of PI TimedValue objects, limited to the selected fields."""
    if descending:
        events = events.take(slice(None, None, -1))
    stamps = iso(events.ts)
    values = _value_objects(tag, events)
    good = (events.system_state == 0).tolist()
    q, s, a = events.questionable.tolist(), events.substituted.tolist(), events.annotated.tolist()
    if selection is None:  # the common case, kept as one literal comprehension for speed
        return [
            {"Timestamp": t, "Value": v, "UnitsAbbreviation": "", "Good": g, "Questionable": qq,
             "Substituted": ss, "Annotated": aa}
            for t, v, g, qq, ss, aa in zip(stamps, values, good, q, s, a)
        ]
    columns = {"Timestamp": stamps, "Value": values, "UnitsAbbreviation": [""] * len(stamps), "Good": good,
               "Questionable": q, "Substituted": s, "Annotated": a}
    names = [f for f in VALUE_FIELDS if f in selection]
    return [dict(zip(names, row)) for row in zip(*(columns[f] for f in names))]
