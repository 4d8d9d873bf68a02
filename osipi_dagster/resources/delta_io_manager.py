"""Delta Lake IO manager for polars that handles time-window partitions as half-open ranges.

The stock ``dagster_deltalake_polars.DeltaLakePolarsIOManager`` (0.29.27) filters a time window
by its start only and makes the partition column a physical Delta partition column, which breaks
range runs, unpartitioned downstreams, tz-aware hourly partitions and naive timestamps (see
docs/architecture.md). Here a time window is always ``start <= col < end``: on write as the
delta-rs overwrite predicate, on read as a polars filter. Other partitions go to the stock handler.

Concurrent writers (several runs, several workers) are safe because of two rules:

* The table is created empty, with its schema, before anything writes into it. delta-rs detects conflicts
  only against a table the writer has read: two writers that both *create* a table commit both their
  files (every row twice) without a conflict.
* Every overwrite carries a predicate (the window, or ``1 = 1`` for a whole table). delta-rs checks a
  predicate overwrite against concurrent commits; a plain full overwrite is not checked at all.

A conflicting commit (another writer rewrote a file this one also rewrites, e.g. one file of an earlier
range run that spans both windows) is retried with jittered backoff; a streamed output into a window that
has data files is spooled to a local Arrow IPC file while it is written, so the retry writes the same rows
again without re-reading PI. A window without files (a first load) is streamed unspooled: it rewrites no file,
so only a writer of the same hours can beat it to the commit, and then its step fails, naming that, for the
step's retry to load it again.

Asset definition metadata honoured for time-window partitions:
    partition_expr      column (or, for multi-partitions, {dimension: column}) to filter on
    delta_partition_by  optional list of columns to physically partition the Delta table by
    mode                "overwrite" (default, replaces the window) or "append" (adds rows to it)
    custom_metadata     commit metadata (also configurable on the IO manager)

Output (runtime) metadata honoured on overwrite, ``{"column": …, "values": [...]}``:
    delta_keep_rows     replace the window except these rows
    delta_replace_rows  replace only these rows of the window (the others stay as they are)
"""

import contextlib
import datetime as dt
import functools
import json
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
from dagster import AssetObservation, InputContext, MetadataValue, OutputContext, TableColumn, TableSchema
from dagster._core.definitions.partitions.utils import TimeWindow
from dagster._core.storage.db_io_manager import (
    DbTypeHandler,
    TablePartitionDimension,
    TableSlice,
    escape_sql_string_literal,
)
from dagster_deltalake.handler import DeltaLakePyArrowTypeHandler
from dagster_deltalake.io_manager import TableConnection
from dagster_deltalake_polars import DeltaLakePolarsIOManager, DeltaLakePolarsTypeHandler
from deltalake import CommitProperties, DeltaTable, Schema, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError
from deltalake.schema import PrimitiveType

__all__ = ["ROW_SCOPE_SCHEMA_KEY", "WindowedDeltaLakePolarsIOManager", "WindowedDeltaLakePolarsTypeHandler"]

# Arrow schema metadata key of a streamed output: {"delta_keep_rows" | "delta_replace_rows": …} (see _row_scope).
ROW_SCOPE_SCHEMA_KEY = "osipi.delta_row_scope"

# Each conflict means another writer committed, so retries make progress; enough attempts for
# dozens of concurrent writers on overlapping files, the backoff doubling up to a few seconds.
_COMMIT_ATTEMPTS = 30
_BACKOFF_SECONDS = 0.1
_MAX_BACKOFF_SECONDS = 5.0
# Whole-table overwrite: a predicate that selects every row, so delta-rs checks it for conflicts.
_ALL_ROWS = "1 = 1"


