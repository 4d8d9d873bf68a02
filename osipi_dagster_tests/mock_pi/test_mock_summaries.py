"""PI's summary and interpolation rules in the mock (``mock_pi/calc.py``, ``docs/pi-summaries.md``):
hand-computed cases, then the HTTP endpoints against those rules."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mock_pi import calc, signals
from mock_pi.app import create_app
from mock_pi.config import MockConfig
from mock_pi.signals import IO_TIMEOUT, Events
from osipi_dagster_tests.helpers import MOCK_NOW

H = 3600.0


def events(*rows: tuple) -> Events:
    """(time, value) or (time, value, system_state) rows, in PI's order."""
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    value = np.array([float(r[1]) for r in rows])
    state = np.array([r[2] if len(r) > 2 else 0 for r in rows], dtype=np.int16)
    flags = np.zeros(len(rows), dtype=bool)
    return Events(ts, value, state, flags, flags.copy(), flags.copy())


def summary(
    ev: Events,
    basis: str,
    step: bool = False,
    start: float = 0.0,
    end: float = H,
    intervals: int = 1,
    numeric: bool = True,
) -> dict[str, calc.SummaryValue]:
    values = calc.summarize(ev, start, end, ["All"], basis, numeric, step, intervals)
    return {v.type: v for v in values}


# A bad value inside the hour, a value before the hour and one after it.
MIXED = events((-600, 10), (600, 20), (2400, 0, IO_TIMEOUT), (3000, 40), (4200, 100))


def test_time_weighted_continuous_interpolates_and_skips_bad_time():
    s = summary(MIXED, "TimeWeighted")
    # [0,600]: line 10→20 from 15 (interpolated at the start) to 20; [600,2400]: 20 held up to the bad
    # event; [2400,3000]: bad, left out; [3000,3600]: line 40→100, 70 at the end.
    area = (15 + 20) / 2 * 600 + 20 * 1800 + (40 + 70) / 2 * 600
    assert s["Average"].value == pytest.approx(area / 3000, rel=1e-12)
    assert s["PercentGood"].value == pytest.approx(3000 / 3600 * 100)
    assert s["Count"].value == 3000  # time-weighted Count: seconds of good data
    assert (s["Minimum"].value, s["Minimum"].ts) == (15, 0)
    assert (s["Maximum"].value, s["Maximum"].ts) == (70, 3600)
    assert s["Range"].value == 55
    assert s["Total"].value == pytest.approx(area / 3000 * H / 86400)  # bad time scaled up, per-day rate


def test_time_weighted_step_holds_each_value():
    s = summary(MIXED, "TimeWeighted", step=True)
    assert s["Average"].value == pytest.approx((10 * 600 + 20 * 1800 + 40 * 600) / 3000, rel=1e-12)
    assert (s["Minimum"].value, s["Maximum"].value) == (10, 40)
    # The basis overrides the point's Step attribute.
    assert summary(MIXED, "TimeWeightedDiscrete")["Average"].value == s["Average"].value
    assert (
        summary(MIXED, "TimeWeightedContinuous", step=True)["Average"].value
        == summary(MIXED, "TimeWeighted")["Average"].value
    )


def test_event_weighted_counts_every_event_and_averages_the_good_ones():
    s = summary(MIXED, "EventWeighted")
    assert s["Count"].value == 3  # 600, 2400 (bad), 3000
    assert s["PercentGood"].value == pytest.approx(200 / 3)
    assert s["Average"].value == 30 and s["Total"].value == 60
    assert s["StdDev"].value == pytest.approx(np.std([20, 40], ddof=1))
    assert s["PopulationStdDev"].value == pytest.approx(10)
    assert (s["Minimum"].value, s["Minimum"].ts, s["Maximum"].value, s["Maximum"].ts) == (20, 600, 40, 3000)


def test_no_value_in_the_hour():
    ev = events((-1800, 10), (5400, 40))
    assert summary(ev, "TimeWeighted")["Average"].value == pytest.approx((17.5 + 32.5) / 2)
    assert summary(ev, "TimeWeighted", step=True)["Average"].value == 10
    assert summary(ev, "TimeWeighted")["PercentGood"].value == 100
    s = summary(ev, "EventWeighted")
    assert s["Count"].value == 0 and s["Count"].good
    assert not s["Average"].good and s["Average"].value is None  # needs at least one event


def test_values_exactly_at_the_boundaries():
    ev = events((-600, 0), (0, 30), (1800, 60), (3600, 90))
    assert summary(ev, "TimeWeighted")["Average"].value == pytest.approx(60)
    # Event-weighted boundaries: a single interval takes both ends; several ascending intervals take
    # the start only; the Exclude/Include bases say it themselves.
    assert summary(ev, "EventWeighted")["Count"].value == 3
    assert summary(ev, "EventWeighted", intervals=2)["Count"].value == 2
    assert summary(ev, "EventWeightedExcludeMostRecentEvent")["Count"].value == 2
    assert summary(ev, "EventWeightedExcludeMostRecentEvent")["Average"].value == 45
    assert summary(ev, "EventWeightedExcludeEarliestEvent")["Average"].value == 75
    assert summary(ev, "EventWeightedIncludeBothEnds", intervals=2)["Count"].value == 3


