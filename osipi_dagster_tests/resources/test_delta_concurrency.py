"""Concurrent runs writing one Delta table through the windowed IO manager: nothing duplicated, nothing lost.

Each test releases its writers together (a barrier inside the asset) so they race for real, in threads of
one process (delta-rs is thread-safe; forking after loading it is not).
"""

import datetime as dt
import threading
from collections.abc import Callable

import polars as pl
import pyarrow as pa
import pytest
from dagster import BackfillPolicy, DagsterInstance, HourlyPartitionsDefinition, RetryPolicy, asset, materialize
from dagster_deltalake import LocalConfig
from deltalake import DeltaTable

from osipi_dagster.resources.delta_io_manager import WindowedDeltaLakePolarsIOManager

HOURLY = HourlyPartitionsDefinition(start_date="2026-01-01-00:00")
UTC = dt.UTC
ROWS_PER_HOUR = 36_000  # ten values a second: enough bytes that concurrent writes overlap in time


def _rows(start: dt.datetime, end: dt.datetime, writer: int) -> pl.DataFrame:
    timestamps = pl.datetime_range(start, end, "100ms", closed="left", time_unit="us", time_zone="UTC", eager=True)
    return pl.DataFrame(
        {"timestamp": timestamps, "value": range(len(timestamps)), "writer": [writer] * len(timestamps)},
        schema={"timestamp": pl.Datetime("us", "UTC"), "value": pl.Int64, "writer": pl.Int64},
    )


def _run(root, asset_def, **kwargs) -> None:
    io_manager = WindowedDeltaLakePolarsIOManager(root_uri=str(root), storage_options=LocalConfig())
    with DagsterInstance.ephemeral() as instance:
        result = materialize([asset_def], resources={"io_manager": io_manager}, instance=instance, **kwargs)
    assert result.success


def _frame_asset(writer: int, barrier: threading.Barrier):
    @asset(
        name="readings",
        key_prefix="pi",
        partitions_def=HOURLY,
        metadata={"partition_expr": "timestamp"},
        backfill_policy=BackfillPolicy.single_run(),
    )
    def readings(context) -> pl.DataFrame:
        window = context.partition_time_window
        frame = _rows(window.start, window.end, writer)
        barrier.wait()
        return frame

    return readings


def _stream_asset(writer: int, barrier: threading.Barrier, fail_after_hours: int | None = None, retried=False):
    """Like pi_timeseries: a range run streams hour by hour as one RecordBatchReader; ``retried``: a failed step is
    retried, as pi_timeseries' (a stream that lost a commit race into a window that held no rows was not spooled:
    its step loads it again)."""

    @asset(
        name="readings",
        key_prefix="pi",
        partitions_def=HOURLY,
        metadata={"partition_expr": "timestamp"},
        backfill_policy=BackfillPolicy.single_run(),
        retry_policy=RetryPolicy(max_retries=2) if retried else None,
    )
    def readings(context) -> pa.RecordBatchReader:
        window = context.partition_time_window
        schema = _rows(window.start, window.start, writer).to_arrow().schema

        def batches():
            start = window.start
            while start < window.end:
                if fail_after_hours is not None and start >= window.start + dt.timedelta(hours=fail_after_hours):
                    raise RuntimeError("PI Web API request failed (HTTP 500) [http://pi/streamsets]: boom")
                yield from _rows(start, start + dt.timedelta(hours=1), writer).to_arrow().to_batches()
                start += dt.timedelta(hours=1)

        # Wait here, not inside the stream: delta-rs pulls batches on its few runtime threads. (A retry runs alone.)
        if context.retry_number == 0:
            barrier.wait()
        return pa.RecordBatchReader.from_batches(schema, batches())

    return readings


