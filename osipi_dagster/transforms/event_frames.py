"""Event frames (PI Web API JSON) → ``pi_event_frames`` (one row per frame per day it overlaps) and the
deduplicated ``pi_event_frames_current`` (one row per frame, its latest known state)."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from osipi_dagster.pi.values import UTC_TIMESTAMP, ValueColumns, parse_pi_timestamps
from osipi_dagster.transforms.af import link_webid, pi_columns

# AF has no "no end": an open frame ends at AFTime.MaxValue, 9999-12-31 (docs/pi-web-api.md#event-frames).
OPEN_END_YEAR = 9999

ATTRIBUTE_VALUE = pl.Struct(
    {
        "webid": pl.String(),
        "name": pl.String(),
        "path": pl.String(),
        "timestamp": UTC_TIMESTAMP,
        "value": pl.Float64(),
        "value_text": pl.String(),
        "units": pl.String(),
        "good": pl.Boolean(),
        "questionable": pl.Boolean(),
        "substituted": pl.Boolean(),
        "annotated": pl.Boolean(),
    }
)
_FRAME_FIELDS = {  # PI field → (column, dtype)
    "WebId": ("webid", pl.String()),
    "Id": ("id", pl.String()),
    "Name": ("name", pl.String()),
    "Path": ("path", pl.String()),
    "Description": ("description", pl.String()),
    "TemplateName": ("template", pl.String()),
    "CategoryNames": ("categories", pl.List(pl.String())),
    "Severity": ("severity", pl.String()),
    "RefElementWebIds": ("ref_element_webids", pl.List(pl.String())),
    "CanBeAcknowledged": ("can_be_acknowledged", pl.Boolean()),
    "IsAcknowledged": ("is_acknowledged", pl.Boolean()),
    "AcknowledgedBy": ("acknowledged_by", pl.String()),
    "AreValuesCaptured": ("are_values_captured", pl.Boolean()),
}
EVENT_FRAME_SCHEMA = {
    "day": pl.Date(),  # the daily partition: a frame is in every day it overlaps
    **{column: dtype for column, dtype in _FRAME_FIELDS.values()},
    "start": UTC_TIMESTAMP,
    "end": UTC_TIMESTAMP,  # null while the frame is open
    "is_open": pl.Boolean(),
    "duration_seconds": pl.Float64(),  # null while open (Delta has no duration type)
    "acknowledged_at": UTC_TIMESTAMP,
    "primary_element_webid": pl.String(),
    "parent_webid": pl.String(),  # the parent frame of a child frame
    "attributes": pl.List(ATTRIBUTE_VALUE),
    "loaded_at": UTC_TIMESTAMP,
}
CURRENT_SCHEMA = {
    **{k: v for k, v in EVENT_FRAME_SCHEMA.items() if k != "day"},
    "first_day": pl.Date(),
    "last_day": pl.Date(),
}


def event_frames_frame(
    frames: list[dict], values: dict[str, list[dict]], start: datetime, end: datetime, loaded_at: datetime
) -> pl.DataFrame:
    """Frames overlapping ``[start, end)`` (half-open, unlike PI's closed range), one row per frame and
    UTC day of that window it overlaps, with its attribute values as a list of structs."""
    links = pl.Series(
        [frame.get("Links") or {} for frame in frames],
        dtype=pl.Struct({"PrimaryReferencedElement": pl.String(), "Parent": pl.String()}),
    )
    parent = links.struct.field("Parent")
    raw = pi_columns(frames, _FRAME_FIELDS).with_columns(
        start=_timestamps(frames, "StartTime"),
        end=_timestamps(frames, "EndTime"),
        acknowledged_at=_timestamps(frames, "AcknowledgedDate"),
        primary_element_webid=link_webid(links.struct.field("PrimaryReferencedElement")),
        # Links.Parent of a child frame points to its parent frame (…/eventframes/{webId})
        parent_webid=pl.when(parent.str.contains("(?i)/eventframes/")).then(link_webid(parent)),
    )
    open_end = pl.col("end").is_null() | (pl.col("end").dt.year() >= OPEN_END_YEAR)
    window_start, window_end = pl.lit(start, dtype=UTC_TIMESTAMP), pl.lit(end, dtype=UTC_TIMESTAMP)
    frame = (
        raw.with_columns(
            is_open=open_end,
            end=pl.when(open_end).then(None).otherwise(pl.col("end")),
            # PI fills these with "" and 1970-01-01 on frames nobody acknowledged
            acknowledged_by=pl.when(pl.col("is_acknowledged")).then(pl.col("acknowledged_by")),
            acknowledged_at=pl.when(pl.col("is_acknowledged")).then(pl.col("acknowledged_at")),
        )
        .with_columns(duration_seconds=(pl.col("end") - pl.col("start")).dt.total_microseconds() / 1e6)
        .filter(
            (pl.col("start") < window_end)
            & (pl.col("end").is_null() | (pl.col("end") > window_start) | (pl.col("start") >= window_start))
        )
    )
    first = pl.max_horizontal(pl.col("start"), window_start)
    last = pl.max_horizontal(
        first, pl.min_horizontal(pl.col("end").fill_null(window_end), window_end) - timedelta(microseconds=1)
    )
    return (
        frame.with_columns(day=pl.date_ranges(first.dt.date(), last.dt.date()))
        .explode("day")
        .join(attribute_values(values), on="webid", how="left")
        .with_columns(
            attributes=pl.col("attributes").fill_null(pl.lit([], dtype=pl.List(ATTRIBUTE_VALUE))),
            loaded_at=pl.lit(loaded_at, dtype=UTC_TIMESTAMP),
        )
        .select([pl.col(c).cast(t) for c, t in EVENT_FRAME_SCHEMA.items()])
        .sort(["day", "start", "webid"])
    )


def attribute_values(values: dict[str, list[dict]]) -> pl.DataFrame:
    """``{frame webid: [StreamValue]}`` → one row per frame with ``attributes`` (list of structs)."""
    columns = ValueColumns()
    frames, names, paths, units = [], [], [], []
    for frame, streams in values.items():
        for stream in streams:
            value = stream.get("Value") or {}
            columns.add(stream.get("WebId"), [value])
            frames.append(frame)
            names.append(stream.get("Name"))
            paths.append(stream.get("Path"))
            units.append(stream.get("UnitsAbbreviation") or value.get("UnitsAbbreviation") or None)
    if not frames:
        return pl.DataFrame(schema={"webid": pl.String(), "attributes": pl.List(ATTRIBUTE_VALUE)})
    rows = (
        columns.to_frame()
        .rename({"tag_webid": "webid"})
        .with_columns(
            frame_webid=pl.Series(frames, dtype=pl.String),
            name=pl.Series(names, dtype=pl.String),
            path=pl.Series(paths, dtype=pl.String),
            units=pl.Series(units, dtype=pl.String),
        )
    )
    fields = ATTRIBUTE_VALUE.to_schema()
    return (
        rows.group_by("frame_webid", maintain_order=True)
        .agg(attributes=pl.struct([pl.col(name).cast(dtype) for name, dtype in fields.items()]))
        .rename({"frame_webid": "webid"})
    )


def current_event_frames(frames: pl.DataFrame) -> pl.DataFrame:
    """One row per frame: the state from its most recent load (so a frame that closed after one of its
    days was loaded is closed here), and the first and last day partitions it appears in."""
    return (
        frames.with_columns(first_day=pl.col("day").min().over("webid"), last_day=pl.col("day").max().over("webid"))
        .sort(["webid", "loaded_at", "day"])
        .unique("webid", keep="last", maintain_order=True)
        .select(list(CURRENT_SCHEMA))
        .sort(["start", "webid"])
    )


def _timestamps(frames: list[dict], field: str) -> pl.Series:
    return parse_pi_timestamps(pl.Series([frame.get(field) for frame in frames], dtype=pl.String))