class WindowedDeltaLakePolarsTypeHandler(DeltaLakePolarsTypeHandler):
    """Polars type handler that writes and reads whole time windows (``start <= col < end``)."""

    def handle_output(
        self,
        context: OutputContext,
        table_slice: TableSlice,
        obj: pl.DataFrame | pl.LazyFrame,
        connection: TableConnection,
    ) -> Mapping[str, Any]:
        if isinstance(obj, pa.RecordBatchReader):
            return self._handle_stream(context, table_slice, obj, connection)
        df = obj.collect() if isinstance(obj, pl.LazyFrame) else obj
        metadata = _row_count_metadata(context, df.height, _row_scope(context))
        partitioned = bool(table_slice.partition_dimensions)
        if (partitioned and not _has_time_window(table_slice)) or (not partitioned and _stock_mode(context)):
            super().handle_output(context, table_slice, df, connection)
            return metadata

        mode, write_options = _write_settings(context, connection)
        if not partitioned:
            write = _overwrite_table  # the stock path logs a stats error with deltalake 1.x
        elif mode == "overwrite":
            write = functools.partial(_overwrite_window, rows=_row_scope(context))
        else:
            write = _append_to_window
        data = df.to_arrow()  # a table, not a reader, so that a retry can write it again
        _ensure_table(connection, data.schema, write_options)
        _commit_with_retries(lambda: write(data, table_slice, connection, write_options), connection, context)
        _observe_partition_row_counts(context, table_slice, df)

        return {
            **metadata,
            **_table_row_count(connection, partitioned),
            "table_uri": connection.table_uri,
            **_written_column_schema(context, df.schema),
        }

    def _handle_stream(
        self,
        context: OutputContext,
        table_slice: TableSlice,
        reader: pa.RecordBatchReader,
        connection: TableConnection,
    ) -> Mapping[str, Any]:
        """Write a stream of record batches as one commit, holding one batch in memory at a time.

        Long range runs (a backfill of many hours) stream batch by batch. When the window has data files,
        the batches are also spooled to a temporary local file, so a commit conflict is retried like a
        DataFrame's (spooling an hour of 30,000 tags costs ~0.4 CPU-seconds, so a first load skips it).
        """
        if not _has_time_window(table_slice):
            raise TypeError("Streamed (RecordBatchReader) outputs are supported for time-window partitions only")
        mode, write_options = _write_settings(context, connection)
        if mode != "overwrite":
            raise ValueError("Streamed outputs replace their window: use mode 'overwrite'")
        rows = _row_scope(context, reader.schema)
        reader = pa.RecordBatchReader.from_batches(reader.schema.remove_metadata(), reader)
        _ensure_table(connection, reader.schema, write_options)
        with tempfile.TemporaryDirectory(prefix="osipi-spool-") as folder:
            # Only a write that rewrites files can lose a race another writer of other hours also wins: a window
            # whose files hold none of its rows (a first load) is streamed without a spool.
            spooled = _window_has_files(_open_table(connection), table_slice)
            spool = _Spool(reader, Path(folder) / "window.arrows" if spooled else None)
            attempts = iter([spool.first_pass()])

            def write() -> None:
                # The first attempt streams the source (and tees it to disk); a retry replays the spool.
                data = next(attempts, None) or spool.replay()
                _overwrite_window(data, table_slice, connection, write_options, rows)

            try:
                _commit_with_retries(write, connection, context)
            except Exception:
                # A PI error raised while delta-rs pulled the stream arrives wrapped in Arrow and Delta
                # errors; the run must fail with the original (tag, URL, PI's message) instead.
                if spool.source_error is not None:
                    raise spool.source_error from None
                raise
        return {
            **_row_count_metadata(context, spool.rows, rows),
            **_table_row_count(connection, True),
            "table_uri": connection.table_uri,
            **_written_column_schema(context, pl.from_arrow(reader.schema.empty_table()).schema),
        }

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [pl.DataFrame, pl.LazyFrame, pa.RecordBatchReader]

    def load_input(
        self, context: InputContext, table_slice: TableSlice, connection: TableConnection
    ) -> pl.DataFrame | pl.LazyFrame:
        dimensions = table_slice.partition_dimensions or []
        if dimensions and not _has_time_window(table_slice):
            return super().load_input(context, table_slice, connection)
        table = DeltaTable(connection.table_uri, storage_options=connection.storage_options or None)
        # polars' own reader, also for unpartitioned tables: the stock handler's pyarrow dataset scan costs
        # ~0.25 CPU-s and ~60 MB more for the 30,000-row catalog every pi_timeseries run reads.
        frame = pl.scan_delta(table).filter(_polars_filter(dimensions, table.schema()))
        if table_slice.columns is not None:
            frame = frame.select(table_slice.columns)
        return frame if context.dagster_type.typing_type is pl.LazyFrame else frame.collect()


