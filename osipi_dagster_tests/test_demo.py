"""``osipi-demo``'s code location: the same name as the repository's workspace.yaml."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from mock_pi.__main__ import build_parser, config_from_args
from osipi_dagster import demo

REPOSITORY = Path(__file__).resolve().parents[1]


def _locations(text: str) -> list[dict]:
    return [entry["python_module"] for entry in yaml.safe_load(text)["load_from"]]


def test_the_demo_and_workspace_yaml_name_one_code_location_alike(tmp_path, monkeypatch):
    for variable in ("PI_WEB_API_URL", "OSIPI_DELTA_ROOT", "DAGSTER_HOME"):  # restored after the test
        monkeypatch.delenv(variable, raising=False)
    demo._prepare_environment(tmp_path, "http://127.0.0.1:1/piwebapi")
    [written] = _locations((tmp_path / "dagster_home" / "workspace.yaml").read_text())
    [repository] = _locations((REPOSITORY / "workspace.yaml").read_text())
    assert (written["location_name"], written["module_name"]) == (
        repository["location_name"],
        repository["module_name"],
    )


@pytest.mark.integration  # a Python process of its own, so that nothing was imported (or warned) before
def test_loading_the_definitions_prints_no_warning():
    loaded = subprocess.run(
        [sys.executable, "-W", "always", "-c", "import osipi_dagster.definitions"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Warning" not in loaded.stderr, loaded.stderr


def mock_config(arguments: list[str]):
    """The configuration the mock would run with, read by the mock's own command line parser."""
    return config_from_args(build_parser().parse_args(arguments))


def test_the_demo_plant_gains_tags_while_it_runs():
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    arguments = demo.mock_arguments(demo._parser().parse_args(["--new-tags", "7", "--new-tags-after", "3"]), now)
    config = mock_config(arguments)
    assert config.tags == 500
    assert [(e.at, e.tags) for e in config.expansions] == [(now + timedelta(minutes=3), 7)]
    assert mock_config(demo.mock_arguments(demo._parser().parse_args(["--new-tags", "0"]), now)).expansions == ()
