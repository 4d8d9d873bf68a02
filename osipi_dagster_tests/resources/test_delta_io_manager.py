"""WindowedDeltaLakePolarsIOManager against real Delta tables in tmp_path."""

import datetime as dt
import threading

import polars as pl
import pytest
from dagster import (
    AssetIn,
    BackfillPolicy,
    DagsterInstance,
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    Output,
    StaticPartitionsDefinition,
    asset,
    materialize,
)
from dagster_deltalake import LocalConfig
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError, DeltaError

from osipi_dagster.resources import delta_io_manager
from osipi_dagster.resources.delta_io_manager import WindowedDeltaLakePolarsIOManager

HOURLY = HourlyPartitionsDefinition(start_date="2026-01-01-00:00")
DAILY = DailyPartitionsDefinition(start_date="2026-01-01")
UTC = dt.UTC
READINGS_NODE = "pi__readings"


def _materialize(tmp_path, assets, **kwargs):
    io_manager = WindowedDeltaLakePolarsIOManager(root_uri=str(tmp_path), storage_options=LocalConfig())
    # close the instance in the thread that made it (SQLite objects are thread-bound)
    with DagsterInstance.ephemeral() as instance:
        result = materialize(assets, resources={"io_manager": io_manager}, instance=instance, **kwargs)
    assert result.success
    return result


def _hour(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 1, day, hour, tzinfo=UTC)


def _rows(start: dt.datetime, end: dt.datetime, value: int) -> pl.DataFrame:
    """Three readings per hour (every 20 min) in [start, end), on a tz-aware UTC column."""
    timestamps = pl.datetime_range(start, end, "20m", closed="left", time_unit="us", time_zone="UTC", eager=True)
    return pl.DataFrame({"timestamp": timestamps, "value": [value] * len(timestamps)})


def _readings(value: int = 1, frame=None, extra_metadata=None, **asset_kwargs):
    """Hourly asset pi/readings returning `_rows` for its window (or whatever `frame` builds)."""

    @asset(
        name="readings",
        key_prefix="pi",
        partitions_def=HOURLY,
        metadata={"partition_expr": "timestamp", **(extra_metadata or {})},
        **asset_kwargs,
    )
    def readings(context) -> pl.DataFrame:
        window = context.partition_time_window
        return (frame or _rows)(window.start, window.end, value)

    return readings


def _read(tmp_path) -> pl.DataFrame:
    return pl.read_delta(str(tmp_path / "pi" / "readings")).sort("timestamp")


def _values_by_hour(df: pl.DataFrame) -> dict[int, list[int]]:
    grouped = df.group_by(pl.col("timestamp").dt.hour().alias("hour")).agg("value").sort("hour")
    return dict(zip(grouped["hour"], grouped["value"].to_list()))


def test_rerun_of_one_hour_replaces_only_that_hour(tmp_path):
    _materialize(tmp_path, [_readings(1)], partition_key="2026-01-01-05:00")
    _materialize(tmp_path, [_readings(1)], partition_key="2026-01-01-06:00")
    result = _materialize(tmp_path, [_readings(2)], partition_key="2026-01-01-05:00")

    df = _read(tmp_path)
    assert df.schema["timestamp"] == pl.Datetime("us", "UTC")
    assert df["timestamp"].n_unique() == df.height == 6
    assert _values_by_hour(df) == {5: [2, 2, 2], 6: [1, 1, 1]}
    # the time column must not become a physical Delta partition column
    assert DeltaTable(str(tmp_path / "pi" / "readings")).metadata().partition_columns == []

    metadata = result.asset_materializations_for_node(READINGS_NODE)[0].metadata
    assert metadata["dagster/partition_row_count"].value == 3  # the hour written
    assert metadata["dagster/row_count"].value == df.height == 6  # the table, as Dagster defines it
    assert metadata["table_uri"].value == f"{tmp_path}/pi/readings"


def test_naive_timestamps_are_windowed_as_utc(tmp_path):
    def naive(start, end, value):
        return _rows(start, end, value).with_columns(pl.col("timestamp").dt.replace_time_zone(None))

    _materialize(tmp_path, [_readings(1, frame=naive)], partition_key="2026-01-01-05:00")
    _materialize(tmp_path, [_readings(1, frame=naive)], partition_key="2026-01-01-06:00")
    _materialize(tmp_path, [_readings(2, frame=naive)], partition_key="2026-01-01-05:00")

    df = _read(tmp_path)
    assert df.schema["timestamp"] == pl.Datetime("us")
    assert _values_by_hour(df) == {5: [2, 2, 2], 6: [1, 1, 1]}


