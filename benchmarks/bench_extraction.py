"""Extraction benchmark: N tags × 1 hour from the mock PI Web API, four ways.

    .venv/bin/python benchmarks/bench_extraction.py                      # 100, 1,000, 10,000, 30,000 tags
    .venv/bin/python benchmarks/bench_extraction.py --tags 100,1000      # a quick run
    .venv/bin/python benchmarks/bench_extraction.py --tags 1000 --latency-ms 0,20 --modes sequential,batch,streamsets

For each tag count a fresh mock (``python -m mock_pi --workers 2``, its own processes) serves the plant,
and each measurement runs in a child process of its own, so its peak RSS is its own:

  sequential   one ``GET streams/{webId}/recorded`` per tag, one at a time (the naive client)
  batch        the batch controller over ``POST /batch`` (one sub-request per tag)
  streamsets   the batch controller over ``GET streamsets/recorded``
  dagster      a full Dagster materialisation of one ``pi_timeseries`` partition: mock HTTP → Delta commit
               (the catalog is materialised first, untimed)
  catalog      (only with ``--modes catalog``) a Dagster materialisation of ``pi_tag_catalog`` into an empty
               lakehouse: every point listed page by page, then the Delta commit ("points" = catalog rows)
  stages       (only when asked for) the client CPU seconds of each step of the ``dagster`` path — HTTP,
               the stream-set parser, end filter, transform, Arrow, Delta write — run one after the other in one
               thread; and, for comparison (not in the total), the general decoder on the same bodies

Reported: HTTP requests, bytes received (on the wire: the mock gzips), seconds, points/s, peak RSS and CPU
seconds of the client process (also: the peak RSS before, and the CPU seconds of, the timed part alone, without
the imports and the untimed catalog load), and the mock's CPU seconds during the measurement. Client + mock CPU over
the cores is the floor for the wall time on this machine; seconds well above it mean waiting (or other
work on the machine: the load average at start is recorded).
``--latency-ms 0,20`` repeats every measurement against a mock that answers each request that many
milliseconds late (the mock's ``--latency-ms``; a real PI Web API takes tens of milliseconds per call), so
one run compares the modes on a local mock and at a realistic latency.
Writes ``bench_extraction.md``, ``.json`` and ``.png`` to ``--out`` (default ``benchmarks/results/``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from mock_pi.process import running_mock  # noqa: E402

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # the mock's frozen clock
START = NOW - timedelta(hours=2)  # one complete hour: partition 2026-11-20-10:00
END = START + timedelta(hours=1)
MODES = ("sequential", "batch", "streamsets", "dagster")
EXTRA_MODES = ("catalog", "stages")  # only when asked for by --modes (not in the default run or the chart)


# -- one measurement (child process) -------------------------------------------------------------------


def measure(mode: str, url: str, options: dict) -> dict:
    if mode == "dagster":
        return measure_dagster(url, options)
    if mode == "catalog":
        return measure_catalog(url)
    if mode == "stages":
        return measure_stages(url, options)
    from osipi_dagster.pi.batch_controller import BatchController
    from osipi_dagster.pi.client import PIWebAPIClient

    with PIWebAPIClient(url, max_connections=options["concurrency"]) as client:
        webids = [
            p["WebId"]
            for p in client.points(client.data_server()["WebId"], page_size=100_000, selected_fields="Items.WebId")
        ]
        before = (client.stats.requests, client.stats.bytes_received)
        if mode == "sequential":
            extractor = BatchController(client, transport="streams", streams_per_request=1, max_concurrency=1)
        else:
            extractor = BatchController(
                client,
                transport=mode,
                streams_per_request=options["streams_per_request"],
                max_concurrency=options["concurrency"],
                progress=lambda _: None,
            )
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        began, cpu_began = time.perf_counter(), time.process_time()
        frame = extractor.extract(webids, START, END)
        seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu_began
        return {
            "points": frame.height,
            "seconds": seconds,
            "timed_cpu_seconds": cpu_seconds,
            "peak_rss_before_mb": rss_before,
            "requests": client.stats.requests - before[0],
            "bytes": client.stats.bytes_received - before[1],
            "paged_streams": extractor.stats.paged_streams,
        }


def measure_dagster(url: str, options: dict) -> dict:
    from dagster import DagsterInstance, materialize

    from osipi_dagster.assets import pi_tag_catalog, pi_timeseries
    from osipi_dagster.resources import build_resources
    from osipi_dagster.resources.pi_web_api import PIWebAPIResource

    clients = []

    class CountingPIWebAPIResource(PIWebAPIResource):
        """The real resource, keeping its clients so their request/byte counters can be read."""

        def make_client(self):
            clients.append(super().make_client())
            return clients[-1]

    with tempfile.TemporaryDirectory(prefix="bench-delta-") as root, DagsterInstance.ephemeral() as instance:
        pi = CountingPIWebAPIResource(
            base_url=url,
            transport=options["dagster_transport"],
            streams_per_request=options["streams_per_request"],
            max_concurrent_requests=options["concurrency"],
        )
        resources = build_resources(pi, root)
        assert materialize([pi_tag_catalog], resources=resources, instance=instance).success
        clients.clear()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # imports, catalog: not the load's
        began, cpu_began = time.perf_counter(), time.process_time()
        result = materialize(
            [pi_tag_catalog, pi_timeseries],
            selection=[pi_timeseries],
            instance=instance,
            partition_key=START.strftime("%Y-%m-%d-%H:%M"),
            resources=resources,
        )
        seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu_began
        assert result.success
        meta = result.asset_materializations_for_node("pi_timeseries")[0].metadata
        return {
            "points": meta["dagster/partition_row_count"].value,
            "seconds": seconds,
            "timed_cpu_seconds": cpu_seconds,
            "peak_rss_before_mb": rss_before,
            "requests": sum(c.stats.requests for c in clients),
            "bytes": sum(c.stats.bytes_received for c in clients),
        }


def measure_catalog(url: str) -> dict:
    """``pi_tag_catalog`` from scratch (imports and the Dagster instance are set up before the clock starts)."""
    from dagster import DagsterInstance, materialize

    from osipi_dagster.assets import pi_tag_catalog
    from osipi_dagster.resources import build_resources
    from osipi_dagster.resources.pi_web_api import PIWebAPIResource

    with tempfile.TemporaryDirectory(prefix="bench-delta-") as root, DagsterInstance.ephemeral() as instance:
        resources = build_resources(PIWebAPIResource(base_url=url), root)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        began, cpu_began = time.perf_counter(), time.process_time()
        result = materialize([pi_tag_catalog], resources=resources, instance=instance)
        seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu_began
        assert result.success
        meta = result.asset_materializations_for_node("pi_tag_catalog")[0].metadata
        return {
            "points": meta["dagster/row_count"].value,
            "seconds": seconds,
            "timed_cpu_seconds": cpu_seconds,
            "peak_rss_before_mb": rss_before,
            "requests": meta["pi_requests"].value,
            "bytes": None,  # the asset's client is not reachable from here; requests come from its metadata
        }


def measure_stages(url: str, options: dict) -> dict:
    """Client CPU seconds of each step of the ``dagster`` mode's path, run one after the other in one thread
    (stream-set requests of ``streams_per_request`` tags, batches of ``ROWS_PER_BATCH``, a local Delta table)."""
    import polars as pl
    import pyarrow as pa
    from deltalake import write_deltalake

    from osipi_dagster.assets.timeseries import ARROW_SCHEMA, ROWS_PER_BATCH
    from osipi_dagster.pi.client import PIWebAPIClient, decoded_body
    from osipi_dagster.pi.time_window import Window
    from osipi_dagster.pi.transports import StreamsetTransport
    from osipi_dagster.pi.values import STREAM_SET_VALUES, UTC_TIMESTAMP, ValueColumns, stream_set_columns
    from osipi_dagster.pi.webids import short_webid
    from osipi_dagster.transforms.timeseries import timeseries_frame

    cpu: dict[str, float] = {}
    general = "general decoder: msgspec → ValueColumns (for comparison, not in the total)"

    def get_body(client, url: str) -> bytes:  # the client's own path: raw bytes, inflated by zlib-ng
        response, raw, encoding = client._send("GET", url, None, None, {})
        return decoded_body(raw, encoding, url, response.status_code)

    def timed(stage: str, step, *args):
        began = time.process_time()
        out = step(*args)
        cpu[stage] = cpu.get(stage, 0.0) + time.process_time() - began
        return out

    def general_columns(content: bytes) -> pl.DataFrame:
        values = ValueColumns()
        for stream in STREAM_SET_VALUES.decode(content).Items:
            values.add(full[stream.WebId], stream.Items)
        return values.to_frame()

    with PIWebAPIClient(url) as client:
        fields = "Items.WebId;Items.Name;Items.EngineeringUnits"
        points = list(client.points(client.data_server()["WebId"], page_size=100_000, selected_fields=fields))
        catalog = pl.DataFrame(
            {key: [p[field] for p in points] for key, field in (("webid", "WebId"), ("name", "Name"))}
            | {"engineering_units": [p["EngineeringUnits"] for p in points]}
        ).sort("name")
        webids = catalog["webid"].to_list()
        full = {short_webid(w): w for w in webids}
        transport, window, size = StreamsetTransport(client), Window.of(START, END), options["streams_per_request"]
        before_end = pl.col("timestamp") < pl.lit(END, dtype=UTC_TIMESTAMP)
        began = time.perf_counter()
        batches, pending, rows = [], [], 0
        for i in range(0, len(webids), size):
            request = transport._url(webids[i : i + size], window, 150_000 // size)
            content = timed("HTTP GET (httpx, zlib-ng inflate)", lambda u: get_body(client, u), request)
            read = timed("stream-set parser → columns (C, fast path)", stream_set_columns, content, 150_000, full)
            timed(general, general_columns, content)
            frame = read.frame
            pending.append(timed("end filter", frame.filter, before_end))
            if sum(f.height for f in pending) >= ROWS_PER_BATCH or i + size >= len(webids):
                table = timed("transform (timeseries_frame)", timeseries_frame, pl.concat(pending), catalog)
                batches += timed("→ Arrow batches", lambda t: t.to_arrow().cast(ARROW_SCHEMA).to_batches(), table)
                rows, pending = rows + table.height, []
        with tempfile.TemporaryDirectory(prefix="bench-stages-") as root:
            reader = pa.RecordBatchReader.from_batches(ARROW_SCHEMA, iter(batches))
            timed("Delta write (delta-rs, default writer)", write_deltalake, root, reader)
            parquet = sum(f.stat().st_size for f in Path(root).rglob("*.parquet"))
        return {
            "points": rows,
            "seconds": time.perf_counter() - began,
            "timed_cpu_seconds": sum(v for k, v in cpu.items() if k != general),
            "peak_rss_before_mb": 0.0,
            "requests": len(range(0, len(webids), size)),
            "bytes": None,
            "stages": cpu,
            "parquet_mb": parquet / 1e6,
        }


def stages_table(rows: list[dict]) -> list[str]:
    """Client CPU seconds per step (``stages`` mode), one column per tag count."""
    runs = [r for r in rows if r["mode"] == "stages"]
    if not runs:
        return []
    lines = [
        "",
        "Client CPU seconds per step (`stages`: the `dagster` path's steps one after the other in one thread):",
        "",
        "| step | " + " | ".join(f"{r['tags']:,} tags" for r in runs) + " |",
        "|---|" + "---:|" * len(runs),
    ]
    for stage in runs[0]["stages"]:
        lines.append(f"| {stage} | " + " | ".join(f"{r['stages'][stage]:.2f}" for r in runs) + " |")
    lines.append("| **total** | " + " | ".join(f"**{r['timed_cpu_seconds']:.2f}**" for r in runs) + " |")
    lines.append("| Parquet MB written | " + " | ".join(f"{r['parquet_mb']:.1f}" for r in runs) + " |")
    return lines


def child_main(mode: str, url: str, options: dict) -> None:
    result = measure(mode, url, options)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    result["client_cpu_seconds"] = usage.ru_utime + usage.ru_stime  # (includes imports and setup)
    print("RESULT " + json.dumps(result), flush=True)


# -- the driver ----------------------------------------------------------------------------------------


def cpu_seconds(process: psutil.Process) -> float:
    """CPU time of the mock: its main process and every uvicorn worker."""
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def run_child(mode: str, url: str, options: dict, mock: psutil.Process) -> dict:
    mock_cpu = cpu_seconds(mock)
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--url", url, "--options", json.dumps(options)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    result["mock_cpu_seconds"] = cpu_seconds(mock) - mock_cpu
    return result


def machine() -> dict:
    model = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else ""
    )
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }  # other work on the machine skews seconds


def table(rows: list[dict], info: dict, command: str) -> str:
    lines = [
        f"Machine: {info['cores']} cores ({info['cpu']}), {info['memory_gb']} GB RAM, Python {info['python']}, "
        f"load average {info['load_average_at_start']} at start",
        f"Command: `{command}`",
        "",
        "| tags | latency ms | mode | points | requests | MB received | seconds | points/s | peak RSS MB "
        "| (before the timed part) | client CPU s | (timed part) | mock CPU s |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mb = f"{r['bytes'] / 1e6:,.1f}" if r.get("bytes") is not None else "–"
        lines.append(
            f"| {r['tags']:,} | {r.get('latency_ms', 0):g} | {r['mode']} | {r['points']:,} | {r['requests']:,} | "
            f"{mb} | "
            f"{r['seconds']:.2f} | {r['points'] / r['seconds']:,.0f} | {r['peak_rss_mb']:,.0f} | "
            f"{r['peak_rss_before_mb']:,.0f} | {r['client_cpu_seconds']:.1f} | {r['timed_cpu_seconds']:.1f} | "
            f"{r['mock_cpu_seconds']:.1f} |"
        )
    lines += ["", *speedups(rows), *stages_table(rows)]
    return "\n".join(lines) + "\n"


def speedups(rows: list[dict]) -> list[str]:
    """Batch and stream sets against sequential (same tags, same latency): how many times fewer requests,
    how many times faster."""
    out = []
    by = {(r["tags"], r.get("latency_ms", 0), r["mode"]): r for r in rows}
    for tags, latency in sorted({(r["tags"], r.get("latency_ms", 0)) for r in rows}):
        base = by.get((tags, latency, "sequential"))
        for mode in ("batch", "streamsets"):
            r = by.get((tags, latency, mode))
            if base and r:
                out.append(
                    f"- {tags:,} tags at {latency:g} ms latency, {mode}: {base['requests'] / r['requests']:,.0f}× "
                    f"fewer requests, {base['seconds'] / r['seconds']:.1f}× faster than sequential"
                )
    return out


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    latencies = sorted({r.get("latency_ms", 0) for r in rows})
    styles = ["-", "--", ":", "-."]
    for number, mode in enumerate(MODES):  # not the extra modes: stages run one after the other in one thread
        color = f"C{number}"
        for latency, style in zip(latencies, styles):
            points = sorted((r["tags"], r) for r in rows if r["mode"] == mode and r.get("latency_ms", 0) == latency)
            if not points:
                continue
            tags = [t for t, _ in points]
            if mode != "dagster" and latency == latencies[0]:  # requests do not depend on the latency
                axes[0].plot(tags, [r["requests"] for _, r in points], marker="o", color=color, label=mode)
            label = f"{mode}, {latency:g} ms" if len(latencies) > 1 else mode
            axes[1].plot(tags, [r["seconds"] for _, r in points], style, marker="o", color=color, label=label)
    for ax, title in zip(axes, ("HTTP requests", "seconds")):
        ax.set(xscale="log", yscale="log", xlabel="tags (1 hour each)", title=title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tags", default="100,1000,10000,30000", help="comma-separated tag counts")
    parser.add_argument("--modes", default=",".join(MODES), help=f"subset of {','.join(MODES + EXTRA_MODES)}")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--workers", type=int, default=2, help="mock worker processes")
    parser.add_argument("--streams-per-request", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    parser.add_argument("--dagster-transport", default="streamsets", choices=("streamsets", "batch"))
    parser.add_argument("--latency-ms", default="0", help="comma-separated per-request mock latencies (ms)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--options", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child, args.url, json.loads(args.options))
        return

    options = {
        "streams_per_request": args.streams_per_request,
        "concurrency": args.concurrency,
        "dagster_transport": args.dagster_transport,
    }
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES) - set(EXTRA_MODES)
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    info = machine()
    command = "python benchmarks/bench_extraction.py " + " ".join(argv if argv is not None else sys.argv[1:])
    rows = []
    latencies = [float(x) for x in args.latency_ms.split(",") if x]
    for tags, latency in [(int(t), ms) for t in args.tags.split(",") for ms in latencies]:
        with running_mock(
            *("--tags", str(tags), "--now", NOW.isoformat(), "--workers", str(args.workers)),
            *("--latency-ms", f"{latency:g}"),
            startup_timeout=120,
        ) as server:
            mock = psutil.Process(server.process.pid)
            for mode in modes:
                result = {
                    "tags": tags,
                    "latency_ms": latency,
                    "mode": mode,
                    **run_child(mode, server.url, options, mock),
                }
                rows.append(result)
                print(
                    f"{tags:>6,} tags  {latency:>3g} ms  {mode:<10}  {result['points']:>10,} points  "
                    f"{result['requests']:>6,} "
                    f"requests  {result['seconds']:7.2f} s  {result['peak_rss_mb']:7,.0f} MB RSS  "
                    f"CPU client {result['client_cpu_seconds']:.1f} s ({result['timed_cpu_seconds']:.1f} s timed), "
                    f"mock {result['mock_cpu_seconds']:.1f} s",
                    flush=True,
                )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    markdown = table(rows, info, command.strip())
    (out / "bench_extraction.md").write_text(markdown)
    (out / "bench_extraction.json").write_text(
        json.dumps({"machine": info, "options": options, "rows": rows}, indent=2)
    )
    charted = any(r["mode"] in MODES for r in rows)
    if charted:
        chart(rows, out / "bench_extraction.png")
    print("\n" + markdown)
    print(f"Wrote {out / 'bench_extraction.md'}, .json" + (" and .png" if charted else ""))


if __name__ == "__main__":
    main()
