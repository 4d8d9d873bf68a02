"""``osipi-demo``'s code location: the same name as the repository's workspace.yaml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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
