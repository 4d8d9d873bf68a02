"""Benchmark of the mock PI Web API: startup time, memory, and points/s served.

    .venv/bin/python benchmarks/bench_mock.py [--workers 2] [--sizes 30000 100000] [--hours 1]
        [--modes client,streamsets,batch]

For each size it starts ``python -m mock_pi --workers W --tags N`` on a free 127.0.0.1 port, measures the
seconds until ``/piwebapi`` answers and the RSS of the whole process tree, then (for the first size) reads
every tag over ``--hours`` h through

* ``client``: the connector's own stream-set calls (``osipi_dagster.pi.transports``): 100 IDOnly WebIds per
  ``GET streamsets/recorded`` (what fits its URL budget), its ``selectedFields``, ``maxCount=1500``,
  ``webIdType=IDOnly``. It runs first, without a warm-up on those WebIds, so resolving each WebId for the
  first time counts, as it does in ``bench_extraction.py`` (a fresh mock per run);
* ``streamsets``: ``GET /streamsets/recorded`` (``--chunk`` WebIds per call), and
* ``batch``: ``POST /batch`` (``--chunk`` ``streams/{webId}/recorded`` sub-requests per call),

the last two with full TimedValue fields and with the connector's short ``selectedFields`` (``--modes`` picks
among the three), all with ``--concurrency`` client threads and without gzip. It prints a table with the
mock's CPU seconds (all its processes) next to each figure and the load average at start and end (on a shared
machine points per CPU-second are steadier than points/s). Points are counted in the raw bytes
(``"Timestamp":`` occurrences) so the client stays cheap; the client shares the machine's cores
with the server. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import http.client
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit

import httpx
import orjson
import psutil

from mock_pi.process import running_mock
from osipi_dagster.pi.transports import STREAMSET_FIELDS

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CONNECTOR_FIELDS = "Items.Timestamp;Items.Value;Items.Good"
CLIENT_CHUNK = 100  # IDOnly WebIds per stream-set GET that fit the connector's URL budget (MAX_URL_LENGTH)
MODES = ("client", "streamsets", "batch")


def tree_rss_mb(pid: int) -> float:
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 1e6


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of the mock's process tree so far: the machine is shared, so the mock's
    own CPU per point is the steadier figure next to points/s."""
    process = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [process, *process.children(recursive=True)])


def webids(url: str) -> list[str]:
    with httpx.Client(timeout=120) as http:
        server = http.get(f"{url}/dataservers").json()["Items"][0]
        out, start = [], 0
        while True:
            page = http.get(
                server["Links"]["Points"],
                params={
                    "startIndex": start,
                    "maxCount": 100000,
                    "webIdType": "IDOnly",
                    "selectedFields": "Items.WebId",
                },
            ).json()["Items"]
            out += [p["WebId"] for p in page]
            if len(page) < 100000:
                return out


class Connection:
    """A keep-alive ``http.client`` connection: far less client CPU per MB than httpx (the client shares
    the cores with the server, so a heavy client would understate the server)."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.http = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)

    def request(self, method: str, url: str, body: bytes | None = None) -> bytes:
        headers = {"Accept-Encoding": "identity", "X-Requested-With": "bench", "Content-Type": "application/json"}
        self.http.request(method, url, body=body, headers=headers)
        response = self.http.getresponse()
        data = response.read()
        if response.status >= 300:
            raise RuntimeError(f"HTTP {response.status}: {data[:300]!r}")
        return data


def run(url: str, jobs, concurrency: int) -> tuple[int, int, float]:
    """Run the request callables in a thread pool; returns (points, bytes, seconds)."""
    local = threading.local()

    def call(job):
        if not hasattr(local, "connection"):
            local.connection = Connection(url)
        body = job(local.connection)
        return body.count(b'"Timestamp":'), len(body)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(call, jobs))
    seconds = time.perf_counter() - started
    return sum(r[0] for r in results), sum(r[1] for r in results), seconds


def streamset_jobs(url: str, ids: list[str], chunk: int, start: str, end: str, fields: str | None):
    def job(ids_chunk):
        params = [("webId", w) for w in ids_chunk] + [("startTime", start), ("endTime", end), ("maxCount", 1000)]
        if fields:
            params.append(("selectedFields", "Items.WebId;" + ";".join(f"Items.{f}" for f in fields.split(";"))))
        target = f"{url}/streamsets/recorded?{urlencode(params)}"
        return lambda http: http.request("GET", target)

    return [job(ids[i : i + chunk]) for i in range(0, len(ids), chunk)]


def client_jobs(url: str, ids: list[str], start: str, end: str):
    def job(ids_chunk):
        params = [("webId", w) for w in ids_chunk] + [
            ("startTime", start),
            ("endTime", end),
            ("maxCount", 1500),
            ("selectedFields", STREAMSET_FIELDS),
            ("webIdType", "IDOnly"),
        ]
        target = f"{url}/streamsets/recorded?{urlencode(params)}"
        return lambda http: http.request("GET", target)

    return [job(ids[i : i + CLIENT_CHUNK]) for i in range(0, len(ids), CLIENT_CHUNK)]


def measure(server, jobs, concurrency: int, name: str, label: str, rows: list) -> None:
    """Run ``jobs`` against ``server``; print and add a row with points/s and the mock's CPU seconds."""
    cpu_before = tree_cpu_s(server.process.pid)
    points, size_bytes, seconds = run(server.url, jobs, concurrency)
    cpu = tree_cpu_s(server.process.pid) - cpu_before
    rate = points / seconds
    print(
        f"{name:10s} {label:16s} {points:>10,d} points {size_bytes / 1e6:8.0f} MB "
        f"{seconds:6.2f} s  {rate:>10,.0f} points/s  mock CPU {cpu:.2f} s "
        f"({points / cpu:,.0f} points per CPU-second)",
        flush=True,
    )
    rows.append(
        (
            f"{name} recorded, {label}",
            f"{rate:,.0f} points/s",
            f"{points:,d} points in {seconds:.2f} s; mock CPU {cpu:.2f} s = {points / cpu:,.0f} points per CPU-second",
        )
    )


