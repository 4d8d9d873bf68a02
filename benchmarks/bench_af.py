"""AF and event-frame benchmark: materialise the AF tables, one day of event frames and (optionally) one
hour of gold metrics against a mock of T tags; print rows, Delta size and seconds per asset.

    python benchmarks/bench_af.py                      # 30,000 tags
    python benchmarks/bench_af.py --tags 500 --metrics-hour 2026-11-19-12:00
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from dagster import DagsterInstance, materialize

from mock_pi.process import running_mock
from osipi_dagster.assets import (
    pi_af_attributes,
    pi_af_elements,
    pi_event_frames,
    pi_event_frames_current,
    pi_metrics_hourly,
    pi_tag_catalog,
    pi_timeseries,
)
from osipi_dagster.resources import build_resources
from osipi_dagster.resources.pi_web_api import PIWebAPIResource

ASSETS = [
    pi_tag_catalog,
    pi_af_elements,
    pi_af_attributes,
    pi_event_frames,
    pi_event_frames_current,
    pi_timeseries,
    pi_metrics_hourly,
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tags", type=int, default=30_000)
    parser.add_argument("--now", default="2026-11-20T12:00:00Z", help="the mock's frozen clock")
    parser.add_argument("--day", default="2026-11-19", help="event-frame partition")
    parser.add_argument("--metrics-hour", help="also load this pi_timeseries hour and its pi_metrics_hourly")
    parser.add_argument("--workers", default="1", help="mock server processes")
    args = parser.parse_args()

    steps = [
        ([pi_tag_catalog], None),
        ([pi_af_elements], None),
        ([pi_af_attributes], None),
        ([pi_event_frames], args.day),
        ([pi_event_frames_current], None),
    ]
    if args.metrics_hour:
        steps += [([pi_timeseries], args.metrics_hour), ([pi_metrics_hourly], args.metrics_hour)]
    print(f"| asset | rows | Delta MB | seconds |  ({args.tags:,} tags, mock --workers {args.workers})")
    print("|---|---:|---:|---:|")
    with (
        tempfile.TemporaryDirectory() as root,
        running_mock("--tags", str(args.tags), "--now", args.now, "--workers", args.workers) as server,
        DagsterInstance.ephemeral() as instance,
    ):
        resources = build_resources(PIWebAPIResource(base_url=server.url), root)
        for selection, partition in steps:
            began = time.perf_counter()
            result = materialize(
                ASSETS,
                selection=selection,
                partition_key=partition,
                resources=resources,
                instance=instance,
                raise_on_error=True,
            )
            seconds = time.perf_counter() - began
            name = selection[0].key.to_user_string()
            rows = result.asset_materializations_for_node(name)[0].metadata["dagster/row_count"].value
            size = sum(f.stat().st_size for f in Path(root).glob(f"*/{name}/**/*.parquet")) / 1e6
            print(
                f"| {name}{f' ({partition})' if partition else ''} | {rows:,} | {size:.1f} | {seconds:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
