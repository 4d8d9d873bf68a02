"""``osipi-demo``: the platform against the embedded mock PI Web API, no PI server needed.

    osipi-demo               # mock PI Web API + the Dagster UI on http://127.0.0.1:3000
    osipi-demo --headless    # mock + materialise the catalog and the latest hours, print a summary

State lives under ``--home`` (default ``.osipi/``): the Delta tables (``delta/``) and the Dagster
instance (``dagster_home/``), so what the headless run loaded shows up in the UI afterwards.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mock_pi.process import running_mock
from osipi_dagster.settings import SettingsError, get_settings

# Dagster instance settings for the demo: cap concurrent runs hitting PI (the assets' pool).
DAGSTER_YAML = """\
concurrency:
  pools:
    default_limit: 2
telemetry:
  enabled: false
"""
# The code location as the repository's workspace.yaml names it: sensor cursors and automation history are
# kept per location name, so `osipi-demo` and `dagster dev` (workspace.yaml) share them.
LOCATION_NAME = "osipi_dagster"
WORKSPACE_YAML = f"""\
load_from:
  - python_module:
      module_name: osipi_dagster.definitions
      location_name: {LOCATION_NAME}
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="osipi-demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--headless", action="store_true", help="materialise and print a summary, no UI")
    parser.add_argument("--tags", type=int, default=500, help="tags in the mock plant (default 500)")
    parser.add_argument("--hours", type=int, default=3, help="--headless: latest hourly partitions to load")
    parser.add_argument("--home", default=".osipi", help="folder for Delta tables and the Dagster instance")
    parser.add_argument(
        "--new-tags", type=int, default=50, help="tags added to the mock plant while it runs (default 50; 0: none)"
    )
    parser.add_argument(
        "--new-tags-after",
        type=float,
        default=10,
        metavar="MINUTES",
        help="when they appear, minutes after the start (default 10): pi_new_tags_sensor then loads them",
    )
    parser.add_argument("--mock-port", type=int, default=8010)
    parser.add_argument("--ui-port", type=int, default=3000)
    return parser


def mock_arguments(args: argparse.Namespace, now: datetime) -> list[str]:
    """The mock's command line: the plant, and the tags it gains at run time (a plant expansion)."""
    arguments = ["--tags", str(args.tags)]
    if args.new_tags > 0:
        appear = now + timedelta(minutes=args.new_tags_after)
        arguments += ["--expansion", f"{appear.isoformat()}={args.new_tags}"]
    return arguments


def add_tags_command(mock_url: str, count: int = 20) -> str:
    """The ``curl`` that adds ``count`` tags to the running mock (``POST /admin/tags``, see mock_pi/README.md)."""
    return f"curl -X POST {mock_url.removesuffix('/piwebapi')}/admin/tags -d '{{\"count\": {count}}}'"


def _prepare_environment(home: Path, mock_url: str) -> None:
    """Point the code location at the mock and the local folders (read by osipi_dagster.resources)."""
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    (dagster_home / "workspace.yaml").write_text(WORKSPACE_YAML)
    os.environ["PI_WEB_API_URL"] = mock_url
    os.environ.setdefault("OSIPI_DELTA_ROOT", str(home / "delta"))
    os.environ["DAGSTER_HOME"] = str(dagster_home)


def run_headless(hours: int) -> dict:
    """Materialise the catalog and the latest ``hours`` hourly partitions; return a summary."""
    import polars as pl
    from dagster import DagsterInstance, materialize

    from osipi_dagster.assets import pi_tag_catalog, pi_timeseries
    from osipi_dagster.partitions import hourly_partitions
    from osipi_dagster.resources import delta_root, resources_from_env

    resources = resources_from_env()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    keys = hourly_partitions.get_partition_keys()[-hours:]
    began = time.perf_counter()
    with DagsterInstance.get() as instance:
        if not materialize([pi_tag_catalog], resources=resources, instance=instance, run_config=quiet).success:
            raise SystemExit("pi_tag_catalog failed")
        for key in keys:
            t0 = time.perf_counter()
            result = materialize(
                [pi_tag_catalog, pi_timeseries],
                selection=[pi_timeseries],
                partition_key=key,
                resources=resources,
                instance=instance,
                run_config=quiet,
            )
            if not result.success:
                raise SystemExit(f"pi_timeseries {key} failed")
            metadata = result.asset_materializations_for_node("pi_timeseries")[0].metadata
            rows = metadata["dagster/partition_row_count"].value
            print(f"  pi_timeseries {key}: {rows:,} rows in {time.perf_counter() - t0:.1f}s", flush=True)
    root = delta_root()
    table = pl.read_delta(f"{root}/bronze/pi_timeseries")
    return {
        "tags": pl.read_delta(f"{root}/bronze/pi_tag_catalog").height,
        "partitions": keys,
        "rows": table.height,
        "seconds": round(time.perf_counter() - began, 1),
        "delta_root": root,
    }


def run_ui(ui_port: int, workspace: Path) -> None:
    """``dagster dev`` on 127.0.0.1 until Ctrl-C or SIGTERM.

    It runs in a process group of its own so that stopping it stops its webserver, daemon and code
    server children too (``dagster dev`` leaves them behind when it is killed alone).
    """
    ui = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-w",
            str(workspace),
            "-h",
            "127.0.0.1",
            "-p",
            str(ui_port),
        ],
        start_new_session=True,
    )
    print(f"Dagster UI: http://127.0.0.1:{ui_port}  (Ctrl-C stops the UI and the mock)", flush=True)
    try:
        ui.wait()
    except KeyboardInterrupt:
        pass
    finally:
        _stop_group(ui)


def _stop_group(process: subprocess.Popen, timeout: float = 20.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
            time.sleep(1.0)  # let the group's other members exit after their parent
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(process.pid, signal.SIGKILL)  # stragglers of the group
    except ProcessLookupError:
        pass


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    # `kill` (SIGTERM) must stop the UI and the mock too: exit through the `finally` blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    home = Path(args.home).resolve()
    print(f"Starting the mock PI Web API ({args.tags} tags) on 127.0.0.1:{args.mock_port} …", flush=True)
    now = datetime.now(UTC)
    with running_mock(*mock_arguments(args, now), port=args.mock_port) as mock:
        _prepare_environment(home, mock.url)
        try:
            config = get_settings()  # a wrong variable stops here, before the UI starts
        except SettingsError as exc:
            raise SystemExit(str(exc)) from None
        print(f"PI Web API: {mock.url}\nDelta tables: {config.delta_root_uri}", flush=True)
        if args.new_tags > 0 and not args.headless:
            appear = now + timedelta(minutes=args.new_tags_after)
            print(
                f"{args.new_tags} new tags appear in the mock PI at {appear:%H:%M} UTC: pi_new_tags_sensor "
                "(Automation) then loads the catalog and their last hours.",
                flush=True,
            )
        if args.headless:
            summary = run_headless(args.hours)
            print(
                f"Loaded {summary['rows']:,} rows for {summary['tags']:,} tags over "
                f"{len(summary['partitions'])} hour(s) in {summary['seconds']}s → {summary['delta_root']}"
            )
        else:
            print(f"Add tags any time (pi_new_tags_sensor notices them within 5 minutes): {add_tags_command(mock.url)}")
            run_ui(args.ui_port, home / "dagster_home" / "workspace.yaml")


if __name__ == "__main__":
    main()
