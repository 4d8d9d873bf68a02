"""The production stack for real: deploy/dagster.yaml on a PostgreSQL server, dagster-webserver and dagster-daemon
as processes, a backfill of 24 hourly partitions submitted through GraphQL and executed by the daemon as several
concurrent runs (BackfillPolicy.multi_run) within the pi_web_api pool; then the Delta table is exact against the
mock's generator and the runs are in PostgreSQL."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import yaml

from mock_pi.config import MockConfig
from mock_pi.process import running_mock
from osipi_dagster.transforms.timeseries import KEY
from osipi_dagster_tests.expected import comparable, expected_timeseries
from osipi_dagster_tests.graphql_api import BACKFILL_RUNS, LAUNCH_BACKFILL, TERMINAL, graphql, stop_sensors
from osipi_dagster_tests.helpers import MOCK_NOW
from osipi_dagster_tests.postgres import running_postgres
from osipi_dagster_tests.servers import free_port, http_ok, running, venv_tool, wait_until

REPO = Path(__file__).resolve().parents[2]
TAGS = 50
HOURS = 24
PARTITIONS_PER_RUN = 8  # OSIPI_BACKFILL_PARTITIONS_PER_RUN: 24 hours -> 3 runs, one more than the pool allows
FIRST_HOUR = datetime(2026, 11, 19, tzinfo=UTC)
FMT = "%Y-%m-%d-%H:%M"


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at one instant (a start at the same time as an end does not overlap it)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_now = most = 0
    for _, change in events:
        open_now += change
        most = max(most, open_now)
    return most


@pytest.fixture
def production_env(tmp_path):
    """PostgreSQL, the mock PI Web API and a DAGSTER_HOME holding exactly deploy/dagster.yaml."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    with running_postgres() as postgres, running_mock("--tags", str(TAGS), "--now", MOCK_NOW.isoformat()) as mock:
        yield (
            postgres,
            mock.url,
            {
                "DAGSTER_HOME": str(home),
                "DAGSTER_PG_HOST": postgres.host,
                "DAGSTER_PG_PORT": str(postgres.port),
                "DAGSTER_PG_DB": postgres.database,
                "DAGSTER_PG_USERNAME": postgres.user,
                "DAGSTER_PG_PASSWORD": "unused-trust-auth",
                "PI_WEB_API_URL": mock.url,
                "OSIPI_DELTA_ROOT": str(tmp_path / "delta"),
                "OSIPI_PARTITIONS_START": (FIRST_HOUR - timedelta(days=1)).strftime(FMT),
                "OSIPI_BACKFILL_PARTITIONS_PER_RUN": str(PARTITIONS_PER_RUN),
            },
            tmp_path,
        )


@pytest.mark.integration
def test_daemon_runs_a_backfill_as_concurrent_runs_on_postgres(production_env):
    postgres, _, env, tmp_path = production_env
    pool_limit = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())["concurrency"]["pools"]["default_limit"]
    began = time.monotonic()
    hours = [FIRST_HOUR + timedelta(hours=n) for n in range(HOURS)]

    # The catalog; this first CLI run also creates the instance's schema in PostgreSQL. The concurrent runs
    # below then create the pi_timeseries table among themselves (the Delta handler makes that safe).
    first = subprocess.run(
        [venv_tool("dagster"), "asset", "materialize", "-m", "osipi_dagster.definitions", "--select", "pi_tag_catalog"],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    # The documented deployment step: an explicit limit for the pool. With default_limit alone, Dagster 1.13.27
    # initialises the pool during its first queue pass and launches that pass's runs unchecked.
    subprocess.run(
        [venv_tool("dagster"), "instance", "concurrency", "set", "pi_web_api", str(pool_limit)],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    print(f"instance ready {time.monotonic() - began:.1f}s")

    web_port = free_port()
    url = f"http://127.0.0.1:{web_port}/graphql"
    with running(
        [venv_tool("dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(web_port)],
        tmp_path / "webserver.log",
        env=env,
        cwd=str(REPO),
    ) as webserver:
        wait_until(
            http_ok(f"http://127.0.0.1:{web_port}/server_info"),
            "dagster-webserver",
            120,
            webserver,
            tmp_path / "webserver.log",
        )
        print(f"webserver up {time.monotonic() - began:.1f}s")
        # Sensors start RUNNING by default; pause them (as an operator would) so only the backfill runs.
        assert stop_sensors(url) >= {"osipi_automation", "pi_new_tags_sensor"}

        launched = graphql(
            url,
            LAUNCH_BACKFILL,
            params={
                "partitionNames": [hour.strftime(FMT) for hour in hours],
                "assetSelection": [{"path": ["pi_timeseries"]}],
            },
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]

        expected_runs = math.ceil(HOURS / PARTITIONS_PER_RUN)
        with running(
            [venv_tool("dagster-daemon"), "run", "-w", "workspace.yaml"],
            tmp_path / "daemon.log",
            env=env,
            cwd=str(REPO),
        ) as daemon:

            def backfill_done() -> bool:
                runs = graphql(url, BACKFILL_RUNS, id=backfill_id)["runsOrError"]["results"]
                return len(runs) == expected_runs and all(run["status"] in TERMINAL for run in runs)

            # A hang guard: each run also starts a process per check step (three per run), slow on 2 busy cores.
            wait_until(backfill_done, f"backfill {backfill_id}", 400, daemon, tmp_path / "daemon.log")
            print(f"backfill done {time.monotonic() - began:.1f}s")

    # The run records, read from PostgreSQL itself.
    with postgres.connect() as connection, connection.cursor() as cursor:
        cursor.execute(
            """SELECT r.run_id, r.status, r.start_time, r.end_time, t.value FROM runs r
                          JOIN run_tags t ON t.run_id = r.run_id AND t.key = 'dagster/asset_partition_range_start'
                          WHERE r.run_id IN (SELECT run_id FROM run_tags WHERE key = 'dagster/backfill'
                                                                             AND value = %s)""",
            (backfill_id,),
        )
        runs = cursor.fetchall()
    assert len(runs) == expected_runs
    assert {status for _, status, *_ in runs} == {"SUCCESS"}, runs
    assert sorted(start for *_, start in runs) == [hours[n].strftime(FMT) for n in range(0, HOURS, PARTITIONS_PER_RUN)]
    overlap = max_overlap([(start, end) for _, _, start, end, _ in runs])
    assert 2 <= overlap <= pool_limit, f"{overlap} runs overlapped; pool pi_web_api allows {pool_limit}"

    table = pl.read_delta(str(tmp_path / "delta" / "bronze" / "pi_timeseries"))
    assert table.select(KEY).is_duplicated().sum() == 0
    expected = expected_timeseries(MockConfig(tags=TAGS, now=MOCK_NOW), FIRST_HOUR, hours[-1] + timedelta(hours=1))
    assert table.height == expected.height > 0
    assert comparable(table).equals(comparable(expected))


def test_max_overlap():
    assert max_overlap([(0, 10), (5, 15), (12, 20)]) == 2
    assert max_overlap([(0, 10), (10, 20)]) == 1
    assert max_overlap([(0, 10), (1, 9), (2, 8)]) == 3