class WindowedDeltaLakePolarsIOManager(DeltaLakePolarsIOManager):
    """Drop-in for the stock ``DeltaLakePolarsIOManager`` (same config), fixed time windows."""

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [WindowedDeltaLakePolarsTypeHandler(), _PyArrowTableHandler()]


class _PyArrowTableHandler(DeltaLakePyArrowTypeHandler):
    """Stock handling of ``pa.Table`` / datasets; record-batch streams go to the windowed handler."""

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [pa.Table, ds.Dataset]


def _row_count_metadata(context: OutputContext, rows: int, scope: str = "") -> dict[str, Any]:
    """Rows written, under names that are true for every partition the materialisation is copied onto.

    Dagster copies a range run's metadata onto each partition of the range, so ``dagster/partition_row_count``
    is only given when the output is one whole partition; a range's total is ``range_row_count``, and rows
    written under ``delta_replace_rows`` (some rows of the window only) are ``rows_written``.
    """
    if scope and not scope.startswith(" AND NOT ("):  # a replace scope (a keep scope is "AND NOT (…)")
        return {"rows_written": rows}
    if not context.has_asset_partitions:
        return {"dagster/row_count": rows}
    if len(context.asset_partition_keys) == 1:
        return {"dagster/partition_row_count": rows}
    return {"range_row_count": rows, "range_partitions": len(context.asset_partition_keys)}


def _written_column_schema(context: OutputContext, written: Mapping[str, pl.DataType]) -> dict[str, Any]:
    """The columns actually written, on every materialisation: what Dagster's column-schema change checks
    compare between the last two. A materialisation's schema replaces the definition's in the UI, so each
    column keeps the description the asset declares for it (``dagster/column_schema`` definition metadata)."""
    declared = (context.definition_metadata or {}).get("dagster/column_schema")
    declared = getattr(declared, "schema", declared)  # a TableSchemaMetadataValue or a TableSchema
    descriptions = {column.name: column.description for column in declared.columns} if declared else {}
    columns = [
        TableColumn(name=name, type=str(dtype), description=descriptions.get(name)) for name, dtype in written.items()
    ]
    return {"dagster/column_schema": MetadataValue.table_schema(TableSchema(columns=columns))}


def _observe_partition_row_counts(context: OutputContext, table_slice: TableSlice, df: pl.DataFrame) -> None:
    """A range write of a time-partitioned asset: one observation per partition with its own row count, the
    figure the materialisation cannot carry (see ``_row_count_metadata``)."""
    if not context.has_asset_partitions or len(context.asset_partition_keys) < 2:
        return
    [dimension] = [d for d in table_slice.partition_dimensions or [] if isinstance(d.partitions, TimeWindow)] or [None]
    partitions_def = context.asset_partitions_def
    if dimension is None or not hasattr(partitions_def, "time_window_for_partition_key"):
        return  # multi-dimensional partitions: no per-partition figure rather than a wrong one
    column = pl.col(dimension.partition_expr)
    for key in context.asset_partition_keys:
        window = partitions_def.time_window_for_partition_key(key)
        start, end = _window_bounds(dimension.partition_expr, window, Schema.from_arrow(df.head(0).to_arrow().schema))
        rows = df.filter((column >= start) & (column < end)).height
        context.log_event(
            AssetObservation(asset_key=context.asset_key, partition=key, metadata={"dagster/partition_row_count": rows})
        )


def _table_row_count(connection: TableConnection, partitioned: bool) -> dict[str, Any]:
    """``dagster/row_count`` of a partitioned asset: the whole table's rows after the commit (from the Delta
    log's file statistics, no data read). An unpartitioned output's rows are the table."""
    if not partitioned:
        return {}
    actions = pl.DataFrame(_open_table(connection).get_add_actions(flatten=True))
    return {"dagster/row_count": int(actions["num_records"].sum()) if actions.height else 0}


# Output metadata that narrows "replace the window" to some of its rows, as a clause added to the predicate.
_ROW_SCOPES = {
    # the window except these rows: e.g. the history of PI points deleted from the server (unreadable now)
    "delta_keep_rows": "NOT ({column} IN ({values}))",
    # only these rows of the window: e.g. the history of PI points that just appeared, other tags untouched
    "delta_replace_rows": "{column} IN ({values})",
}