def test_no_data_before_the_first_event():
    s = summary(events((1800, 10)), "TimeWeighted")
    assert (s["Average"].value, s["PercentGood"].value, s["Count"].value) == (10, 50, 1800)
    nothing = summary(events((7200, 10)), "TimeWeighted")
    assert nothing["PercentGood"].value == 0 and not nothing["Average"].good


def test_bad_value_before_the_hour_holds_nothing():
    s = summary(events((-600, 0, IO_TIMEOUT), (1800, 10), (5400, 10)), "TimeWeighted")
    assert (s["Average"].value, s["PercentGood"].value) == (10, 50)


def test_non_numeric_points_only_count():
    s = summary(MIXED, "EventWeighted", numeric=False)
    assert s["Count"].value == 3 and s["Count"].good
    assert all(not v.good for k, v in s.items() if k != "Count")


def test_interpolation_rules():
    ev = events((-600, 10), (600, 20), (1200, 25), (1200, 27), (2400, 0, IO_TIMEOUT), (3000, 40))
    got = calc.interpolate(ev, np.array([-700, 0, 900, 1200, 1500, 2400, 2700, 3600]), step=False)
    # before the first event: No Data; linear between good events; several events at one time: the last
    # one at that time, the first one as the next event; a good value before a bad one is held; a bad
    # state is carried forward; the last value holds.
    assert got.value[1:4].tolist() == [15, 22.5, 27]
    assert got.value[4] == 27 and got.system_state[4] == 0  # 27 → bad at 2400: held
    assert got.system_state.tolist() == [signals.NO_DATA, 0, 0, 0, 0, IO_TIMEOUT, IO_TIMEOUT, 0]
    assert got.value[7] == 40
    assert calc.interpolate(ev, np.array([0.0, 900.0]), step=True).value.tolist() == [10, 20]


# -- the HTTP endpoints ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(MockConfig(tags=60, now=MOCK_NOW)))


def test_streamset_summary_per_hour_follows_the_rules(client):
    mock = client.app.state.mock
    tags = [t for t in mock.universe.tags if t.created_s < MOCK_NOW.timestamp() - 86400]
    start = MOCK_NOW.timestamp() - 3 * H
    params = [("webId", t.webid) for t in tags] + [
        ("startTime", "*-3h"),
        ("endTime", "*"),
        ("summaryDuration", "1h"),
        ("calculationBasis", "TimeWeighted"),
        ("summaryType", "Average"),
        ("summaryType", "Count"),
        ("timeType", "EarliestTime"),
    ]
    body = client.get("/piwebapi/streamsets/summary", params=params).json()
    assert len(body["Items"]) == len(tags)
    kinds = set()
    for tag, stream in zip(tags, body["Items"]):
        assert [i["Type"] for i in stream["Items"]] == ["Average", "Count"] * 3
        step = tag.sensor.kind in ("digital", "string")
        numeric = tag.sensor.kind in ("analog", "counter")
        context = signals.recorded(tag, start - 86400, MOCK_NOW.timestamp(), MOCK_NOW.timestamp(), mock.config.seed)
        for hour in range(3):
            a = start + hour * H
            want = summary(context, "TimeWeighted", step=step, start=a, end=a + H, numeric=numeric)
            average = stream["Items"][2 * hour]["Value"]
            assert average["Timestamp"] == signals_iso(a)
            assert average["Good"] == want["Average"].good
            if want["Average"].good:
                assert average["Value"] == pytest.approx(want["Average"].value, rel=1e-12)
            else:
                assert average["Value"]["Name"] == "Calc Failed"
        kinds.add(tag.sensor.kind)
    assert kinds >= {"analog", "digital", "string"}


def signals_iso(ts: float) -> str:
    from mock_pi.render import iso

    return iso(np.array([int(ts)]))[0]


def test_streamset_interpolated_follows_the_rules(client):
    mock = client.app.state.mock
    tags = mock.universe.tags[:20]
    params = [("webId", t.webid) for t in tags] + [("startTime", "*-2h"), ("endTime", "*"), ("interval", "20m")]
    body = client.get("/piwebapi/streamsets/interpolated", params=params).json()
    times = MOCK_NOW.timestamp() - 2 * H + np.arange(7) * 1200
    for tag, stream in zip(tags, body["Items"]):
        assert len(stream["Items"]) == 7
        context = signals.recorded(tag, times[0] - 86400, times[-1], MOCK_NOW.timestamp(), mock.config.seed)
        want = calc.interpolate(context, times, tag.sensor.kind in ("digital", "string"))
        for item, value, state in zip(stream["Items"], want.value, want.system_state):
            assert item["Good"] == (state == 0)
            if state == 0 and tag.sensor.kind in ("analog", "counter") and tag.sensor.point_type != "Int32":
                assert item["Value"] == pytest.approx(value, rel=1e-12)
