"""PI TimedValue JSON → columnar (polars) without per-row datetime parsing.

PI ``Value`` is a number, a string, a bool, a digital-state object ``{Name, Value, IsSystem}``, or an
error object ``{"Errors": [...]}`` (docs/pi-web-api.md#the-value-object). We keep a numeric ``value`` where one
exists (the state code for a digital point's own states) and the original text otherwise, so nothing
becomes NULL silently: system states and errors keep their name in ``value_text`` with ``good = false``.

Speed matters here (millions of values per hour of a large plant). Two decoders give the same rows:

* the fast path, :func:`stream_set_columns`: a small C parser (``_stream_set.c``) reads a stream-set body straight
  into Arrow buffers outside the GIL, so request threads decode in parallel (about a third of the CPU per value). It
  reads the common shapes only and answers None for anything else: a body that reports an error, a stream to page,
  error values, null flags. It is optional: an install without a C compiler goes without it.
* the general decoder, the reference: bodies are decoded by msgspec straight into :class:`TimedValue` structs
  (typed, no per-value dict), each field is pulled out of them with one C-level ``map(attrgetter)`` pass, numbers go
  to polars in one call, and only the rare non-numeric values are looked at one by one (:class:`ValueColumns`).
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
import polars as pl
import pyarrow as pa

try:
    from osipi_dagster.pi import _stream_set
except ImportError:  # installed without a C compiler: the general decoder reads every body
    _stream_set = None

# Every timestamp column of every table: UTC, microseconds.
UTC_TIMESTAMP = pl.Datetime("us", "UTC")

RAW_SCHEMA = {
    "tag_webid": pl.String,
    "timestamp": UTC_TIMESTAMP,
    "value": pl.Float64,
    "value_text": pl.String,
    "good": pl.Boolean,
    "questionable": pl.Boolean,
    "substituted": pl.Boolean,
    "annotated": pl.Boolean,
}

# Fields the extraction asks for (selectedFields): everything a row needs and nothing else.
VALUE_FIELDS = ("Timestamp", "Value", "Good", "Questionable", "Substituted", "Annotated", "Errors")

# PI quality flags → our columns (a server that omits a flag means the default of its TimedValue field).
_FLAGS = (
    ("Good", "good"),
    ("Questionable", "questionable"),
    ("Substituted", "substituted"),
    ("Annotated", "annotated"),
)
_NUMBER_TYPES = frozenset((float, int))  # not bool: True is not the number 1 here
_WHOLE_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
_FRACTIONAL_SECONDS = "%Y-%m-%dT%H:%M:%S%.fZ"
_ARROW_UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")


class TimedValue(msgspec.Struct, gc=False):
    """One PI TimedValue (the fields of ``VALUE_FIELDS``); a field the server omits takes the value PI implies.

    ``Value`` stays as JSON gave it (number, text, bool, or an object: a digital state or an error). Not
    tracked by the garbage collector: millions are made per hour and none can be part of a cycle.
    """

    Timestamp: str | None = None
    Value: Any = None
    Good: bool | None = True
    Questionable: bool | None = False
    Substituted: bool | None = False
    Annotated: bool | None = False
    Errors: Any = None  # a value PI could not read: ``Value`` is null and ``Errors`` says why


class RecordedValues(msgspec.Struct, gc=False):
    """The body of ``streams/{webId}/recorded`` (a batch sub-response's ``Content``), or one stream of a
    stream-set answer (with its ``WebId``). ``WebException`` / ``Errors``: PI failed to read it."""

    Items: list[TimedValue] | None = None
    WebId: str | None = None
    WebException: Any = None
    Errors: Any = None


class StreamSetValues(msgspec.Struct, gc=False):
    """The body of ``streamsets/recorded``: one :class:`RecordedValues` per stream."""

    Items: list[RecordedValues] | None = None
    WebException: Any = None


RECORDED_VALUES = msgspec.json.Decoder(RecordedValues)
STREAM_SET_VALUES = msgspec.json.Decoder(StreamSetValues)


class StreamSetColumns:
    """A stream-set body read by :func:`stream_set_columns`: ``frame`` holds RAW_SCHEMA rows, one block per stream
    in the body's order; ``counts`` the values of each stream. (``WebException``: the client checks every body for
    one; a body that has one is never read this way.)"""

    WebException = None

    def __init__(self, frame: pl.DataFrame, counts: dict[str, int]):
        self.frame = frame
        self.counts = counts


class StreamSetDecoder:
    """A stream-set body as :class:`StreamSetColumns` when the fast path reads it, else as :class:`StreamSetValues`
    (msgspec), which takes every shape and names what is wrong with a bad body. ``webids``: the server's WebId →
    the caller's (see :func:`stream_set_columns`)."""

    def __init__(self, max_count: int, webids: dict[str, str]):
        self.max_count = max_count
        self.webids = webids

    def decode(self, content: bytes) -> StreamSetColumns | StreamSetValues:
        return stream_set_columns(content, self.max_count, self.webids) or STREAM_SET_VALUES.decode(content)


def parser_built() -> bool:
    """Whether the C stream-set parser was compiled when the package was installed."""
    return _stream_set is not None


