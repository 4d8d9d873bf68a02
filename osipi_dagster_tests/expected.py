"""What the mock's generator says a table must contain, computed without the connector's code."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from mock_pi import signals
from mock_pi.config import MockConfig
from mock_pi.universe import Universe


def expected_timeseries(config: MockConfig, start: datetime, end: datetime, now: datetime | None = None,
                        universe: Universe | None = None) -> pl.DataFrame:
    """Rows of ``pi_timeseries`` for ``start <= timestamp < end`` as the generator defines them."""
    universe = universe or Universe(config)
    now_s = (now or config.now).timestamp()
    rows: dict[str, list] = {k: [] for k in ("tag_webid", "tag_name", "ts", "value", "value_text", "good",
                                             "questionable", "substituted", "annotated", "units")}
    for tag in universe.visible_tags(now_s):
        events = signals.recorded(tag, start.timestamp(), end.timestamp(), now_s, config.seed,
                                  config.late_lag_seconds)
        events = events.take(events.ts < end.timestamp())
        kind = tag.sensor.kind
        for i in range(len(events)):
            state = int(events.system_state[i])
            raw = float(events.value[i])
            if state:
                value, text = None, signals.SYSTEM_STATES[state]
            elif kind == "digital":
                value, text = raw, signals.digital_state_name(tag, int(raw))
            elif kind == "string":
                value, text = None, signals.string_value(tag, int(raw))
            else:
                value, text = raw, None
            rows["tag_webid"].append(tag.webid)
            rows["tag_name"].append(tag.name)
            rows["ts"].append(int(events.ts[i]) * 1_000_000)
            rows["value"].append(value)
            rows["value_text"].append(text)
            rows["good"].append(state == 0)
            rows["questionable"].append(bool(events.questionable[i]))
            rows["substituted"].append(bool(events.substituted[i]))
            rows["annotated"].append(bool(events.annotated[i]))
            rows["units"].append(tag.sensor.units)
    frame = pl.DataFrame(rows, schema_overrides={"value": pl.Float64, "value_text": pl.String})
    return (
        frame.with_columns(timestamp=pl.from_epoch("ts", time_unit="us").dt.replace_time_zone("UTC"))
        .drop("ts")
        .with_columns(sequence=pl.int_range(pl.len(), dtype=pl.Int32).over(["tag_webid", "timestamp"]))
    )


def comparable(frame: pl.DataFrame) -> pl.DataFrame:
    """Same columns in the same order, sorted by the table key, for exact equality checks."""
    columns = ["tag_webid", "tag_name", "timestamp", "sequence", "value", "value_text", "good", "questionable",
               "substituted", "annotated", "units"]
    return frame.select(columns).sort(["tag_webid", "timestamp", "sequence"])
