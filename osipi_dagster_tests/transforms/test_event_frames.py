"""Event-frame transforms on hand-made PI JSON: one row per day a frame overlaps, and the current view."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from osipi_dagster.transforms.event_frames import current_event_frames, event_frames_frame

UTC = UTC
DAY1 = datetime(2026, 11, 18, tzinfo=UTC)


def _frame(webid: str, start: str, end: str, **extra) -> dict:
    return {"WebId": webid, "Name": webid, "StartTime": start, "EndTime": end, "TemplateName": "Batch", **extra}


FRAMES = [
    _frame("multi", "2026-11-18T22:00:00Z", "2026-11-20T01:00:00Z", RefElementWebIds=["E1"]),
    _frame("open", "2026-11-19T10:00:00Z", "9999-12-31T23:59:59Z"),
    _frame("ends-at-midnight", "2026-11-17T20:00:00Z", "2026-11-18T00:00:00Z"),  # PI's Overlapped includes it
    _frame("inside", "2026-11-18T08:00:00Z", "2026-11-18T09:30:00.5Z"),
]
VALUES = {
    "inside": [
        {
            "WebId": "A1",
            "Name": "Level",
            "Path": "p|Level",
            "UnitsAbbreviation": "%",
            "Value": {"Timestamp": "2026-11-18T09:30:00.5Z", "Value": 42.5, "Good": True},
        },
        {
            "WebId": "A2",
            "Name": "Product",
            "Value": {"Timestamp": "1970-01-01T00:00:00Z", "Value": "Diesel", "Good": True},
        },
    ]
}


def test_frames_get_one_row_per_day_they_overlap():
    frame = event_frames_frame(FRAMES, VALUES, DAY1, DAY1 + timedelta(days=2), DAY1)
    days = {w: sorted(g["day"].to_list()) for (w,), g in frame.group_by("webid")}
    assert days == {
        "multi": [date(2026, 11, 18), date(2026, 11, 19)],
        "open": [date(2026, 11, 19)],
        "inside": [date(2026, 11, 18)],
    }
    rows = {r["webid"]: r for r in frame.iter_rows(named=True)}
    assert rows["open"]["is_open"] and rows["open"]["end"] is None and rows["open"]["duration_seconds"] is None
    assert not rows["multi"]["is_open"] and rows["multi"]["duration_seconds"] == 27 * 3600
    assert rows["multi"]["ref_element_webids"] == ["E1"]
    level, product = rows["inside"]["attributes"]
    assert (level["name"], level["value"], level["units"], level["good"]) == ("Level", 42.5, "%", True)
    assert level["timestamp"] == datetime(2026, 11, 18, 9, 30, 0, 500000, tzinfo=UTC)
    assert (product["value"], product["value_text"]) == (None, "Diesel")
    assert rows["multi"]["attributes"] == []


def test_current_view_keeps_each_frame_once_in_its_latest_state():
    first = event_frames_frame(FRAMES, {}, DAY1, DAY1 + timedelta(days=2), DAY1)
    closed = [_frame("open", "2026-11-19T10:00:00Z", "2026-11-19T12:00:00Z")]
    later = event_frames_frame(closed, {}, DAY1 + timedelta(days=1), DAY1 + timedelta(days=2), DAY1 + timedelta(days=3))
    table = pl.concat([first.filter(pl.col("day") == date(2026, 11, 18)), later])
    current = current_event_frames(table)
    assert sorted(current["webid"]) == ["inside", "multi", "open"]
    row = current.filter(pl.col("webid") == "open").row(0, named=True)
    assert not row["is_open"] and row["end"] == datetime(2026, 11, 19, 12, tzinfo=UTC)
    multi = current.filter(pl.col("webid") == "multi").row(0, named=True)
    assert (multi["first_day"], multi["last_day"]) == (date(2026, 11, 18), date(2026, 11, 18))
