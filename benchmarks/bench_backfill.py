"""Backfill benchmark: N days × T tags of hourly ``pi_timeseries`` partitions, run as a multi-run backfill.

    python benchmarks/bench_backfill.py          # 2 days × 1,000 tags, 6 hours per run, 1, 2 and 4 at once
    python benchmarks/bench_backfill.py --days 1 --tags 200 --parallel 1,2

The backfill is cut into runs of ``--partitions-per-run`` hours, as ``BackfillPolicy.multi_run`` does
(``OSIPI_BACKFILL_PARTITIONS_PER_RUN``); each run is one range materialisation and one Delta commit, all runs
writing different windows of one table. For each ``--parallel`` value the runs execute that many at a time in
worker processes (started once per value, so the figures exclude Dagster's per-run process start of a few
seconds). Every result is checked for completeness (every hour present, no duplicate key). Prints a Markdown
table: seconds, rows, points/s, points/s per core, PI requests, CPU seconds of the runs and of the mock (and
points per CPU second of both: on a shared machine the figure that other work disturbs least), peak RSS of the
benchmark and its workers, and the load average.
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
from datetime import UTC, datetime, timedelta

import polars as pl
import psutil

END = datetime(2026, 11, 20, tzinfo=UTC)  # the mock's frozen clock; the backfill ends here


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
                rss = me.memory_info().rss + sum(
                    c.memory_info().rss for c in me.children(recursive=True) if "mock_pi" not in " ".join(c.cmdline())
                )
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


def materialize_range(url: str, root: str, first: str, last: str) -> tuple[float, float, float]:
    """One range run of the catalog-fed ``pi_timeseries`` asset: seconds, PI requests (the sum of the hours'
    ``pi_requests`` observations) and this worker's CPU seconds."""
    from dagster import DagsterInstance, materialize

    from osipi_dagster.assets import pi_tag_catalog, pi_timeseries
    from osipi_dagster.resources import build_resources
    from osipi_dagster.resources.pi_web_api import PIWebAPIResource

    resources = build_resources(PIWebAPIResource(base_url=url), root)
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    began, cpu = time.perf_counter(), time.process_time()
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [pi_tag_catalog, pi_timeseries],
            selection=[pi_timeseries],
            resources=resources,
            instance=instance,
            run_config=quiet,
            raise_on_error=False,
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        )
        if not result.success:
            raise RuntimeError(f"range {first}...{last} failed")
        observations = result.get_asset_observation_events()
        requests = sum(o.asset_observation_data.asset_observation.metadata["pi_requests"].value for o in observations)
    return time.perf_counter() - began, requests, time.process_time() - cpu


def load_catalog(url: str, root: str) -> None:
    from dagster import DagsterInstance, materialize

    from osipi_dagster.assets import pi_tag_catalog
    from osipi_dagster.resources import build_resources
    from osipi_dagster.resources.pi_web_api import PIWebAPIResource

    with DagsterInstance.ephemeral() as instance:
        assert materialize(
            [pi_tag_catalog], instance=instance, resources=build_resources(PIWebAPIResource(base_url=url), root)
        ).success


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
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--partitions-per-run", type=int, default=6, help="hours per run (multi_run chunk)")
    parser.add_argument("--parallel", default="1,2,4", help="runs at a time, one measurement per value")
    args = parser.parse_args()

    start = END - timedelta(days=args.days)
    fmt = "%Y-%m-%d-%H:%M"
    hours = args.days * 24
    chunks = [
        (start + timedelta(hours=h), min(start + timedelta(hours=h + args.partitions_per_run), END))
        for h in range(0, hours, args.partitions_per_run)
    ]
    firsts = [first.strftime(fmt) for first, _ in chunks]
    lasts = [(end - timedelta(hours=1)).strftime(fmt) for _, end in chunks]
    rows_out = []
    load_before = os.getloadavg()
    with running_mock("--tags", str(args.tags), "--now", END.isoformat(), "--workers", "2") as mock:
        for parallel in [int(p) for p in args.parallel.split(",")]:
            with tempfile.TemporaryDirectory() as root:
                load_catalog(mock.url, root)
                context = multiprocessing.get_context("spawn")  # never fork a process that used deltalake
                with ProcessPoolExecutor(parallel, mp_context=context) as pool:
                    # Warm the workers (imports) before timing, as a long-running worker would be.
                    list(pool.map(_warm, range(parallel)))
                    mock_cpu = cpu_seconds(mock.process.pid)
                    with PeakRSS() as rss:
                        began = time.perf_counter()
                        runs = list(
                            pool.map(materialize_range, [mock.url] * len(chunks), [root] * len(chunks), firsts, lasts)
                        )
                        seconds = time.perf_counter() - began
                    mock_cpu = cpu_seconds(mock.process.pid) - mock_cpu
                rows = check(root, hours, args.tags)
                requests, client_cpu = sum(r[1] for r in runs), sum(r[2] for r in runs)
                rows_out.append((parallel, seconds, rows, requests, client_cpu, mock_cpu, rss.peak, os.getloadavg()[0]))

    cores = os.cpu_count() or 1
    print(
        f"\n{args.days} days × {args.tags:,} tags = {hours} hourly partitions in {len(chunks)} runs of "
        f"{args.partitions_per_run} h; {cores} cores, {platform.python_implementation()} "
        f"{platform.python_version()}; mock: 2 worker processes on the same machine; load average at start "
        f"{load_before[0]:.1f}\n"
    )
    print(
        "| runs at once | seconds | rows | points/s | points/s per core | PI requests | CPU s: runs / mock "
        "| points per CPU s | peak RSS, bench + workers (MB) | load after |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for parallel, seconds, rows, requests, client_cpu, mock_cpu, peak, load in rows_out:
        print(
            f"| {parallel} | {seconds:.1f} | {rows:,} | {rows / seconds:,.0f} | {rows / seconds / cores:,.0f} | "
            f"{requests:,.0f} | {client_cpu:.0f} / {mock_cpu:.0f} | {rows / (client_cpu + mock_cpu):,.0f} | "
            f"{peak / 2**20:,.0f} | {load:.1f} |"
        )


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children (the mock's worker processes)."""
    process = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [process, *process.children(recursive=True)])


def _warm(_: int) -> None:
    import osipi_dagster.definitions  # noqa: F401  (dagster, deltalake, polars)


if __name__ == "__main__":
    main()
