"""``hourly_metrics`` on hand-made hours: PI's time-weighting rules (docs/pi-summaries.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from osipi_dagster.transforms.metrics import EDGE_SCHEMA, hourly_metrics

UTC = UTC


def _frame(rows: list[tuple], schema: dict, **constant) -> pl.DataFrame:
    return pl.DataFrame(
        [dict(zip(schema, r)) | constant for r in rows], schema=schema | {k: pl.String() for k in constant}
    )


T = datetime(2026, 1, 1, 5, tzinfo=UTC)
CATALOG = pl.DataFrame(
    {"webid": ["A", "S"], "name": ["a", "s"], "engineering_units": ["bar", "bar"], "step": [False, True]}
)
EVENTS = {
    "tag_webid": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"),
    "sequence": pl.Int32(),
    "value": pl.Float64(),
    "good": pl.Boolean(),
}


def _hour(tag: str, before: tuple, inside: list[tuple], after: tuple | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """pi_timeseries rows of one hour starting at T and the edge events PI returns around T and T+1h."""
    rows = [(tag, T + timedelta(minutes=m), 0, v, g) for m, v, g in inside]
    timeseries = _frame(rows, EVENTS, tag_name=tag.lower(), units="bar")
    edges = [(tag, T, T + timedelta(minutes=before[0]), 0, before[1], before[2])]
    edges += [(tag, T, T + timedelta(minutes=m), 1 + i, v, g) for i, (m, v, g) in enumerate(inside[:1])]
    if after is not None:
        edges += [(tag, T + timedelta(hours=1), T + timedelta(minutes=after[0]), 0, after[1], after[2])]
    return timeseries, _frame(edges, EDGE_SCHEMA)


def test_time_weighting_convention():
    """Continuous: the start interpolates from the event before the hour, a bad event stops the previous
    value (held up to it), the end interpolates towards the event after the hour. Step: values hold."""
    inside = [(10, 20.0, True), (40, None, False), (50, 40.0, True)]
    timeseries, edges = _hour("A", (-10, 10.0, True), inside, (70, 100.0, True))
    row = hourly_metrics(timeseries, edges, CATALOG, [T]).row(0, named=True)
    # [0,10]: 15→20; [10,40]: 20 held; [40,50]: bad; [50,60]: 40→70 (line 40@50 → 100@70).
    assert row["time_weighted_mean"] == pytest.approx(((15 + 20) / 2 * 10 + 20 * 30 + (40 + 70) / 2 * 10) / 50)
    assert row["good_seconds"] == 50 * 60
    assert (row["count"], row["good_count"], row["share_good"]) == (3, 2, pytest.approx(2 / 3))
    assert (row["min"], row["max"], row["first"], row["last"]) == (20.0, 40.0, 20.0, 40.0)
    timeseries, edges = _hour("S", (-10, 10.0, True), inside, (70, 100.0, True))
    row = hourly_metrics(timeseries, edges, CATALOG, [T]).row(0, named=True)
    assert row["time_weighted_mean"] == pytest.approx((10 * 10 + 20 * 30 + 40 * 10) / 50)


def test_hour_without_events_and_without_a_next_event():
    """No event in the hour: the value before it holds (or runs to the next one); nothing after it (the
    latest hour): the last value holds to the end of the hour."""
    timeseries, edges = _hour("A", (-30, 10.0, True), [], (90, 40.0, True))
    row = hourly_metrics(timeseries, edges, CATALOG, [T]).row(0, named=True)
    assert (row["count"], row["share_good"], row["tag_name"]) == (0, None, "a")
    assert row["time_weighted_mean"] == pytest.approx((17.5 + 32.5) / 2)
    timeseries, edges = _hour("A", (-30, 10.0, True), [(30, 20.0, True)], None)
    row = hourly_metrics(timeseries, edges, CATALOG, [T]).row(0, named=True)
    assert row["time_weighted_mean"] == pytest.approx(((15 + 20) / 2 * 30 + 20 * 30) / 60)
