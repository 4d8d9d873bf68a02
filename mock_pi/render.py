"""PI Web API JSON shapes: points, timed values, and the ``selectedFields`` filter."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

import numpy as np
import orjson

from mock_pi.signals import DAY_S, SYSTEM_STATES, VALUE_ERROR, Events, digital_state_name, string_value
from mock_pi.universe import DIGITAL_SETS, Tag

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
    if isinstance(obj, dict):  # a field selected whole ({}) is taken as it is, without a recursive call
        return {k: select(v, selection[k]) if selection[k] else v for k, v in obj.items() if k in selection}
    return obj  # a leaf, or an orjson.Fragment its producer already rendered with the selection


def point(tag: Tag, base_url: str, data_server_webid: str, web_id: str | None = None, fields: Selection = None) -> dict:
    """A PI point object (docs/pi-web-api.md#points-and-the-data-server); ``fields`` (a selection of its
    fields, None = all) leaves out the ``Links`` nobody asked for (a listing of WebIds builds none)."""
    s = tag.sensor
    wid = web_id or tag.webid
    out = {
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
    }
    if fields is not None and "Links" not in fields:
        return out
    stream = f"{base_url}streams/{wid}"
    out["Links"] = {
        "Self": f"{base_url}points/{wid}",
        "DataServer": f"{base_url}dataservers/{data_server_webid}",
        "Attributes": f"{base_url}points/{wid}/attributes",
        "InterpolatedData": f"{stream}/interpolated",
        "RecordedData": f"{stream}/recorded",
        "PlotData": f"{stream}/plot",
        "SummaryData": f"{stream}/summary",
        "Value": f"{stream}/value",
        "EndValue": f"{stream}/end",
    }
    return out


def iso(ts: np.ndarray) -> list[str]:
    """Epoch seconds → ``2026-11-20T00:00:00Z`` strings (whole seconds print without a fraction)."""
    days, times = _iso_parts(np.asarray(ts, dtype=np.int64))
    return [d + t for d, t in zip(days, times)]


def iso1(ts: float) -> str:
    """One epoch-seconds timestamp as :func:`iso` writes it."""
    return iso(np.array([int(ts)]))[0]


def _iso_parts(ts: np.ndarray) -> tuple[list[str], list[str]]:
    """Date and ``THH:MM:SSZ`` parts of each timestamp, picked from tables (no per-row formatting)."""
    if len(ts) == 0:
        return [], []
    day = ts // DAY_S
    first = int(day.min())
    span = int(day.max()) - first + 1
    if span <= 4096:
        table = _day_strings(first, span)
        days = table[day - first]
    else:
        distinct, inverse = np.unique(day, return_inverse=True)
        days = np.datetime_as_string(distinct.astype("datetime64[D]")).astype(object)[inverse]
    return days.tolist(), _time_of_day()[ts - day * DAY_S].tolist()


@lru_cache(maxsize=64)
def _day_strings(first: int, span: int) -> np.ndarray:
    days = np.arange(first, first + span).astype("datetime64[D]")
    return np.datetime_as_string(days).astype(object)


@lru_cache(maxsize=1)
def _time_of_day() -> np.ndarray:
    """``THH:MM:SSZ`` of every second of a day (built from an hour's ``MM:SSZ``: one join per entry, so every
    worker process pays milliseconds for it, not a tenth of a second)."""
    minutes_seconds = [f"{m:02d}:{s:02d}Z" for m in range(60) for s in range(60)]
    return np.array(
        [hour + rest for hour in (f"T{h:02d}:" for h in range(24)) for rest in minutes_seconds], dtype=object
    )


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
            values[i] = system_state(int(states[i]))
    return values


def system_state(code: int) -> dict:
    return {"Name": SYSTEM_STATES[code], "Value": code, "IsSystem": True}


VALUE_ERRORS = [{"FieldName": "Value", "Message": ["The value could not be read from the PI Data Archive."]}]


def timed_values(
    tag: Tag, events: Events, selection: Selection = None, descending: bool = False, units: str = ""
) -> list[dict]:
    """Events as a list of PI TimedValue objects, limited to the selected fields."""
    if descending:
        events = events.take(slice(None, None, -1))
    stamps = iso(events.ts)
    values = _value_objects(tag, events)
    good = (events.system_state == 0).tolist()
    q, s, a = events.questionable.tolist(), events.substituted.tolist(), events.annotated.tolist()
    columns = {
        "Timestamp": stamps,
        "Value": values,
        "UnitsAbbreviation": [units] * len(stamps),
        "Good": good,
        "Questionable": q,
        "Substituted": s,
        "Annotated": a,
    }
    names = [f for f in VALUE_FIELDS if selection is None or f in selection]
    rows = [dict(zip(names, row)) for row in zip(*(columns[f] for f in names))] if names else [{} for _ in stamps]
    if selection is None or "Errors" in selection:
        for i in np.flatnonzero(events.system_state == VALUE_ERROR):
            rows[i]["Errors"] = VALUE_ERRORS
    return rows


def timed_value(ts: float, value: Any, good: bool, units: str = "") -> dict:
    """One TimedValue built from parts (summaries, static attribute values, computed values)."""
    return {
        "Timestamp": iso(np.array([int(ts)]))[0],
        "Value": value,
        "UnitsAbbreviation": units,
        "Good": good,
        "Questionable": False,
        "Substituted": False,
        "Annotated": False,
    }


# -- fast path: many streams rendered straight to JSON text ----------------------------------------

_KIND_FLOAT, _KIND_INT, _KIND_DIGITAL, _KIND_STRING = range(4)
_FLAG_FIELDS = ("UnitsAbbreviation", "Good", "Questionable", "Substituted", "Annotated")
_EMPTY_ARRAY = orjson.Fragment(b"[]")


def stream_values_json(
    tags: list[Tag], events: Events, offsets: np.ndarray, selection: Selection = None, units: list[str] | None = None
) -> list[orjson.Fragment]:
    """The ``Items`` arrays of many streams (stream ``i`` = rows ``offsets[i]:offsets[i+1]``) as JSON.

    Same output as :func:`timed_values` per stream, without building a dict or a string per row: every
    row is a few pieces taken from tables (dates, times of day, 32 flag tails per units string) or from
    one orjson call (numbers), and each stream is one ``str.join`` over its slice of pieces. A selection of
    fields inside ``Value`` objects (``Items.Value.Name``) takes the reference path instead.
    """
    n = len(events)
    if n == 0:
        return [_EMPTY_ARRAY] * len(tags)
    if selection is not None and selection.get("Value"):  # fields inside Value objects (digital states): rare
        units = units if units is not None else [""] * len(tags)
        bounds = offsets.tolist()
        return [
            orjson.Fragment(
                orjson.dumps(select(timed_values(tag, events.take(slice(a, b)), selection, units=u), selection))
            )
            for tag, u, a, b in zip(tags, units, bounds, bounds[1:])
        ]
    rt = np.repeat(np.arange(len(tags)), np.diff(offsets))
    names = tuple(f for f in (*VALUE_FIELDS, "Errors") if selection is None or f in selection)
    columns: list = []
    if "Timestamp" in names:
        opening = '{"Timestamp":"'
        columns.append(_stamp_texts(events.ts, '","Value":' if "Value" in names else '"'))
    else:
        opening = '{"Value":' if "Value" in names else "{"
    if "Value" in names:
        columns.append(_value_texts(tags, offsets, rt, events))
    table, tail_index = _tail_table(tags, rt, events, names, units, bool(columns))
    # Row r owns pieces[1 + k*r : 1 + k*(r+1)], its tail (which opens the next row) last. The slot before a
    # stream's first row (slot 0, or the tail of a stream already joined) takes the stream's opening bracket.
    k = len(columns) + 1
    pieces: list = [None] * (k * n + 1)
    for j, column in enumerate(columns):
        pieces[1 + j :: k] = column
    pieces[k::k] = np.array([t + "}," + opening for t in table], dtype=object)[tail_index].tolist()
    bounds = offsets.tolist()
    first_piece = "[" + opening
    out = []
    for a, b in zip(bounds, bounds[1:]):
        if b == a:
            out.append(_EMPTY_ARRAY)
            continue
        pieces[k * a] = first_piece
        pieces[k * b] = table[tail_index[b - 1]] + "}]"
        out.append(orjson.Fragment("".join(pieces[k * a : k * b + 1])))
    return out


def _stamp_texts(ts: np.ndarray, suffix: str) -> list[str]:
    """``2026-11-20T00:00:00Z`` + ``suffix`` for every timestamp: taken from a table of every second of the
    whole hours the events span when that table is smaller than the events (a stream set's hour), else built
    row by row."""
    first = int(ts.min()) // HOUR_S * HOUR_S
    hours = (int(ts.max()) - first) // HOUR_S + 1
    if hours * HOUR_S > 4 * len(ts):
        return [stamp + suffix for stamp in iso(ts)]
    table = (_cached_stamp_table if hours <= _CACHED_STAMP_HOURS else _stamp_table)(first, hours, suffix)
    return table[ts - first].tolist()


HOUR_S = 3600
_CACHED_STAMP_HOURS = 4  # hourly partitions ask for the same few hours request after request


def _stamp_table(first: int, hours: int, suffix: str) -> np.ndarray:
    days, times = _iso_parts(np.arange(first, first + hours * HOUR_S))
    return np.array([d + t + suffix for d, t in zip(days, times)], dtype=object)


_cached_stamp_table = lru_cache(maxsize=8)(_stamp_table)  # at most 8 × 4 h × ~90 B = 10 MB


def _value_texts(tags: list[Tag], offsets: np.ndarray, rt: np.ndarray, events: Events) -> list[str]:
    """The JSON text of every ``Value``: numbers, digital-state objects, strings, system states.

    Every row is first written as a float; the rows of other kinds are then overwritten in place (a tag's
    rows are contiguous: one slice per Int32 tag)."""
    tag_kinds = np.array([_kind_code(t) for t in tags], dtype=np.int8)
    texts = _number_texts(events.value)
    int_tags = np.flatnonzero(tag_kinds == _KIND_INT)
    if len(int_tags):
        int_texts = _number_texts(events.value[(tag_kinds == _KIND_INT)[rt]].astype(np.int64))
        done = 0
        for a, b in zip(offsets[int_tags].tolist(), offsets[int_tags + 1].tolist()):
            texts[a:b] = int_texts[done : done + b - a]
            done += b - a
    kinds = tag_kinds[rt]
    other = np.flatnonzero(kinds >= _KIND_DIGITAL)
    for i, kind, t, raw in zip(other.tolist(), kinds[other].tolist(), rt[other].tolist(), events.value[other].tolist()):
        tag = tags[t]
        texts[i] = (
            _digital_json(tag.sensor.digital_set, int(raw))
            if kind == _KIND_DIGITAL
            else orjson.dumps(string_value(tag, int(raw))).decode()
        )
    states = events.system_state
    for i in np.flatnonzero(states).tolist():
        texts[i] = _system_json(int(states[i]))
    return texts


def _number_texts(numbers: np.ndarray) -> list[str]:
    """The JSON text of each number (orjson writes numpy arrays exactly as it writes Python floats/ints)."""
    if not len(numbers):
        return []
    return orjson.dumps(np.ascontiguousarray(numbers), option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode().split(",")


def _kind_code(tag: Tag) -> int:
    kind = tag.sensor.kind
    if kind == "digital":
        return _KIND_DIGITAL
    if kind == "string":
        return _KIND_STRING
    return _KIND_INT if tag.sensor.point_type == "Int32" else _KIND_FLOAT


@cache
def _digital_json(digital_set: str, code: int) -> str:
    return orjson.dumps({"Name": DIGITAL_SETS[digital_set][code], "Value": code, "IsSystem": False}).decode()


@cache
def _system_json(code: int) -> str:
    return orjson.dumps(system_state(code)).decode()


def _tail_table(
    tags: list[Tag], rt: np.ndarray, events: Events, names: tuple, units: list[str] | None, leading_comma: bool
) -> tuple[list[str], np.ndarray]:
    """The JSON text after ``Value`` of each row, as (table, row index into it): one of 32 flag
    combinations per distinct units string."""
    units = units if units is not None else [""] * len(tags)
    distinct = sorted(set(units))
    position = {u: i for i, u in enumerate(distinct)}
    unit_index = np.array([position[u] for u in units], dtype=np.int64)[rt]
    error = events.system_state == VALUE_ERROR
    combo = (
        (events.system_state == 0) * 16
        + events.questionable * 8
        + events.substituted * 4
        + events.annotated * 2
        + error
    ).astype(np.int64)
    table = [_tail(u, c, names, leading_comma) for u in distinct for c in range(32)]
    return table, unit_index * 32 + combo


@lru_cache(maxsize=4096)
def _tail(units: str, combo: int, names: tuple, leading_comma: bool) -> str:
    flags = {
        "UnitsAbbreviation": units,
        "Good": bool(combo & 16),
        "Questionable": bool(combo & 8),
        "Substituted": bool(combo & 4),
        "Annotated": bool(combo & 2),
    }
    parts = [orjson.dumps({f: flags[f]}).decode()[1:-1] for f in _FLAG_FIELDS if f in names]
    if combo & 1 and "Errors" in names:
        parts.append(orjson.dumps({"Errors": VALUE_ERRORS}).decode()[1:-1])
    text = ",".join(parts)
    return "," + text if text and leading_comma else text
