"""The sensors' plain functions, on hand-made inputs and a real Delta table: which hours a new-tag load covers,
PI's clock, which days hold open event frames and what the refresh requests are. (The sensors end to end,
against the mock's evolving plant, are in ``integration/test_watermarks.py`` and ``assets/test_event_frames.py``.)"""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from osipi_dagster.resources.lakehouse import DeltaLakehouse
from osipi_dagster.sensors.event_frames import open_frame_days, refresh_requests
from osipi_dagster.sensors.new_tags import lookback_range, server_time


def test_server_time_reads_pis_seven_fractional_digits():
    assert (
        server_time({"ServerTime": "2026-11-20T12:00:00.1234567Z"})
        == datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=UTC).timestamp()
    )
    assert server_time({"ServerTime": "2026-11-20T12:00:00Z"}) == datetime(2026, 11, 20, 12, tzinfo=UTC).timestamp()


def test_lookback_covers_the_latest_complete_hours():
    now = datetime(2026, 11, 20, 12, 30, tzinfo=UTC).timestamp()
    assert lookback_range(now, 24) == ("2026-11-19-12:00", "2026-11-20-11:00")
    assert lookback_range(now, 1) == ("2026-11-20-11:00", "2026-11-20-11:00")


def test_days_with_open_frames_and_their_refresh_requests(tmp_path):
    lakehouse = DeltaLakehouse(root_uri=str(tmp_path))
    assert open_frame_days(lakehouse).is_empty()  # no table yet: nothing to refresh
    loaded = datetime(2026, 11, 20, 6, tzinfo=UTC)
    frames = pl.DataFrame(
        {
            "day": [date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 19), date(2026, 11, 20)],
            "webid": ["a", "b", "c", "c"],
            "is_open": [False, True, False, True],
            "loaded_at": [loaded, loaded, loaded, loaded.replace(hour=7)],
        },
        schema_overrides={"loaded_at": pl.Datetime("us", "UTC")},
    )
    frames.write_delta(lakehouse.table_uri("bronze", "pi_event_frames"))
    days = open_frame_days(lakehouse)
    assert days.rows() == [(date(2026, 11, 19), loaded, 1), (date(2026, 11, 20), loaded.replace(hour=7), 1)]
    now = datetime(2026, 11, 21, 0, 30, tzinfo=UTC)
    requests = refresh_requests(days, now, refresh_seconds=3600)
    assert [r.partition_key for r in requests] == ["2026-11-19", "2026-11-20"]
    assert len({r.run_key for r in requests}) == 2
    # The same load and period ask again under the same run key (Dagster skips it); the next period does not.
    assert [r.run_key for r in refresh_requests(days, now, refresh_seconds=3600)] == [r.run_key for r in requests]
    later = refresh_requests(days, now.replace(hour=1, minute=30), refresh_seconds=3600)
    assert {r.run_key for r in later}.isdisjoint({r.run_key for r in requests})
