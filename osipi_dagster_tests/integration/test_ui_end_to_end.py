"""What a user sees in the Dagster UI, end to end: the mock PI Web API and ``dagster dev`` (webserver + daemon) as
real processes; through the webserver's GraphQL API (the UI's own) the catalog is materialised and a backfill of
hourly ``pi_timeseries`` partitions launched; then the partition status, each partition's row count and the
asset checks' results, as the UI reads them, are compared with the Delta table read back with polars and with
the mock's generator."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from mock_pi.config import MockConfig
from mock_pi.process import running_mock
from osipi_dagster_tests.expected import expected_timeseries
from osipi_dagster_tests.graphql_api import (
    BACKFILL_RUNS,
    LAUNCH_BACKFILL,
    REPOSITORY,
    TERMINAL,
    graphql,
    stop_sensors,
)
from osipi_dagster_tests.helpers import MOCK_NOW, hour_key, hour_window
from osipi_dagster_tests.servers import free_port, http_ok, running, venv_tool, wait_until

REPO = Path(__file__).resolve().parents[2]
TAGS = 20  # few tags and hours: the test is about what the UI shows, on CI's 2 cores
HOURS = [hour_key(MOCK_NOW - timedelta(hours=n)) for n in (4, 3, 2)]
CATALOG_CHECKS = ["pi_tag_catalog_unique_webids", "column_schema_change"]
# Every step in the run's process: the records and what the UI shows are the same as with the default
# multiprocess executor, without a Python process started per step (most of a run's time on 2 busy cores).
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
TIMESERIES_CHECKS = ["pi_timeseries_keys_unique", "pi_timeseries_complete_against_pi_count"]

LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on Error { message }
  }
}"""
RUN = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
BACKFILL = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status } ... on Error { message } } }"""
ASSET = """
query($key: AssetKeyInput!, $partitions: [String!]) {
  assetNodeOrError(assetKey: $key) { ... on AssetNode {
    partitionStats { numMaterialized numFailed numMaterializing }
    assetPartitionStatuses { ... on TimePartitionStatuses { ranges { startKey endKey status } } }
    freshnessStatusInfo { freshnessStatus }
    assetChecksOrError { ... on AssetChecks { checks {
      name
      blocking
      executionForLatestMaterialization { status evaluation { success } }
      partitionStatuses { ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } } }
    } } }
  } }
  assetOrError(assetKey: $key) { ... on Asset {
    assetMaterializations(partitions: $partitions) { partition timestamp metadataEntries { ...entry } }
    assetObservations(partitions: $partitions) { partition timestamp metadataEntries { ...entry } }
  } }
}
fragment entry on MetadataEntry { label ... on IntMetadataEntry { intValue } }"""


def launch_run(url: str, asset: str, checks: list[str]) -> str:
    """Materialise one asset with the given checks, as the UI's *Materialize* button does."""
    launched = graphql(
        url,
        LAUNCH_RUN,
        params={
            "selector": {
                **REPOSITORY,
                "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": [asset]}],
                "assetCheckSelection": [{"assetKey": {"path": [asset]}, "name": name} for name in checks],
            },
            "mode": "default",
            "runConfigData": IN_PROCESS,
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def asset_view(url: str, asset: str, partitions: list[str] | None = None) -> dict:
    data = graphql(url, ASSET, key={"path": [asset]}, partitions=partitions)
    return {**data["assetNodeOrError"], **data["assetOrError"]}


def latest_partition_row_counts(view: dict) -> dict[str, int]:
    """Per partition, ``dagster/partition_row_count`` of its latest event that states one (materialisation or
    observation): the figure the UI shows for the partition."""
    stated: dict[str, tuple[float, int]] = {}
    for event in view["assetMaterializations"] + view["assetObservations"]:
        for entry in event["metadataEntries"]:
            if entry["label"] == "dagster/partition_row_count":
                timestamp = float(event["timestamp"])
                if timestamp >= stated.get(event["partition"], (0.0, 0))[0]:
                    stated[event["partition"]] = (timestamp, entry["intValue"])
    return {partition: rows for partition, (_, rows) in stated.items()}


def checks_by_name(view: dict) -> dict[str, dict]:
    return {check["name"]: check for check in view["assetChecksOrError"]["checks"]}