def test_append_mode_adds_rows_inside_the_window_only(tmp_path):
    def append(value: int, frame=None):
        return _readings(value, frame=frame, extra_metadata={"mode": "append"})

    def next_hour(start, end, value):
        return _rows(end, end + dt.timedelta(hours=1), value)

    _materialize(tmp_path, [append(1)], partition_key="2026-01-01-05:00")
    _materialize(tmp_path, [append(2)], partition_key="2026-01-01-05:00")
    with pytest.raises(ValueError, match="3 rows lie outside the partition"):
        _materialize(tmp_path, [append(3, next_hour)], partition_key="2026-01-01-05:00")
    assert sorted(_read(tmp_path)["value"]) == [1, 1, 1, 2, 2, 2]


def test_range_run_writes_and_rewrites_the_whole_range(tmp_path):
    range_tags = {
        "dagster/asset_partition_range_start": "2026-01-01-05:00",
        "dagster/asset_partition_range_end": "2026-01-01-07:00",
    }
    single_run = {"backfill_policy": BackfillPolicy.single_run()}
    _materialize(tmp_path, [_readings(0, **single_run)], partition_key="2026-01-01-04:00")
    _materialize(tmp_path, [_readings(1, **single_run)], tags=range_tags)
    assert _values_by_hour(_read(tmp_path)) == {4: [0] * 3, 5: [1] * 3, 6: [1] * 3, 7: [1] * 3}

    result = _materialize(tmp_path, [_readings(2, **single_run)], tags=range_tags)
    df = _read(tmp_path)
    assert df["timestamp"].n_unique() == df.height == 12
    assert _values_by_hour(df) == {4: [0] * 3, 5: [2] * 3, 6: [2] * 3, 7: [2] * 3}
    metadata = result.asset_materializations_for_node(READINGS_NODE)[0].metadata
    # Dagster copies a range run's metadata onto each partition: the range's total is never a partition's count.
    assert "dagster/partition_row_count" not in metadata
    assert (metadata["range_row_count"].value, metadata["range_partitions"].value) == (9, 3)
    assert metadata["dagster/row_count"].value == df.height
    # Each partition's own count arrives as an observation of that partition.
    observed = {
        o.partition: o.metadata["dagster/partition_row_count"].value
        for o in result.asset_observations_for_node(READINGS_NODE)
    }
    in_range = df.filter(pl.col("timestamp").dt.hour().is_between(5, 7))
    by_hour = in_range.group_by(pl.col("timestamp").dt.truncate("1h").dt.strftime("%Y-%m-%d-%H:%M")).len()
    assert observed == dict(by_hour.iter_rows()) and len(observed) == 3


def test_downstreams_read_exactly_their_window(tmp_path):
    seen: dict[str, pl.DataFrame] = {}

    @asset(
        key_prefix="pi",
        partitions_def=HOURLY,
        ins={"readings": AssetIn(key=["pi", "readings"])},
        metadata={"partition_expr": "timestamp"},
    )
    def hourly_copy(readings: pl.DataFrame) -> pl.DataFrame:
        seen["hourly"] = readings
        return readings

    @asset(
        key_prefix="pi",
        partitions_def=DAILY,
        ins={"readings": AssetIn(key=["pi", "readings"])},
        metadata={"partition_expr": "timestamp"},
    )
    def daily_copy(readings: pl.DataFrame) -> pl.DataFrame:
        seen["daily"] = readings
        return readings

    @asset(ins={"readings": AssetIn(key=["pi", "readings"])})
    def everything(readings: pl.LazyFrame) -> pl.DataFrame:
        assert isinstance(readings, pl.LazyFrame)
        seen["all"] = readings.collect()
        return seen["all"]

    for key in ("2026-01-01-05:00", "2026-01-01-23:00", "2026-01-02-00:00"):
        _materialize(tmp_path, [_readings(1)], partition_key=key)
    _materialize(tmp_path, [_readings(2), hourly_copy], partition_key="2026-01-01-06:00")
    assert seen["hourly"]["timestamp"].to_list() == _rows(_hour(1, 6), _hour(1, 7), 0)["timestamp"].to_list()
    assert seen["hourly"]["value"].to_list() == [2, 2, 2]

    # a daily asset gets the 24 hours of its day (hours 5, 6 and 23), not the next day's rows
    _materialize(tmp_path, [_readings(), daily_copy], selection=[daily_copy], partition_key="2026-01-01")
    assert _values_by_hour(seen["daily"]) == {5: [1] * 3, 6: [2] * 3, 23: [1] * 3}

    _materialize(tmp_path, [_readings(), everything], selection=[everything])
    assert seen["all"].sort("timestamp").equals(_read(tmp_path))
    assert seen["all"].height == 12


