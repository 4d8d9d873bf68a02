"""The ingestion report's chart data (``transforms/report.py``) from small real Delta tables built from the mock's
generator, against counts and medians computed here independently (plain Python over the generator's output)."""

from __future__ import annotations

import statistics
import struct
from collections import Counter
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from deltalake import write_deltalake

from mock_pi import signals
from mock_pi.af import AFModel
from mock_pi.eventframes import EventFrameModel
from mock_pi.universe import Universe
from osipi_dagster import charts
from osipi_dagster.transforms import report
from osipi_dagster_tests.helpers import MOCK_CONFIG, MOCK_NOW

START = MOCK_NOW - timedelta(hours=4)


def delta_table(frame: pl.DataFrame, path) -> str:
    """``frame`` written as a real Delta table at ``path`` (returned as a URI to scan)."""
    write_deltalake(str(path), frame.to_arrow())
    return str(path)


@pytest.fixture(scope="module")
def universe() -> Universe:
    return Universe(MOCK_CONFIG)


def sample_tags(universe: Universe) -> list:
    """Tags of every sampling kind: 10 s, 60 s, 300 s, 1,800 s (digital), 14,400 s (string: < 2 values in 4 h)."""
    by_period = {}
    for tag in universe.tags:
        by_period.setdefault(tag.sensor.period_s, tag)
    return list(by_period.values())


def test_median_sampling_intervals_equal_the_generator(universe, tmp_path):
    tags = sample_tags(universe)
    rows = []
    for tag in tags:
        events = signals.recorded(tag, START.timestamp(), MOCK_NOW.timestamp(), MOCK_NOW.timestamp(), MOCK_CONFIG.seed)
        for sequence, ts in enumerate(events.ts.tolist()):
            rows.append((tag.webid, tag.name, datetime.fromtimestamp(ts, UTC), sequence))
    table = pl.DataFrame(
        rows,
        schema={
            "tag_webid": pl.String,
            "tag_name": pl.String,
            "timestamp": pl.Datetime("us", "UTC"),
            "sequence": pl.Int64,
        },
        orient="row",
    )
    scan = pl.scan_delta(delta_table(table, tmp_path / "pi_timeseries"))
    window = (START + timedelta(hours=1), MOCK_NOW)
    got = report.median_sampling_intervals(scan, *window)

    expected = {}
    for tag in tags:
        events = signals.recorded(tag, START.timestamp(), MOCK_NOW.timestamp(), MOCK_NOW.timestamp(), MOCK_CONFIG.seed)
        times = sorted({t for t in events.ts.tolist() if window[0].timestamp() <= t < window[1].timestamp()})
        gaps = [b - a for a, b in zip(times, times[1:])]
        if gaps:
            expected[tag.webid] = (tag.name, len(gaps), statistics.median(gaps))
    assert len(expected) < len(tags)  # the string tag has fewer than two values in the window: left out
    assert {r["tag_webid"]: (r["tag_name"], r["intervals"]) for r in got.iter_rows(named=True)} == {
        webid: (name, count) for webid, (name, count, _) in expected.items()
    }
    for row in got.iter_rows(named=True):
        assert row["median_interval_seconds"] == pytest.approx(expected[row["tag_webid"]][2], abs=1e-6)


def test_elements_per_level_counts_each_element_once(universe, tmp_path):
    elements = universe.elements
    frame = pl.DataFrame(
        {
            "webid": [e.webid for e in elements] + [elements[-1].webid],  # one element referenced a second time
            "depth": [e.level for e in elements] + [1],
            "template": [e.template for e in elements] + [elements[-1].template],
            "is_primary_path": [True] * len(elements) + [False],
        },
        schema_overrides={"depth": pl.Int32},
    )
    table = pl.read_delta(delta_table(frame, tmp_path / "pi_af_elements"))
    got = report.elements_per_level(table)
    expected = Counter((e.level, e.template) for e in elements)
    assert {(r["depth"], r["template"]): r["elements"] for r in got.iter_rows(named=True)} == dict(expected)
    assert got["depth"].to_list() == sorted(got["depth"].to_list())


def test_event_frames_per_template_and_durations(universe, tmp_path):
    model = EventFrameModel(AFModel(universe))
    now = MOCK_NOW.timestamp()
    found = model.frames_between(now - 3 * 86400, now, now, children=True)
    frame = pl.DataFrame(
        {
            "webid": [f"{f.guid}" for f in found],
            "template": [f.template for f in found],
            "is_open": [f.is_open for f in found],
            "duration_seconds": [None if f.is_open else float(f.end_s - f.start_s) for f in found],
        },
        schema_overrides={"duration_seconds": pl.Float64},
    )
    table = pl.read_delta(delta_table(frame, tmp_path / "pi_event_frames_current"))
    got = report.event_frames_per_template(table)
    durations: dict[str, list[float]] = {}
    for f in found:
        if not f.is_open:
            durations.setdefault(f.template, []).append(float(f.end_s - f.start_s))
    assert {r["template"]: r["frames"] for r in got.iter_rows(named=True)} == dict(Counter(f.template for f in found))
    assert {r["template"]: r["open_frames"] for r in got.iter_rows(named=True)} == {
        t: sum(f.is_open for f in found if f.template == t) for t in {f.template for f in found}
    }
    assert {r["template"]: r["median_duration_seconds"] for r in got.iter_rows(named=True)} == {
        t: statistics.median(durations[t]) if t in durations else None for t in {f.template for f in found}
    }
    assert got["frames"].to_list() == sorted(got["frames"].to_list(), reverse=True)
    closed = report.event_frame_durations(table)
    assert sorted(closed.iter_rows()) == sorted((t, d) for t, ds in durations.items() for d in ds)


def test_hourly_throughput_takes_rows_from_the_table_and_speed_from_the_loads():
    hours = [START + timedelta(hours=i) for i in range(3)]
    got = report.hourly_throughput(
        hours, {hours[0]: 10, hours[2]: 7}, {hours[2]: {"values_per_second": 5, "seconds": 1.4}}
    )
    assert got.rows() == [(hours[0], 10, None, None), (hours[1], 0, None, None), (hours[2], 7, 5.0, 1.4)]


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_charts_of_empty_tables_are_pngs_saying_so():
    size = (round(charts.WIDTH_INCHES * charts.DPI), round(charts.HEIGHT_INCHES * charts.DPI))
    for png in (
        charts.throughput_chart(report.hourly_throughput([], {}, {})),
        charts.sampling_interval_chart(pl.DataFrame(schema={"median_interval_seconds": pl.Float64})),
        charts.af_elements_chart(pl.DataFrame()),
        charts.event_frames_chart(pl.DataFrame(), pl.DataFrame()),
    ):
        assert png_size(png) == size
