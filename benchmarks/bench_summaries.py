"""PI's own summaries vs raw values: what ``pi_summaries_hourly`` and the edge reads of
``pi_metrics_hourly`` cost next to reading an hour of recorded values, against a mock of T tags.

    python benchmarks/bench_summaries.py                  # 5,000 tags, 1 hour and 24 hours
    python benchmarks/bench_summaries.py --tags 30000 --hours 1

Prints one row per read: requests, values/summaries received, response bytes and seconds.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from mock_pi.process import running_mock
from osipi_dagster.pi.batch_controller import BatchController
from osipi_dagster.pi.client import PIWebAPIClient
from osipi_dagster.pi.summaries import StreamSetReader
from osipi_dagster.transforms.metrics import hour_starts, summary_types


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tags", type=int, default=5_000)
    parser.add_argument("--hours", default="1,24", help="window lengths to measure, comma-separated")
    parser.add_argument("--now", default="2026-11-21T01:30:00Z", help="the mock's frozen clock")
    parser.add_argument("--workers", default="1", help="mock server processes")
    args = parser.parse_args()
    end0 = datetime(2026, 11, 21, tzinfo=UTC)
    print(
        f"| read | hours | requests | rows | MB received | seconds |  "
        f"({args.tags:,} tags, mock --workers {args.workers})"
    )
    print("|---|---:|---:|---:|---:|---:|")
    with (
        running_mock(
            "--tags", str(args.tags), "--now", args.now, "--workers", args.workers, startup_timeout=120
        ) as server,
        PIWebAPIClient(server.url) as client,
    ):
        webids = [p["WebId"] for p in client.points(client.data_server()["WebId"])]
        for hours in [int(h) for h in args.hours.split(",")]:
            start, end = end0 - timedelta(hours=hours), end0
            reader = StreamSetReader(client)
            reads = {
                "recorded values (pi_timeseries)": lambda: BatchController(client).extract(webids, start, end).height,
                "summaries, both bases (pi_summaries_hourly)": lambda: sum(
                    reader.summaries(webids, start, end, "1h", basis, summary_types(kind)).height
                    for basis, kind in (("TimeWeighted", "time"), ("EventWeightedExcludeMostRecentEvent", "event"))
                ),
                "events around the hour edges (pi_metrics_hourly)": lambda: sum(
                    reader.events_around(webids, edge).height for edge in [*hour_starts(start, end), end]
                ),
            }
            for name, read in reads.items():
                requests, received = client.stats.requests, client.stats.bytes_received
                began = time.perf_counter()
                rows = read()
                seconds = time.perf_counter() - began
                print(
                    f"| {name} | {hours} | {client.stats.requests - requests:,} | {rows:,} | "
                    f"{(client.stats.bytes_received - received) / 1e6:,.1f} | {seconds:.1f} |"
                )


if __name__ == "__main__":
    main()
