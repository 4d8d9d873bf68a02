"""``timeseries_frame`` on hand-made raw frames: names, units, ``sequence`` and row order, whichever path it takes.

The oracle numbers events with a plain loop over the input rows (PI's order) and looks names up in a dict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from osipi_dagster.pi.values import RAW_SCHEMA
from osipi_dagster.transforms.timeseries import TIMESERIES_SCHEMA, timeseries_frame

T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
CATALOG = pl.DataFrame(
    {
        "webid": [f"W{i}" for i in range(8)],
        "name": ["pump.b", "pump.a", "valve", "pump.a", "tank", "mixer", "fan", "zone"],  # two tags named pump.a
        "engineering_units": ["bar", "m3/h", None, "m3/h", "%", "rpm", "Hz", "degC"],
    }
)


def _raw(streams: list[tuple[str, list[int]]]) -> pl.DataFrame:
    """Blocks of rows, one per (webid, seconds after T0) entry, in the order given; values number the rows."""
    rows = [(webid, T0 + timedelta(seconds=s)) for webid, seconds in streams for s in seconds]
    return pl.DataFrame(
        {
            "tag_webid": [w for w, _ in rows],
            "timestamp": [t for _, t in rows],
            "value": [float(k) for k in range(len(rows))],
            "value_text": [None] * len(rows),
            "good": [True] * len(rows),
            "questionable": [False] * len(rows),
            "substituted": [k % 3 == 0 for k in range(len(rows))],
            "annotated": [False] * len(rows),
        },
        schema=RAW_SCHEMA,
    )


def _oracle(raw: pl.DataFrame) -> pl.DataFrame:
    names = dict(zip(CATALOG["webid"], CATALOG["name"]))
    units = dict(zip(CATALOG["webid"], CATALOG["engineering_units"]))
    seen: dict[tuple, int] = {}
    sequence = []
    for webid, timestamp in zip(raw["tag_webid"], raw["timestamp"]):
        sequence.append(seen.get((webid, timestamp), 0))
        seen[(webid, timestamp)] = sequence[-1] + 1
    return raw.with_columns(
        tag_name=pl.Series([names.get(w) for w in raw["tag_webid"]], dtype=pl.String),
        units=pl.Series([units.get(w) for w in raw["tag_webid"]], dtype=pl.String),
        sequence=pl.Series(sequence, dtype=pl.Int32),
    ).select(list(TIMESERIES_SCHEMA))


def _by_key(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(["tag_webid", "timestamp", "sequence"])


def _assert_sorted_by_name_and_time(frame: pl.DataFrame) -> None:
    """Rows in name order (tags missing from the catalog first), each tag's rows in (timestamp, sequence) order."""
    names = frame["tag_name"]
    assert names.is_null().arg_true().to_list() == list(range(names.null_count()))
    assert names.drop_nulls().is_sorted()
    for _, rows in frame.group_by("tag_webid"):
        keys = list(zip(rows["timestamp"], rows["sequence"]))
        assert keys == sorted(keys) and len(set(keys)) == len(keys)


STREAMS = {
    "in catalog order, one block each": [("W1", [0, 0, 1, 5]), ("W3", [0, 2, 2, 2]), ("W0", [1, 3]), ("W2", [4, 4])],
    "blocks in any order, a tag missing from the catalog": [
        ("W7", [3, 3]),
        ("W2", [0, 1, 1]),
        ("X9", [0, 0]),
        ("W0", [2]),
        ("W3", [5, 6]),
        ("W1", [1, 1, 1]),
    ],
    "one stream in two blocks": [("W1", [0, 1]), ("W0", [0]), ("W1", [1, 2])],
    "a stream going back in time": [("W0", [0, 2, 1, 2]), ("W1", [0, 0])],
}


@pytest.mark.parametrize("case", list(STREAMS))
def test_names_units_sequence_and_order_match_the_oracle(case):
    raw = _raw(STREAMS[case])
    table = timeseries_frame(raw, CATALOG)
    assert table.schema == pl.Schema(TIMESERIES_SCHEMA)
    assert _by_key(table).equals(_by_key(_oracle(raw)))
    _assert_sorted_by_name_and_time(table)


def test_equal_timestamps_are_numbered_in_pi_order():
    raw = _raw([("W4", [0, 0, 0, 7, 7]), ("W5", [0, 0])])
    table = timeseries_frame(raw, CATALOG)
    # value k is the k-th input row: the ordinal follows the order PI sent the events in
    got = dict(zip(table["value"].cast(pl.Int64), table["sequence"]))
    assert got == {0: 0, 1: 1, 2: 2, 3: 0, 4: 1, 5: 0, 6: 1}


def test_null_timestamps_are_kept_and_numbered():
    raw = _raw([("W0", [0, 1]), ("W1", [0])])
    raw = raw.with_columns(timestamp=pl.when(pl.col("value") == 1).then(None).otherwise(pl.col("timestamp")))
    table = timeseries_frame(raw, CATALOG)
    assert _by_key(table).equals(_by_key(_oracle(raw)))


def test_many_random_streams_match_the_oracle():
    rng = np.random.default_rng(15)
    webids = [f"W{i}" for i in range(8)] + ["X1", "X2"]
    streams = [(w, sorted(rng.integers(0, 6, rng.integers(0, 12)).tolist())) for w in rng.permutation(webids)]
    raw = _raw(streams)
    table = timeseries_frame(raw, CATALOG)
    assert _by_key(table).equals(_by_key(_oracle(raw)))
    _assert_sorted_by_name_and_time(table)


def test_an_empty_frame_gives_an_empty_table():
    table = timeseries_frame(_raw([]), CATALOG)
    assert table.height == 0 and table.schema == pl.Schema(TIMESERIES_SCHEMA)
