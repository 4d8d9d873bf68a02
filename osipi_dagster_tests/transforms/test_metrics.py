"""``hourly_metrics`` on a hand-made hour: the time-weighting convention."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from osipi_dagster.transforms.metrics import hourly_metrics

UTC = timezone.utc


def test_time_weighting_convention():
    """A bad event stops the previous value's span; the last value holds to the end of the hour."""
    t = datetime(2026, 1, 1, 5, tzinfo=UTC)
    frame = pl.DataFrame({
        "tag_webid": ["A"] * 4, "tag_name": ["a"] * 4, "units": ["bar"] * 4,
        "timestamp": [t, t + timedelta(minutes=15), t + timedelta(minutes=30), t + timedelta(minutes=45)],
        "sequence": [0] * 4, "value": [10.0, 20.0, None, 40.0], "good": [True, True, False, True],
    }, schema_overrides={"timestamp": pl.Datetime("us", "UTC"), "sequence": pl.Int32})
    row = hourly_metrics(frame).row(0, named=True)
    assert row["time_weighted_mean"] == pytest.approx((10 * 15 + 20 * 15 + 40 * 15) / 45)
    assert (row["count"], row["good_count"], row["share_good"]) == (4, 3, 0.75)
    assert (row["min"], row["max"], row["first"], row["last"]) == (10.0, 40.0, 10.0, 40.0)