def test_daily_partitions_on_a_date_column(tmp_path):
    def make(value: int):
        @asset(
            key_prefix="pi",
            partitions_def=DAILY,
            metadata={"partition_expr": "day", "delta_partition_by": ["day"]},
        )
        def daily(context) -> pl.DataFrame:
            day = context.partition_time_window.start.date()
            return pl.DataFrame({"day": [day, day], "site": ["a", "b"], "value": [value, value]})

        return daily

    _materialize(tmp_path, [make(1)], partition_key="2026-01-01")
    _materialize(tmp_path, [make(1)], partition_key="2026-01-02")
    _materialize(tmp_path, [make(2)], partition_key="2026-01-01")

    path = str(tmp_path / "pi" / "daily")
    df = pl.read_delta(path).sort("day", "site")
    assert df.schema["day"] == pl.Date
    assert df.rows() == [
        (dt.date(2026, 1, 1), "a", 2),
        (dt.date(2026, 1, 1), "b", 2),
        (dt.date(2026, 1, 2), "a", 1),
        (dt.date(2026, 1, 2), "b", 1),
    ]
    assert DeltaTable(path).metadata().partition_columns == ["day"]


def test_multi_partitions_with_a_time_dimension(tmp_path):
    def make(value: int):
        @asset(
            key_prefix="pi",
            partitions_def=MultiPartitionsDefinition({"date": DAILY, "site": StaticPartitionsDefinition(["a", "b"])}),
            metadata={"partition_expr": {"date": "timestamp", "site": "site"}},
        )
        def by_site(context) -> pl.DataFrame:
            window = context.partition_time_window
            site = context.partition_key.keys_by_dimension["site"]
            return _rows(window.start, window.start + dt.timedelta(hours=1), value).with_columns(site=pl.lit(site))

        return by_site

    def key(site: str) -> MultiPartitionKey:
        return MultiPartitionKey({"date": "2026-01-01", "site": site})

    _materialize(tmp_path, [make(1)], partition_key=key("a"))
    _materialize(tmp_path, [make(1)], partition_key=key("b"))
    _materialize(tmp_path, [make(2)], partition_key=key("a"))

    df = pl.read_delta(str(tmp_path / "pi" / "by_site"))
    values = df.group_by("site").agg("value").sort("site")
    assert values.rows() == [("a", [2, 2, 2]), ("b", [1, 1, 1])]


def test_static_partitions_use_the_stock_handler(tmp_path):
    @asset(
        key_prefix="pi",
        partitions_def=StaticPartitionsDefinition(["a", "b"]),
        metadata={"partition_expr": "site"},
    )
    def sites(context) -> pl.DataFrame:
        return pl.DataFrame({"site": [context.partition_key] * 2, "value": [1, 2]})

    _materialize(tmp_path, [sites], partition_key="a")
    result = _materialize(tmp_path, [sites], partition_key="b")
    assert pl.read_delta(str(tmp_path / "pi" / "sites")).height == 4
    assert result.asset_materializations_for_node("pi__sites")[0].metadata["dagster/partition_row_count"].value == 2


def test_empty_output_deletes_the_window(tmp_path):
    def empty(start, end, value):
        return _rows(start, end, value).head(0)

    _materialize(tmp_path, [_readings(frame=empty)], partition_key="2026-01-01-04:00")
    assert _read(tmp_path).schema == {"timestamp": pl.Datetime("us", "UTC"), "value": pl.Int64}
    assert _read(tmp_path).is_empty()

    _materialize(tmp_path, [_readings(1)], partition_key="2026-01-01-05:00")
    _materialize(tmp_path, [_readings(1)], partition_key="2026-01-01-06:00")
    result = _materialize(tmp_path, [_readings(frame=empty)], partition_key="2026-01-01-05:00")
    assert _values_by_hour(_read(tmp_path)) == {6: [1, 1, 1]}
    metadata = result.asset_materializations_for_node(READINGS_NODE)[0].metadata
    assert metadata["dagster/partition_row_count"].value == 0
    assert metadata["dagster/row_count"].value == _read(tmp_path).height == 3


def _tagged_readings(tags: list[str], value: int, scope: dict | None = None):
    """Hourly pi/readings with one row per tag every 20 min; ``scope`` is runtime output metadata."""

    @asset(name="readings", key_prefix="pi", partitions_def=HOURLY, metadata={"partition_expr": "timestamp"})
    def readings(context) -> Output[pl.DataFrame]:
        window = context.partition_time_window
        rows = _rows(window.start, window.end, value)
        frame = pl.concat([rows.with_columns(tag=pl.lit(tag)) for tag in tags or [""]])
        return Output(frame if tags else frame.head(0), metadata=scope or {})

    return readings


def _values_by_tag(tmp_path) -> dict[str, list[int]]:
    grouped = _read(tmp_path).group_by("tag").agg(pl.col("value").sort_by("timestamp")).sort("tag")
    return dict(zip(grouped["tag"], grouped["value"].to_list()))


