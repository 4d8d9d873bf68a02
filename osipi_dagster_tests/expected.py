"""What the mock's generator says a table must contain, computed without the connector's code."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from mock_pi import signals
from mock_pi.config import MockConfig
from mock_pi.universe import Universe
from osipi_dagster.pi.values import RAW_SCHEMA
from osipi_dagster_tests.helpers import MOCK_CONFIG

COLUMNS = [
    "tag_webid",
    "tag_name",
    "timestamp",
    "sequence",
    "value",
    "value_text",
    "good",
    "questionable",
    "substituted",
    "annotated",
    "units",
]


def _tag_frame(tag, events: signals.Events) -> pl.DataFrame:
    """One tag's events as table rows: numbers in ``value``; names/strings/system states in ``value_text``."""
    n = len(events)
    states = events.system_state
    kind = tag.sensor.kind
    value = events.value.astype(np.float64).copy()
    text: list[str | None] = [None] * n
    if kind == "digital":
        text = [signals.digital_state_name(tag, int(c)) for c in events.value]
    elif kind == "string":
        text = [signals.string_value(tag, int(c)) for c in events.value]
        value[:] = np.nan
    for i in np.flatnonzero(states):
        text[i] = signals.SYSTEM_STATES[int(states[i])]
        value[i] = np.nan
    return pl.DataFrame(
        {
            "tag_webid": [tag.webid] * n,
            "tag_name": [tag.name] * n,
            "timestamp": events.ts * 1_000_000,
            "value": value,
            "value_text": pl.Series(text, dtype=pl.String),
            "good": states == 0,
            "questionable": events.questionable,
            "substituted": events.substituted,
            "annotated": events.annotated,
            "units": [tag.sensor.units] * n,
        }
    )


def expected_timeseries(
    config: MockConfig,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
    universe: Universe | None = None,
    webids: set[str] | None = None,
) -> pl.DataFrame:
    """Rows of ``pi_timeseries`` for ``start <= timestamp < end`` as the generator defines them,
    for the tags visible at ``now`` (or only ``webids``)."""
    universe = universe or Universe(config)
    now_s = (now or config.now).timestamp()
    frames = []
    for tag in universe.visible_tags(now_s):
        if webids is not None and tag.webid not in webids:
            continue
        events = signals.recorded(tag, start.timestamp(), end.timestamp(), now_s, config.seed, config.late_lag_seconds)
        frames.append(_tag_frame(tag, events.take(events.ts < end.timestamp())))
    frame = pl.concat(frames)
    return frame.with_columns(
        timestamp=pl.from_epoch("timestamp", time_unit="us").dt.replace_time_zone("UTC"),
        value=pl.col("value").fill_nan(None),
        sequence=pl.int_range(pl.len(), dtype=pl.Int32).over(["tag_webid", "timestamp"]),
    ).select(COLUMNS)


def comparable(frame: pl.DataFrame) -> pl.DataFrame:
    """Same columns in the same order, sorted by the table key, for exact equality checks."""
    return frame.select(COLUMNS).sort(["tag_webid", "timestamp", "sequence"])


def comparable_raw(raw: pl.DataFrame) -> pl.DataFrame:
    """Extracted raw rows with an ordinal per (tag, timestamp), sorted: equal frames hold exactly the same events."""
    return (
        raw.select(list(RAW_SCHEMA))
        .with_columns(sequence=pl.int_range(pl.len(), dtype=pl.Int32).over(["tag_webid", "timestamp"]))
        .sort(["tag_webid", "timestamp", "sequence"])
    )


def expected_raw(webids: list[str], start: datetime, end: datetime, config: MockConfig = MOCK_CONFIG) -> pl.DataFrame:
    """What extracting ``webids`` over ``[start, end)`` from the mock serving ``config`` must return."""
    return comparable_raw(expected_timeseries(config, start, end, webids=set(webids)))
