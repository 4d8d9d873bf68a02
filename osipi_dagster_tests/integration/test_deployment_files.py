"""What can be checked of the deployment files without a cluster: the instance config, the Helm values against
the official chart's values schema, the Dockerfile against the package, and the wheel in a fresh venv."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config, dagster_instance_config_schema

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
CHART_KEYS = json.loads((Path(__file__).parents[1] / "data" / "dagster_helm_values_keys.json").read_text())
PG_ENV = {
    "DAGSTER_PG_HOST": "db",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "secret",
}


@pytest.fixture(scope="module")
def helm_values() -> dict:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())


def unknown_keys(value, definition: str | None, path: str = "") -> list[str]:
    """Keys of ``value`` the chart's schema does not have, recursively (lists: every item)."""
    if definition is None:
        return []
    if isinstance(value, list):
        return [key for n, item in enumerate(value) for key in unknown_keys(item, definition, f"{path}[{n}]")]
    if not isinstance(value, dict):
        return []
    allowed = CHART_KEYS["definitions"][definition]
    found = []
    for key, child in value.items():
        if key not in allowed:
            found.append(f"{path}.{key}".lstrip("."))
        else:
            found += unknown_keys(child, allowed[key], f"{path}.{key}")
    return found


def test_instance_config_is_valid_dagster_config(tmp_path, monkeypatch):
    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert config["concurrency"]["pools"]["granularity"] == "run"
    assert config["run_retries"]["enabled"]
    raw = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())["storage"]["postgres"]["postgres_db"]
    assert all(isinstance(value, dict) and set(value) == {"env"} for key, value in raw.items() if key != "scheme")


def test_helm_values_use_only_keys_of_the_chart_schema(helm_values):
    assert unknown_keys(helm_values, CHART_KEYS["root"]) == []


def test_unknown_helm_key_is_reported():
    assert unknown_keys({"dagsterDaemon": {"runRetries": {"maxRetrys": 2}}}, "HelmValues") == [
        "dagsterDaemon.runRetries.maxRetrys"
    ]


def test_helm_values_agree_with_the_project(helm_values):
    deployment = helm_values["dagster-user-deployments"]["deployments"][0]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", PYPROJECT["tool"]["dagster"]["module_name"]]
    assert helm_values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    assert helm_values["runLauncher"]["type"] == "K8sRunLauncher"
    # Dagster itself validates the instance settings the chart passes through unchanged.
    instance = {
        "storage": {"postgres": {"postgres_url": "postgresql+psycopg2://u@h/d"}},
        **helm_values["additionalInstanceConfig"],
    }
    assert process_config(dagster_instance_config_schema(), instance).success
    queued = helm_values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert "maxConcurrentRuns" not in queued  # Dagster refuses it together with concurrency.runs


def test_dockerfile_builds_this_package():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, flags=re.M))
    packages = {name.rstrip("*") for name in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert copied == packages
    extra = re.search(r"osipi_dagster-\*\.whl\)\[(\w+)\]", dockerfile).group(1)
    assert extra in PYPROJECT["project"]["optional-dependencies"]
    assert PYPROJECT["tool"]["dagster"]["module_name"] in dockerfile


@pytest.mark.integration
def test_wheel_installs_and_loads_in_a_fresh_venv(tmp_path):
    """What the image's build stage does: build the wheel, install it (with [postgres]) in a new venv, load it."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(wheels), str(REPO)],
        check=True,
        capture_output=True,
    )
    wheel = next(wheels.glob("osipi_dagster-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert not [name for name in names if name.startswith("osipi_dagster_tests/")]
    assert [name for name in names if re.fullmatch(r"osipi_dagster/pi/_stream_set\..*\.so", name)]  # compiled
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", f"{wheel}[postgres]"], capture_output=True, text=True
    )
    assert install.returncode == 0, install.stderr[-3000:]
    probe = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import dagster_postgres, mock_pi.app; from osipi_dagster.definitions import defs; "
            "from osipi_dagster.pi import _stream_set; "
            "import json; print(json.dumps([k.to_user_string() for k in defs.resolve_all_asset_keys()]))",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )  # not the repository: only the installed package
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert {"pi_tag_catalog", "pi_timeseries", "pi_metrics_hourly"} <= set(json.loads(probe.stdout))