def test_row_scopes_keep_or_replace_only_some_rows_of_the_window(tmp_path):
    hour = "2026-01-01-05:00"
    _materialize(tmp_path, [_tagged_readings(["a", "b", "c"], 1)], partition_key=hour)
    replace_c = {"delta_replace_rows": {"column": "tag", "values": ["c", "d"]}}
    result = _materialize(tmp_path, [_tagged_readings(["c", "d"], 2, replace_c)], partition_key=hour)
    assert _values_by_tag(tmp_path) == {"a": [1] * 3, "b": [1] * 3, "c": [2] * 3, "d": [2] * 3}
    metadata = result.asset_materializations_for_node(READINGS_NODE)[0].metadata
    # Rows of some tags are not the partition's rows: no partition count, the rows written; the table's rows.
    assert "dagster/partition_row_count" not in metadata and metadata["rows_written"].value == 6
    assert metadata["dagster/row_count"].value == _read(tmp_path).height == 12

    keep_a = {"delta_keep_rows": {"column": "tag", "values": ["a"]}}
    _materialize(tmp_path, [_tagged_readings(["b"], 3, keep_a)], partition_key=hour)
    assert _values_by_tag(tmp_path) == {"a": [1] * 3, "b": [3] * 3}

    nothing = {"delta_replace_rows": {"column": "tag", "values": []}}
    _materialize(tmp_path, [_tagged_readings([], 4, nothing)], partition_key=hour)
    assert _values_by_tag(tmp_path) == {"a": [1] * 3, "b": [3] * 3}
    with pytest.raises(DeltaError, match="failed validation check"):  # rows outside the replaced tags
        _materialize(tmp_path, [_tagged_readings(["a"], 5, replace_c)], partition_key=hour)
    assert _values_by_tag(tmp_path) == {"a": [1] * 3, "b": [3] * 3}


def test_rows_outside_the_window_are_rejected(tmp_path):
    def next_hour_too(start, end, value):
        return _rows(start, end + dt.timedelta(hours=1), value)

    def assert_rejected():
        with pytest.raises(DeltaError, match="3 rows failed validation check"):  # Delta's replaceWhere check
            _materialize(tmp_path, [_readings(2, frame=next_hour_too)], partition_key="2026-01-01-05:00")

    assert_rejected()  # into a new table: it is created empty first, and stays empty
    assert _read(tmp_path).height == 0
    _materialize(tmp_path, [_readings(1)], partition_key="2026-01-01-06:00")
    assert_rejected()  # when the table exists
    assert _values_by_hour(_read(tmp_path)) == {6: [1, 1, 1]}


def test_concurrent_runs_on_different_hours_both_land(tmp_path):
    both_computed = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def rows_after_barrier(start, end, value):
        both_computed.wait()  # release the two writes together
        return _rows(start, end, value)

    def run(partition_key: str) -> None:
        try:
            _materialize(tmp_path, [_readings(1, frame=rows_after_barrier)], partition_key=partition_key)
        except BaseException as error:  # surfaced in the main thread below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(key,)) for key in ("2026-01-01-05:00", "2026-01-01-06:00")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert _values_by_hour(_read(tmp_path)) == {5: [1, 1, 1], 6: [1, 1, 1]}


def test_commit_conflicts_are_retried_a_bounded_number_of_times(tmp_path, monkeypatch):
    real_write = delta_io_manager.write_deltalake
    calls: list[int] = []

    def conflicting_write(*args, failures: int, **kwargs):
        calls.append(1)
        if len(calls) <= failures:
            raise CommitFailedError("simulated concurrent commit")
        real_write(*args, **kwargs)

    monkeypatch.setattr(delta_io_manager, "_BACKOFF_SECONDS", 0.0)
    monkeypatch.setattr(
        delta_io_manager,
        "write_deltalake",
        lambda *a, **kw: conflicting_write(*a, failures=2, **kw),
    )
    _materialize(tmp_path, [_readings(1)], partition_key="2026-01-01-05:00")
    assert len(calls) == 3
    assert _values_by_hour(_read(tmp_path)) == {5: [1, 1, 1]}

    calls.clear()
    monkeypatch.setattr(
        delta_io_manager,
        "write_deltalake",
        lambda *a, **kw: conflicting_write(*a, failures=100, **kw),
    )
    with pytest.raises(CommitFailedError, match=f"after {delta_io_manager._COMMIT_ATTEMPTS} attempts"):
        _materialize(tmp_path, [_readings(2)], partition_key="2026-01-01-05:00")
    assert len(calls) == delta_io_manager._COMMIT_ATTEMPTS
    assert _values_by_hour(_read(tmp_path)) == {5: [1, 1, 1]}