def _row_scope(context: OutputContext, schema: pa.Schema | None = None) -> str:
    """`` AND …`` clauses from a stream's Arrow schema metadata (JSON under ``ROW_SCOPE_SCHEMA_KEY``, not
    recorded in Dagster's event log) or else the output's runtime metadata, e.g.
    ``Output(df, metadata={"delta_replace_rows": {"column": "tag_webid", "values": [...]}})``.

    An empty ``delta_keep_rows`` keeps nothing (no clause); an empty ``delta_replace_rows`` replaces
    nothing (``1 = 0``: delta-rs then rejects any row written).
    """
    carried = (schema.metadata or {}).get(ROW_SCOPE_SCHEMA_KEY.encode()) if schema is not None else None
    scopes = json.loads(carried) if carried else (context.output_metadata or {})
    clauses = []
    for key, template in _ROW_SCOPES.items():
        scope = scopes.get(key)
        scope = getattr(scope, "value", scope)  # a JsonMetadataValue once Dagster normalised it
        if not scope:
            continue
        values = scope.get("values") or []
        if not values:
            clauses.append("" if key == "delta_keep_rows" else " AND 1 = 0")
            continue
        column = '"' + scope["column"].replace('"', '""') + '"'
        literals = ", ".join(f"'{escape_sql_string_literal(str(v))}'" for v in values)
        clauses.append(" AND " + template.format(column=column, values=literals))
    return "".join(clauses)


def _has_time_window(table_slice: TableSlice) -> bool:
    return any(isinstance(dimension.partitions, TimeWindow) for dimension in table_slice.partition_dimensions or [])


def _stock_mode(context: OutputContext) -> bool:
    """An unpartitioned output asking for a mode other than overwrite (append/error/ignore)."""
    mode = (context.definition_metadata or {}).get("mode") or (context.resource_config or {}).get("mode")
    return mode not in (None, "overwrite")


def _write_settings(context: OutputContext, connection: TableConnection) -> tuple[str, dict[str, Any]]:
    """Write mode and ``write_deltalake`` options from asset metadata and IO manager config."""
    definition_metadata = context.definition_metadata or {}
    resource_config = context.resource_config or {}
    mode = definition_metadata.get("mode") or resource_config.get("mode") or "overwrite"
    if mode not in ("overwrite", "append"):
        raise ValueError(
            f"Write mode {mode!r} is not supported for time-window partitions; use"
            " 'overwrite' (replace the window) or 'append'."
        )
    custom_metadata = definition_metadata.get("custom_metadata") or resource_config.get("custom_metadata")
    writer_properties = resource_config.get("writer_properties")
    return mode, {
        "storage_options": connection.storage_options or None,
        "partition_by": definition_metadata.get("delta_partition_by"),
        "commit_properties": CommitProperties(custom_metadata=custom_metadata) if custom_metadata else None,
        "writer_properties": WriterProperties(**writer_properties) if writer_properties else None,
    }


def _open_table(connection: TableConnection) -> DeltaTable:
    return DeltaTable(connection.table_uri, storage_options=connection.storage_options or None)


def _ensure_table(connection: TableConnection, schema: pa.Schema, write_options: dict[str, Any]) -> None:
    """Create the table, empty, if it does not exist yet (see the module docstring for why).

    Two writers may both create it; the second creation commits only metadata (no rows), so the race
    is harmless, and from then on every write reads the table and is checked for conflicts.
    """
    storage_options = connection.storage_options or None
    if DeltaTable.is_deltatable(connection.table_uri, storage_options=storage_options):
        return
    DeltaTable.create(
        connection.table_uri,
        schema=Schema.from_arrow(schema),
        mode="ignore",
        partition_by=write_options["partition_by"],
        storage_options=storage_options,
    )


