"""Event frames from the mock: ``pi_event_frames`` loaded day by day, an open frame that closes when the
mock's clock moves (the sensor requests the refresh), and the deduplicated ``pi_event_frames_current``."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime

import httpx
import polars as pl
import pytest
from dagster import (
    AutomationCondition,
    DagsterInstance,
    Definitions,
    build_sensor_context,
    evaluate_automation_conditions,
    materialize,
)

from mock_pi.config import MockConfig
from mock_pi.process import running_mock
from mock_pi.state import MockPI
from osipi_dagster.assets.event_frames import pi_event_frames, pi_event_frames_current
from osipi_dagster.automation import current_view_condition
from osipi_dagster.resources import build_resources
from osipi_dagster.resources.lakehouse import DeltaLakehouse
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.sensors.event_frames import pi_open_event_frames_sensor
from osipi_dagster_tests.helpers import MOCK_TAGS

pytestmark = pytest.mark.integration  # every test here runs the mock server process

UTC = UTC

# At BEFORE three maintenance frames of the 18th are open, one of them since the 16th; by AFTER all closed.
BEFORE = datetime(2026, 11, 19, 1, 0, tzinfo=UTC)
AFTER = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
DAYS = ["2026-11-17", "2026-11-18"]
CONFIG = MockConfig(tags=MOCK_TAGS, now=BEFORE)


@functools.cache
def mock_model() -> MockPI:
    return MockPI(CONFIG)


def expected_frames(day: str, now: datetime) -> dict[str, object]:
    """The mock's frames overlapping the day as of ``now``, by webid, with the table's half-open rule."""
    mock = mock_model()
    start = datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
    end = start + 86400
    frames = mock.eventframes.frames_between(start, end, now.timestamp(), children=True)
    return {mock.eventframe_webid(f): f for f in frames if f.start_s < end and (f.end_s > start or f.start_s >= start)}


def assert_day_matches(table: pl.DataFrame, day: str, now: datetime) -> None:
    rows = {r["webid"]: r for r in table.filter(pl.col("day") == date.fromisoformat(day)).iter_rows(named=True)}
    expected = expected_frames(day, now)
    assert rows.keys() == expected.keys()
    for webid, frame in expected.items():
        row = rows[webid]
        assert (row["name"], row["template"], row["is_open"]) == (frame.name, frame.template, frame.is_open)
        assert row["start"].timestamp() == frame.start_s
        assert row["end"] is None if frame.is_open else row["end"].timestamp() == frame.end_s
        assert row["ref_element_webids"] == [frame.element.webid]
        assert {a["name"] for a in row["attributes"]} == {a["name"] for a in mock_model().eventframes.attributes(frame)}


@pytest.fixture(scope="module")
def mock_url():
    with running_mock("--tags", str(MOCK_TAGS), "--now", BEFORE.isoformat()) as server:
        yield server.url


@pytest.fixture(scope="module")
def instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.fixture(scope="module")
def root(mock_url, instance, tmp_path_factory):
    """Both days loaded at ``BEFORE``, then the deduplicated view."""
    root = tmp_path_factory.mktemp("delta")
    for day in DAYS:
        _run(mock_url, root, instance, [pi_event_frames], day)
    _run(mock_url, root, instance, [pi_event_frames_current])
    return root


def _run(url, root, instance, selection, partition_key=None):
    resources = build_resources(PIWebAPIResource(base_url=url), str(root))
    result = materialize(
        [pi_event_frames, pi_event_frames_current],
        selection=selection,
        partition_key=partition_key,
        resources=resources,
        instance=instance,
    )
    assert result.success


def _sensor_requests(root):
    with build_sensor_context(
        instance=DagsterInstance.ephemeral(), resources={"lakehouse": DeltaLakehouse(root_uri=str(root))}
    ) as context:
        result = pi_open_event_frames_sensor(context)
    return result.run_requests or []


def test_days_equal_the_mock_and_multi_day_frames_appear_once_downstream(root):
    table = pl.read_delta(str(root / "bronze" / "pi_event_frames"))
    for day in DAYS:
        assert_day_matches(table, day, BEFORE)
    assert table.select("day", "webid").is_duplicated().sum() == 0
    spanning = table.group_by("webid").len().filter(pl.col("len") > 1)
    assert spanning.height > 0  # frames in both days' partitions…
    current = pl.read_delta(str(root / "silver" / "pi_event_frames_current"))
    assert current["webid"].n_unique() == current.height == table["webid"].n_unique()  # …are one row here
    multi = current.filter(pl.col("webid").is_in(spanning["webid"].implode()))
    assert (multi["first_day"] < multi["last_day"]).all()


def test_open_frames_are_refreshed_until_they_close(root, mock_url, instance):
    path = str(root / "bronze" / "pi_event_frames")
    open_before = pl.read_delta(path).filter(pl.col("is_open"))
    assert open_before["webid"].n_unique() == 3 and set(open_before["day"]) == {date(2026, 11, 17), date(2026, 11, 18)}

    requests = _sensor_requests(root)
    assert [(r.partition_key, r.asset_selection) for r in requests] == [(day, [pi_event_frames.key]) for day in DAYS]
    assert [r.run_key for r in _sensor_requests(root)] == [r.run_key for r in requests]  # no new request meanwhile

    httpx.post(mock_url.replace("/piwebapi", "/admin/clock"), json={"now": AFTER.isoformat()}).raise_for_status()
    for request in requests:
        _run(mock_url, root, instance, [pi_event_frames], request.partition_key)
    _run(mock_url, root, instance, [pi_event_frames_current])

    table = pl.read_delta(path)
    for day in DAYS:
        assert_day_matches(table, day, AFTER)
    closed = table.filter(pl.col("webid").is_in(open_before["webid"].implode()))
    assert closed.height == open_before.height and not closed["is_open"].any() and closed["end"].null_count() == 0
    current = pl.read_delta(str(root / "silver" / "pi_event_frames_current"))
    assert not current.filter(pl.col("webid").is_in(open_before["webid"].implode()))["is_open"].any()
    assert _sensor_requests(root) == []


def test_current_view_follows_any_updated_day(root, mock_url, instance):
    """Its eager condition fires when one day is reloaded, though most days of the history are missing
    (plain ``eager()`` would wait for all of them)."""

    def requested(condition) -> int:
        view = pi_event_frames_current.map_asset_specs(
            lambda spec: spec.replace_attributes(automation_condition=condition)
        )
        defs = Definitions(
            assets=[pi_event_frames, view], resources=build_resources(PIWebAPIResource(base_url=mock_url), str(root))
        )
        first = evaluate_automation_conditions(defs=defs, instance=instance)
        _run(mock_url, root, instance, [pi_event_frames], DAYS[0])
        return evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor).total_requested

    assert requested(current_view_condition()) == 1
    assert requested(AutomationCondition.eager()) == 0