def _range_tags(first: str, last: str) -> dict:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def _concurrently(runs: list[Callable[[threading.Barrier], None]]) -> list[BaseException]:
    barrier = threading.Barrier(len(runs), timeout=30)
    errors: list[BaseException] = []

    def target(run):
        try:
            run(barrier)
        except BaseException as error:  # reported by the test
            barrier.abort()
            errors.append(error)

    threads = [threading.Thread(target=target, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def _table(root) -> pl.DataFrame:
    return pl.read_delta(str(root / "pi" / "readings"))


def _assert_exact(table: pl.DataFrame, hours: list[int]) -> None:
    """Each hour holds exactly one writer's rows, once."""
    assert table.select(pl.col("timestamp").n_unique()).item() == table.height
    by_hour = table.group_by(pl.col("timestamp").dt.hour().alias("hour")).agg(
        pl.len().alias("rows"), pl.col("writer").n_unique().alias("writers")
    )
    assert sorted(by_hour["hour"].to_list()) == hours
    assert by_hour["rows"].to_list() == [ROWS_PER_HOUR] * len(hours)
    assert by_hour["writers"].to_list() == [1] * len(hours)


def test_two_first_writers_of_the_same_hour_do_not_duplicate_rows(tmp_path):
    """Regression: both runs used to 'create' the table and commit their rows, every row twice."""
    errors = _concurrently(
        [
            lambda barrier, w=w: _run(tmp_path, _frame_asset(w, barrier), partition_key="2026-01-01-05:00")
            for w in (1, 2)
        ]
    )
    assert errors == []
    _assert_exact(_table(tmp_path), [5])


def test_two_first_writers_of_overlapping_ranges_do_not_duplicate_rows(tmp_path):
    errors = _concurrently(
        [
            lambda barrier: _run(
                tmp_path,
                _stream_asset(1, barrier, retried=True),
                tags=_range_tags("2026-01-01-00:00", "2026-01-01-03:00"),
            ),
            lambda barrier: _run(
                tmp_path,
                _stream_asset(2, barrier, retried=True),
                tags=_range_tags("2026-01-01-02:00", "2026-01-01-05:00"),
            ),
        ]
    )
    assert errors == []
    _assert_exact(_table(tmp_path), list(range(6)))


def test_six_concurrent_single_hour_runs_over_a_range_file_all_land(tmp_path):
    """A range run leaves one file spanning its hours; later single-hour runs all rewrite that file, so
    their commits really conflict and must be retried until each lands."""
    _run(tmp_path, _stream_asset(0, threading.Barrier(1)), tags=_range_tags("2026-01-01-00:00", "2026-01-01-11:00"))
    assert len(DeltaTable(str(tmp_path / "pi" / "readings")).file_uris()) == 1
    hours = [1, 3, 5, 7, 9, 11]
    errors = _concurrently(
        [
            lambda barrier, h=h: _run(tmp_path, _stream_asset(100 + h, barrier), partition_key=f"2026-01-01-{h:02d}:00")
            for h in hours
        ]
    )
    assert errors == []
    table = _table(tmp_path)
    _assert_exact(table, list(range(12)))
    writers = dict(table.group_by(pl.col("timestamp").dt.hour()).agg(pl.col("writer").first()).iter_rows())
    assert writers == {h: (100 + h if h in hours else 0) for h in range(12)}


def test_concurrent_whole_table_overwrites_keep_one_writers_rows(tmp_path):
    """Unpartitioned tables (catalog, AF) are replaced whole; two concurrent replacements must not add up."""

    def catalog(writer: int, barrier: threading.Barrier):
        @asset(name="catalog", key_prefix="pi")
        def table() -> pl.DataFrame:
            barrier.wait()
            return pl.DataFrame({"tag": [f"tag{i}" for i in range(100_000)], "writer": [writer] * 100_000})

        return table

    errors = _concurrently([lambda barrier, w=w: _run(tmp_path, catalog(w, barrier)) for w in (1, 2, 3)])
    assert errors == []
    table = pl.read_delta(str(tmp_path / "pi" / "catalog"))
    assert table.height == 100_000
    assert table["writer"].n_unique() == 1


def test_a_source_error_in_a_streamed_range_fails_with_the_original_error_and_writes_nothing(tmp_path):
    _run(tmp_path, _stream_asset(0, threading.Barrier(1)), tags=_range_tags("2026-01-01-00:00", "2026-01-01-03:00"))
    before = _table(tmp_path).sort("timestamp")
    with pytest.raises(RuntimeError, match="boom") as raised:
        _run(
            tmp_path,
            _stream_asset(1, threading.Barrier(1), fail_after_hours=2),
            tags=_range_tags("2026-01-01-00:00", "2026-01-01-03:00"),
        )
    message = str(raised.value)
    assert "PI Web API request failed (HTTP 500) [http://pi/streamsets]: boom" in message
    assert "C Data interface" not in message and "DeltaError" not in message
    assert _table(tmp_path).sort("timestamp").equals(before)


def test_a_first_load_that_loses_a_commit_race_fails_naming_the_cause_and_writes_nothing(tmp_path):
    """A stream into a window that holds no rows is not spooled. If another writer commits rows of that window
    while it streams, its commit conflicts and it cannot write again: the step fails (pi_timeseries' retry reloads
    it), and the table holds the other writer's rows, once."""
    streaming, other_committed = threading.Event(), threading.Event()

    @asset(name="readings", key_prefix="pi", partitions_def=HOURLY, metadata={"partition_expr": "timestamp"})
    def first(context) -> pa.RecordBatchReader:
        window = context.partition_time_window
        rows = _rows(window.start, window.end, 1).to_arrow()

        def batches():
            streaming.set()
            assert other_committed.wait(timeout=30)
            yield from rows.to_batches()

        return pa.RecordBatchReader.from_batches(rows.schema, batches())

    @asset(name="readings", key_prefix="pi", partitions_def=HOURLY, metadata={"partition_expr": "timestamp"})
    def second(context) -> pl.DataFrame:
        assert streaming.wait(timeout=30)
        return _rows(context.partition_time_window.start, context.partition_time_window.end, 2)

    def run_second(barrier):
        _run(tmp_path, second, partition_key="2026-01-01-05:00")
        other_committed.set()

    errors = _concurrently([lambda barrier: _run(tmp_path, first, partition_key="2026-01-01-05:00"), run_second])
    assert len(errors) == 1 and "Another writer committed rows of the same hours" in str(errors[0])
    table = _table(tmp_path)
    _assert_exact(table, [5])
    assert table["writer"].unique().to_list() == [2]
