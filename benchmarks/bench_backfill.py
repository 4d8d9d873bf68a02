"""Backfill benchmark: N days × T tags of hourly ``pi_timeseries`` partitions, two ways.

    python benchmarks/bench_backfill.py                 # 7 days × 1,000 tags
    python benchmarks/bench_backfill.py --days 1 --tags 200

(a) one single-run range backfill (``BackfillPolicy.single_run()``, what the UI and
    ``dagster asset materialize --partition-range`` do): one Delta commit, output streamed hour by hour;
(b) one run per day, ``--parallel`` runs at a time in separate processes, all writing different windows
    of the same Delta table (concurrent commits).

Both are checked for completeness (rows = what the mock's generator defines, no duplicate keys). Prints a
Markdown table with seconds, rows/s and peak RSS.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone

import polars as pl
import psutil

END = datetime(2026, 11, 20, tzinfo=timezone.utc)  # the mock's frozen clock; the backfill ends here


class PeakRSS:
    """Peak resident memory of this process and its children, sampled every 50 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                rss = me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True)
                                                 if "mock_pi" not in " ".join(c.cmdline()))
            except psutil.Error:
                continue
            self.peak = max(self.peak, rss)
            time.sleep(0.05)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def materialize_range(url: str, root: str, first: str, last: str) -> float:
    """One range run of the catalog-fed ``pi_timeseries`` asset; returns seconds."""
    from dagster import DagsterInstance, materialize

    from osipi_dagster.assets import pi_tag_catalog, pi_timeseries
    from osipi_dagster.resources import build_resources
    from osipi_dagster.resources.pi_web_api import PIWebAPIResource

    resources = build_resources(PIWebAPIResource(base_url=url), root)
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    began = time.perf_counter()
    with DagsterInstance.ephemeral() as instance:
        result = materialize([pi_tag_catalog, pi_timeseries], selection=[pi_timeseries], resources=resources,
                             instance=instance, run_config=quiet, raise_on_error=False,
                             tags={"dagster/asset_partition_range_start": first,
                                   "dagster/asset_partition_range_end": last})
    if not result.success:
        raise RuntimeError(f"range {first}...{last} failed")
    return time.perf_counter() - began


def load_catalog(url: str, root: str) -> None:
    from dagster import DagsterInstance, materialize

    from osipi_dagster.assets import pi_tag_catalog
    from osipi_dagster.resources import build_resources
    from osipi_dagster.resources.pi_web_api import PIWebAPIResource

    with DagsterInstance.ephemeral() as instance:
        assert materialize([pi_tag_catalog], instance=instance,
                           resources=build_resources(PIWebAPIResource(base_url=url), root)).success


def check(root: str, hours: int, tags: int) -> int:
    table = pl.read_delta(f"{root}/bronze/pi_timeseries")
    duplicates = table.select("tag_webid", "timestamp", "sequence").is_duplicated().sum()
    if duplicates:
        raise AssertionError(f"{duplicates} duplicate keys")
    if table["timestamp"].dt.truncate("1h").n_unique() != hours:
        raise AssertionError("hours missing")
    return table.height


def main() -> None:
    from mock_pi.process import running_mock

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=2, help="concurrent daily runs in (b)")
    args = parser.parse_args()

    start = END - timedelta(days=args.days)
    fmt = "%Y-%m-%d-%H:%M"
    hours = args.days * 24
    rows_out = []
    with running_mock("--tags", str(args.tags), "--now", END.isoformat(), "--workers", "2") as mock:
        with tempfile.TemporaryDirectory() as root_a, tempfile.TemporaryDirectory() as root_b:
            load_catalog(mock.url, root_a)
            with PeakRSS() as rss:
                seconds = materialize_range(mock.url, root_a, start.strftime(fmt),
                                            (END - timedelta(hours=1)).strftime(fmt))
            rows = check(root_a, hours, args.tags)
            rows_out.append(("(a) one single-run range backfill", seconds, rows, rss.peak))

            load_catalog(mock.url, root_b)
            days = [(start + timedelta(days=d)).strftime(fmt) for d in range(args.days)]
            lasts = [(start + timedelta(days=d + 1, hours=-1)).strftime(fmt) for d in range(args.days)]
            context = multiprocessing.get_context("spawn")  # never fork a process that used deltalake
            with PeakRSS() as rss:
                began = time.perf_counter()
                with ProcessPoolExecutor(args.parallel, mp_context=context) as pool:
                    list(pool.map(materialize_range, [mock.url] * args.days, [root_b] * args.days, days, lasts))
                seconds = time.perf_counter() - began
            rows = check(root_b, hours, args.tags)
            rows_out.append((f"(b) {args.days} daily runs, {args.parallel} at a time", seconds, rows, rss.peak))

    print(f"\n{args.days} days × {args.tags:,} tags (hourly partitions: {hours}); machine: {os.cpu_count()} cores, "
          f"{platform.python_implementation()} {platform.python_version()}\n")
    print("| backfill | seconds | rows | rows/s | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds, rows, peak in rows_out:
        print(f"| {name} | {seconds:.1f} | {rows:,} | {rows / seconds:,.0f} | {peak / 2**20:,.0f} |")


if __name__ == "__main__":
    main()