def _commit_with_retries(write: Callable[[], None], connection: TableConnection, context: OutputContext) -> None:
    """Run ``write`` (one Delta commit); retry it while it loses races with concurrent writers."""
    for attempt in range(1, _COMMIT_ATTEMPTS + 1):
        try:
            write()
            return
        except CommitFailedError as error:
            if attempt == _COMMIT_ATTEMPTS:
                raise CommitFailedError(
                    f"Delta commit to {connection.table_uri} still conflicted with concurrent writers after"
                    f" {_COMMIT_ATTEMPTS} attempts: {error}. Fewer runs writing the same hours at once"
                    " (the pi_web_api pool, run queue limits) avoid this."
                ) from error
            delay = min(_MAX_BACKOFF_SECONDS, _BACKOFF_SECONDS * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
            context.log.warning(
                f"Delta commit to {connection.table_uri} conflicted with a concurrent writer ({error});"
                f" retry {attempt}/{_COMMIT_ATTEMPTS - 1} in {delay:.2f} s"
            )
            time.sleep(delay)


class _Spool:
    """Tees a record-batch stream to a local Arrow IPC file (``path``; None: counts only) while delta-rs consumes it.

    Remembers an exception raised by the source (a PI error in the middle of a range run), which
    delta-rs would otherwise only report wrapped in its own error.
    """

    def __init__(self, source: pa.RecordBatchReader, path: Path | None):
        self.source = source
        self.path = path
        self.rows = 0
        self.source_error: BaseException | None = None
        self.complete = False  # the whole source went through (only then may it be replayed)

    def first_pass(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.source.schema, self._tee())

    def _tee(self) -> Iterator[pa.RecordBatch]:
        with contextlib.ExitStack() as stack:
            out = None
            if self.path is not None:
                sink = stack.enter_context(pa.OSFile(str(self.path), "wb"))
                options = pa.ipc.IpcWriteOptions(compression="lz4")
                out = stack.enter_context(pa.ipc.new_stream(sink, self.source.schema, options=options))
            try:
                for batch in self.source:
                    if out is not None:
                        out.write_batch(batch)
                    self.rows += batch.num_rows
                    yield batch
            except Exception as error:
                self.source_error = error
                raise
        self.complete = True

    def replay(self) -> pa.RecordBatchReader:
        if not self.complete:  # a commit can only conflict after delta-rs read everything: never expected
            raise RuntimeError("A streamed write failed before its stream was read to the end; not retried")
        if self.path is None:
            raise _UnspooledConflict(
                "Another writer committed rows of the same hours while this run loaded them (the window held no rows"
                " when the load began, so its rows were not kept for a second commit): the step's retry reloads them."
                " Two runs loading the same hours at once duplicate work; the pi_web_api pool or a run queue limit"
                " avoids it."
            )
        return pa.ipc.open_stream(pa.memory_map(str(self.path)))


class _UnspooledConflict(RuntimeError):
    """A streamed write lost a commit race and has nothing to write again (see ``_Spool.replay``)."""


def _window_has_files(table: DeltaTable, table_slice: TableSlice) -> bool:
    """Whether any data file may hold rows of the slice's time window, by the file's min/max statistics of the
    window's column (a file without them may). Other partition dimensions are not looked at."""
    files = pl.DataFrame(table.get_add_actions(flatten=True))
    for dimension in table_slice.partition_dimensions or []:
        if files.is_empty() or not isinstance(dimension.partitions, TimeWindow):
            continue
        start, end = _window_bounds(dimension.partition_expr, dimension.partitions, table.schema())
        low, high = pl.col(f"min.{dimension.partition_expr}"), pl.col(f"max.{dimension.partition_expr}")
        if f"min.{dimension.partition_expr}" not in files.columns:
            return True  # no statistics of the column: any file may hold the window's rows
        files = files.filter(low.is_null() | high.is_null() | ((high >= pl.lit(start)) & (low < pl.lit(end))))
    return not files.is_empty()


def _overwrite_window(
    data: pa.Table | pa.RecordBatchReader,
    table_slice: TableSlice,
    connection: TableConnection,
    write_options: dict[str, Any],
    rows: str = "",
) -> None:
    """Replace the window's rows (those ``rows`` selects, see ``_row_scope``); delta-rs rejects rows
    outside the predicate, even on creation.

    An empty frame means "the window has no rows now", so it deletes them rather than keeping
    stale ones. An empty stream does the same through the overwrite itself: its predicate removes
    the window's rows.
    """
    table = _open_table(connection)
    predicate = _sql_predicate(table_slice.partition_dimensions or [], table.schema()) + rows
    if isinstance(data, pa.Table) and data.num_rows == 0:
        table.delete(predicate, commit_properties=write_options["commit_properties"])
        return
    write_deltalake(
        connection.table_uri,
        data,
        mode="overwrite",
        predicate=predicate,
        schema_mode="merge",
        **write_options,
    )


def _overwrite_table(
    data: pa.Table,
    table_slice: TableSlice,
    connection: TableConnection,
    write_options: dict[str, Any],
) -> None:
    """Replace an unpartitioned table (a new version; history keeps the old). New columns are added."""
    write_deltalake(
        connection.table_uri, data, mode="overwrite", predicate=_ALL_ROWS, schema_mode="merge", **write_options
    )


def _append_to_window(
    data: pa.Table,
    table_slice: TableSlice,
    connection: TableConnection,
    write_options: dict[str, Any],
) -> None:
    """Append rows; delta-rs takes no predicate with append, so check the window here."""
    dimensions = table_slice.partition_dimensions or []
    schema = Schema.from_arrow(data.schema)
    outside = pl.DataFrame(data).filter(~_polars_filter(dimensions, schema)).height
    if outside:
        raise ValueError(f"{outside} rows lie outside the partition: {_sql_predicate(dimensions, schema)}")
    write_deltalake(connection.table_uri, data, mode="append", schema_mode="merge", **write_options)


def _sql_predicate(dimensions: Sequence[TablePartitionDimension], schema: Schema) -> str:
    """delta-rs predicate for the partitions' rows, e.g. ``"ts" >= '…Z' AND "ts" < '…Z'``."""
    conditions = []
    for dimension in dimensions:
        column = '"' + dimension.partition_expr.replace('"', '""') + '"'
        if isinstance(dimension.partitions, TimeWindow):
            start, end = _window_bounds(dimension.partition_expr, dimension.partitions, schema)
            conditions.append(f"{column} >= {_sql_literal(start)} AND {column} < {_sql_literal(end)}")
        else:
            keys = ", ".join(f"'{escape_sql_string_literal(key)}'" for key in dimension.partitions)
            conditions.append(f"{column} IN ({keys})")
    return " AND ".join(conditions)


def _polars_filter(dimensions: Sequence[TablePartitionDimension], schema: Schema) -> pl.Expr:
    """The same selection as ``_sql_predicate``, as a polars expression."""
    expression = pl.lit(True)
    for dimension in dimensions:
        column = pl.col(dimension.partition_expr)
        if isinstance(dimension.partitions, TimeWindow):
            start, end = _window_bounds(dimension.partition_expr, dimension.partitions, schema)
            expression &= (column >= pl.lit(start)) & (column < pl.lit(end))
        else:
            expression &= column.is_in(list(dimension.partitions))
    return expression


def _window_bounds(column: str, window: TimeWindow, schema: Schema) -> tuple[dt.date, dt.date]:
    """Window start and end as values of the column's Delta type.

    Delta ``timestamp`` is UTC-adjusted; ``timestamp_ntz`` values are taken to be UTC wall-clock
    times; a ``date`` column only fits windows that start and end at midnight.
    """
    field = next((field for field in schema.fields if field.name == column), None)
    if field is None:
        raise ValueError(f"Partition column {column!r} is not in the table schema")
    kind = field.type.type if isinstance(field.type, PrimitiveType) else str(field.type)
    start, end = window.start.astimezone(dt.UTC), window.end.astimezone(dt.UTC)
    if kind == "timestamp":
        return start, end
    if kind == "timestamp_ntz":
        return start.replace(tzinfo=None), end.replace(tzinfo=None)
    if kind == "date":
        if window.start.time() != dt.time.min or window.end.time() != dt.time.min:
            raise ValueError(f"Date column {column!r} cannot hold the sub-day window {window.start}..{window.end}")
        return window.start.date(), window.end.date()
    raise ValueError(
        f"Partition column {column!r} has Delta type {kind}; time-window partitions need"
        " timestamp, timestamp_ntz or date"
    )


def _sql_literal(value: dt.date) -> str:
    """ISO literal delta-rs casts to the column type: '…T…Z', '…T…' (ntz) or a date."""
    if isinstance(value, dt.datetime):
        suffix = "Z" if value.tzinfo is not None else ""
        return f"'{value.strftime('%Y-%m-%dT%H:%M:%S.%f')}{suffix}'"
    return f"'{value.isoformat()}'"