def batch_jobs(url: str, ids: list[str], chunk: int, start: str, end: str, fields: str | None):
    query = {"startTime": start, "endTime": end, "maxCount": 10000}
    if fields:
        query["selectedFields"] = fields
    q = urlencode(query)

    def job(ids_chunk):
        body = orjson.dumps(
            {str(i): {"Method": "GET", "Resource": f"{url}/streams/{w}/recorded?{q}"} for i, w in enumerate(ids_chunk)}
        )
        return lambda http: http.request("POST", f"{url}/batch", body)

    return [job(ids[i : i + chunk]) for i in range(0, len(ids), chunk)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[30000, 100000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--chunk", type=int, default=500, help="WebIds per streamset call / sub-requests per batch")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, among {', '.join(MODES)}")
    args = parser.parse_args()
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if unknown := set(args.modes) - set(MODES):
        parser.error(f"unknown --modes {sorted(unknown)}; choose among {', '.join(MODES)}")
    rows = [("load average at start", " / ".join(f"{x:.2f}" for x in os.getloadavg()), "1, 5, 15 min")]
    end = NOW
    start = end - timedelta(hours=args.hours)
    window = (start.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ"))
    for n, size in enumerate(args.sizes):
        began = time.perf_counter()
        with running_mock(
            "--tags", str(size), "--workers", str(args.workers), "--now", NOW.isoformat(), startup_timeout=300
        ) as server:
            startup = time.perf_counter() - began
            rss = tree_rss_mb(server.process.pid)
            cpu = tree_cpu_s(server.process.pid)
            print(
                f"{size} tags: startup {startup:.1f} s, CPU {cpu:.1f} s, RSS {rss:.0f} MB ({args.workers} workers)",
                flush=True,
            )
            rows.append(
                (f"startup, {size} tags", f"{startup:.1f} s", f"CPU {cpu:.1f} s (all processes), RSS {rss:.0f} MB")
            )
            if n:
                continue
            ids = webids(server.url)
            if "client" in args.modes:  # first: no request has resolved these WebIds yet
                measure(server, client_jobs(server.url, ids, *window), args.concurrency, "client", "IDOnly, 100", rows)
            for name, make in (("streamsets", streamset_jobs), ("batch", batch_jobs)):
                if name not in args.modes:
                    continue
                for label, fields in (("all fields", None), ("connector fields", CONNECTOR_FIELDS)):
                    jobs = make(server.url, ids, args.chunk, *window, fields)
                    run(server.url, jobs[:2], 2)  # warm-up
                    measure(server, jobs, args.concurrency, name, label, rows)
            rss = tree_rss_mb(server.process.pid)
            rows.append((f"RSS after reads, {size} tags", f"{rss:.0f} MB", ""))
    rows.append(("load average at end", " / ".join(f"{x:.2f}" for x in os.getloadavg()), "1, 5, 15 min"))
    print("\n| measure | value | detail |\n|---|---|---|")
    for row in rows:
        print(f"| {' | '.join(row)} |")


if __name__ == "__main__":
    main()