@pytest.fixture
def ui(tmp_path):
    """The mock PI Web API and ``dagster dev`` on free 127.0.0.1 ports with a temporary DAGSTER_HOME and this
    repository's workspace.yaml; yields the GraphQL URL, the Delta root, the process and its log. Both stop when
    the test ends (the whole process group of ``dagster dev``: webserver, daemon, code server, runs), also when it
    fails."""
    began = time.monotonic()
    home = tmp_path / "dagster_home"
    home.mkdir()
    # No automation (it would load the AF tables at the first tick, and gold after the backfill): only the runs
    # this test launches.
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nauto_materialize:\n  enabled: false\n  use_sensors: false\n"
    )
    with running_mock("--tags", str(TAGS), "--now", MOCK_NOW.isoformat()) as mock:
        env = {
            "DAGSTER_HOME": str(home),
            "PI_WEB_API_URL": mock.url,
            "OSIPI_DELTA_ROOT": str(tmp_path / "delta"),
            "OSIPI_PARTITIONS_START": hour_key(MOCK_NOW - timedelta(days=1)),
            "FRESHNESS_DAEMON_INTERVAL_SECONDS": "5",  # the daemon's freshness evaluation, every 30 s by default
        }
        # The new-tag sensor would load the catalog and a day of hours at the daemon's first tick, before the UI
        # answers: stop it in the instance first (the event-frame sensor does nothing without event frames).
        stop = subprocess.run(
            [venv_tool("dagster"), "sensor", "stop", "-w", "workspace.yaml", "pi_new_tags_sensor"],
            cwd=REPO,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )
        assert stop.returncode == 0, stop.stdout[-3000:] + stop.stderr[-3000:]
        print(f"new-tag sensor stopped {time.monotonic() - began:.1f}s")
        port = free_port()
        log = tmp_path / "dagster_dev.log"
        with running(
            [venv_tool("dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            log,
            env=env,
            cwd=str(REPO),
        ) as dev:
            wait_until(http_ok(f"http://127.0.0.1:{port}/server_info"), "dagster dev", 180, dev, log)
            print(f"dagster dev up {time.monotonic() - began:.1f}s")
            url = f"http://127.0.0.1:{port}/graphql"
            assert stop_sensors(url) >= {"osipi_automation", "pi_new_tags_sensor", "pi_open_event_frames_sensor"}
            yield url, tmp_path / "delta", dev, log


@pytest.mark.integration
def test_the_ui_shows_true_partitions_row_counts_and_checks_after_a_backfill(ui):
    url, delta_root, dev, log = ui
    began = time.monotonic()

    run_id = launch_run(url, "pi_tag_catalog", CATALOG_CHECKS)
    wait_until(lambda: graphql(url, RUN, id=run_id)["runOrError"]["status"] in TERMINAL, "catalog run", 180, dev, log)
    assert graphql(url, RUN, id=run_id)["runOrError"]["status"] == "SUCCESS"
    catalog = checks_by_name(asset_view(url, "pi_tag_catalog"))
    for name in CATALOG_CHECKS:
        assert catalog[name]["executionForLatestMaterialization"]["status"] == "SUCCEEDED", catalog[name]
    print(f"catalog loaded {time.monotonic() - began:.1f}s")

    launched = graphql(
        url,
        LAUNCH_BACKFILL,
        params={
            "partitionNames": HOURS,
            "assetSelection": [{"path": ["pi_timeseries"]}],
            "runConfigData": IN_PROCESS,
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    def backfill_done() -> bool:
        status = graphql(url, BACKFILL, id=backfill_id)["partitionBackfillOrError"]["status"]
        runs = graphql(url, BACKFILL_RUNS, id=backfill_id)["runsOrError"]["results"]
        return status not in ("REQUESTED", "CANCELING", "FAILING") and all(run["status"] in TERMINAL for run in runs)

    wait_until(backfill_done, f"backfill {backfill_id}", 240, dev, log)
    runs = graphql(url, BACKFILL_RUNS, id=backfill_id)["runsOrError"]["results"]
    assert [run["status"] for run in runs] == ["SUCCESS"]  # a selected range is one run (the default policy)
    assert graphql(url, BACKFILL, id=backfill_id)["partitionBackfillOrError"]["status"] == "COMPLETED_SUCCESS"
    print(f"backfill done {time.monotonic() - began:.1f}s")

    view = asset_view(url, "pi_timeseries", HOURS)
    # Partition status: exactly the backfilled hours are materialised, as one range of the partition bar.
    assert view["partitionStats"] == {"numMaterialized": len(HOURS), "numFailed": 0, "numMaterializing": 0}
    ranges = view["assetPartitionStatuses"]["ranges"]
    assert [(r["startKey"], r["endKey"], r["status"]) for r in ranges] == [(HOURS[0], HOURS[-1], "MATERIALIZED")]

    # Each partition's row count equals the rows of its hour in the Delta table, and the mock's generator's.
    table = pl.read_delta(str(delta_root / "bronze" / "pi_timeseries"))
    in_table = {
        key: table.filter(pl.col("timestamp").is_between(*hour_window(key), closed="left")).height for key in HOURS
    }
    config = MockConfig(tags=TAGS, now=MOCK_NOW)
    assert in_table == {key: expected_timeseries(config, *hour_window(key)).height for key in HOURS}
    assert latest_partition_row_counts(view) == in_table
    assert len(set(in_table.values())) == len(HOURS)  # hours differ, so a copied count would show

    # The checks ran in the backfill and passed, for every hour (partitioned) or the latest load.
    checks = checks_by_name(view)
    assert checks["pi_timeseries_keys_unique"]["blocking"]
    for name in TIMESERIES_CHECKS:
        statuses = checks[name]["partitionStatuses"]["ranges"]
        assert [(r["startKey"], r["endKey"], r["status"]) for r in statuses] == [(HOURS[0], HOURS[-1], "SUCCEEDED")]
    schema_check = checks["column_schema_change"]["executionForLatestMaterialization"]
    assert schema_check["status"] == "SUCCEEDED" and schema_check["evaluation"]["success"]

    # The daemon evaluates the freshness policy: just loaded, so fresh.
    wait_until(
        lambda: asset_view(url, "pi_timeseries")["freshnessStatusInfo"]["freshnessStatus"] == "HEALTHY",
        "pi_timeseries freshness HEALTHY",
        60,
        dev,
        log,
    )
    print(f"checked {time.monotonic() - began:.1f}s at {datetime.now():%H:%M:%S}")