def stream_set_columns(content: bytes, max_count: int, webids: dict[str, str]) -> StreamSetColumns | None:
    """The rows :class:`ValueColumns` gives for a stream-set body, read by the C parser outside the GIL; None when
    the general decoder must read it: the parser declined (see ``_stream_set.c``: errors, a stream of ``max_count``
    values or more, unusual values), a WebId is not in ``webids`` (the server's WebId → the caller's) or comes twice,
    or the parser is not installed."""
    parsed = _stream_set.read_stream_set(content, max_count) if _stream_set is not None else None
    if parsed is None:
        return None
    server_webids, rows, counts, stamps, values, value_valid, offsets, text, text_valid, *flags = parsed
    ours = [webids.get(w) for w in server_webids]
    if None in ours or len(set(ours)) < len(ours):
        return None
    per_stream = np.frombuffer(counts, dtype=np.int64)

    def column(arrow_type: pa.DataType, *buffers: bytes | None) -> pl.Series:
        arrow = pa.Array.from_buffers(arrow_type, rows, [b if b is None else pa.py_buffer(b) for b in buffers])
        return pl.from_arrow(arrow)

    frame = pl.DataFrame(
        {
            "tag_webid": repeated(ours, per_stream),
            "timestamp": column(_ARROW_UTC_TIMESTAMP, None, stamps),
            "value": column(pa.float64(), value_valid, values),
            "value_text": column(pa.large_string(), text_valid, offsets, text),
        }
        | {name: column(pa.bool_(), None, flag) for (_, name), flag in zip(_FLAGS, flags)},
        schema=RAW_SCHEMA,
    )
    return StreamSetColumns(frame, dict(zip(ours, per_stream.tolist())))


def repeated(webids: list[str], counts) -> pl.Series:
    """The ``tag_webid`` column: each stream's WebId once per value. Each webid is stored once and gathered: rows
    share its bytes instead of holding ~60-char copies."""
    index = np.repeat(np.arange(len(webids), dtype=np.uint32), counts)
    return pl.Series(webids, dtype=pl.String)[index]  # (a direct take: ``gather`` builds a query)


_TIMED_VALUES = list[TimedValue]


class ValueColumns:
    """Collects the values of many streams, then builds one RAW_SCHEMA DataFrame in a few bulk passes."""

    def __init__(self) -> None:
        self.webids: list[str] = []
        self.counts: list[int] = []
        self.items: list[TimedValue] = []

    def __len__(self) -> int:
        return len(self.items)

    def add(self, webid: str, items: list[TimedValue] | list[dict]) -> None:
        """A stream's values: decoded :class:`TimedValue` s, or PI JSON objects (summaries, event frames)."""
        if items:
            if type(items[0]) is not TimedValue:
                items = msgspec.convert(items, _TIMED_VALUES)
            self.webids.append(webid)
            self.counts.append(len(items))
            self.items.extend(items)

    def to_frame(self) -> pl.DataFrame:
        if not self.items:
            return pl.DataFrame(schema=RAW_SCHEMA)
        value, text = _value_columns(_field(self.items, "Value"), self.items, self.counts)
        columns = {
            "tag_webid": repeated(self.webids, self.counts),
            "timestamp": parse_pi_timestamps(pl.Series(_field(self.items, "Timestamp"), dtype=pl.String)),
            "value": value,
            "value_text": text,
        }
        for field, column in _FLAGS:
            columns[column] = pl.Series(_field(self.items, field), dtype=pl.Boolean)
        return pl.DataFrame(columns, schema=RAW_SCHEMA)


def _field(items: list[TimedValue], name: str) -> list:
    """``[item.<name> for item in items]`` at C speed."""
    return list(map(attrgetter(name), items))


def _value_columns(values: list, items: list[TimedValue], counts: list[int]) -> tuple[pl.Series, pl.Series]:
    """``value`` (Float64) and ``value_text`` (String) from the raw PI ``Value`` of each item.

    Digital states, strings and errors are rare and looked at one by one, only in the streams (``counts``
    values each) that hold any: a stream of numbers costs one C-level pass over its types."""
    texts: list[str | None] = [None] * len(values)
    if not set(map(type, values)) <= _NUMBER_TYPES:
        values = values.copy()
        end = 0
        for count in counts:
            start, end = end, end + count
            if set(map(type, values[start:end])) <= _NUMBER_TYPES:
                continue
            for k in range(start, end):
                if values[k].__class__ not in _NUMBER_TYPES:
                    values[k], texts[k] = _non_numeric(values[k], items[k])
    return pl.Series(values, dtype=pl.Float64), pl.Series(texts, dtype=pl.String)


def parse_pi_timestamps(column: pl.Series) -> pl.Series:
    """``2026-11-20T00:00:00Z`` / ``…:08.8757629Z`` → UTC microseconds (vectorised, in Rust).

    Arrow's ISO-8601 cast reads whole seconds and up to 6 fractional digits ~4× faster than polars'
    ``strptime``; PI's 7-digit fractions (100 ns ticks) make it fail, and then polars reads the column:
    whole seconds with the fixed format, and only the values it could not read with the general one.
    """
    try:
        return pl.Series(column.name, column.to_arrow().cast(_ARROW_UTC_TIMESTAMP))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    parsed = column.str.to_datetime(_WHOLE_SECONDS, time_unit="us", time_zone="UTC", strict=False)
    if parsed.null_count() > column.null_count():  # (null counts are free; a mask costs a query)
        index = (parsed.is_null() & column.is_not_null()).arg_true()
        fractional = column.gather(index).str.to_datetime(_FRACTIONAL_SECONDS, time_unit="us", time_zone="UTC")
        parsed = parsed.scatter(index, fractional)
    return parsed


def _non_numeric(v, item: TimedValue) -> tuple[float | None, str | None]:
    if isinstance(v, dict):
        if "Name" in v:  # digital state: own states keep their code, system states are not numbers
            code = v.get("Value")
            return (None if v.get("IsSystem") or code is None else float(code)), str(v["Name"])
        if "Errors" in v:
            return None, "Error: " + "; ".join(map(str, v["Errors"]))
        return None, str(v)
    if isinstance(v, bool):
        return float(v), str(v)
    if v is None:
        errors = item.Errors
        if errors:
            return None, "Error: " + "; ".join(str(m) for e in errors for m in e.get("Message", []))
        return None, None
    return None, str(v)
