"""No secret is stored or printed: real runs through the ``dagster`` CLI against a mock that requires Basic
auth (and one that requires a Bearer token), good and failing, then every file of ``DAGSTER_HOME`` (SQLite
event log, compute logs), the Delta root (``_delta_log`` included), stdout and stderr are searched for each
secret and for the Basic header's base64 value.

Passwords and tokens look like secrets (``S3cr3t-Pa55``), so a hit cannot be a coincidence."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import httpx
import polars as pl
import pytest

from mock_pi.config import MockConfig
from mock_pi.process import running_mock
from mock_pi.universe import Universe
from osipi_dagster.settings import variables
from osipi_dagster_tests.expected import comparable, expected_timeseries
from osipi_dagster_tests.helpers import MOCK_NOW, hour_window

pytestmark = pytest.mark.integration  # every test here runs the mock server and Dagster CLI processes

TAGS = 40
CONFIG = MockConfig(tags=TAGS, now=MOCK_NOW)
PARTITION = "2026-11-20-10:00"
USERNAME = "svc-osipi"
PASSWORD = "S3cr3t-Pa55"
WRONG_PASSWORD = "Wr0ng-Pa55-7q"
TOKEN = "tok-9F8e7D6c5B4a"
WRONG_TOKEN = "tok-Wr0ng-3X1p"
DAGSTER_YAML = "telemetry:\n  enabled: false\n"


def basic_value(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


SECRETS = [
    PASSWORD,
    WRONG_PASSWORD,
    TOKEN,
    WRONG_TOKEN,
    basic_value(USERNAME, PASSWORD),
    basic_value(USERNAME, WRONG_PASSWORD),
]


class Workspace:
    """A fresh ``DAGSTER_HOME`` and Delta root; runs the CLI there and keeps everything it printed."""

    def __init__(self, root: Path):
        self.home = root / "dagster_home"
        self.delta = root / "delta"
        self.home.mkdir()
        (self.home / "dagster.yaml").write_text(DAGSTER_YAML)
        self.outputs: list[str] = []

    def materialize(self, environ: dict, *selection: str) -> subprocess.CompletedProcess:
        base = {k: v for k, v in os.environ.items() if k not in variables()}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "dagster",
                "asset",
                "materialize",
                "-m",
                "osipi_dagster.definitions",
                "--select",
                *selection,
            ],
            env={**base, **environ, "DAGSTER_HOME": str(self.home), "OSIPI_DELTA_ROOT": str(self.delta)},
            cwd=self.home.parent,
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.outputs += [done.stdout, done.stderr]
        return done

    def stored_files(self) -> list[Path]:
        return [p for root in (self.home, self.delta) if root.exists() for p in root.rglob("*") if p.is_file()]

    def hits(self, needle: str) -> list[str]:
        """Where ``needle`` occurs: stored files (bytes, so SQLite pages count too) and printed output."""
        found = [str(p) for p in self.stored_files() if needle.encode() in p.read_bytes()]
        return found + [f"output {i}" for i, text in enumerate(self.outputs) if needle in text]


@pytest.fixture(scope="module")
def basic_mock():
    with running_mock(
        "--tags", str(TAGS), "--now", MOCK_NOW.isoformat(), "--username", USERNAME, "--password", PASSWORD
    ) as server:
        yield server.url


@pytest.fixture(scope="module")
def token_mock():
    with running_mock("--tags", str(TAGS), "--now", MOCK_NOW.isoformat(), "--token", TOKEN) as server:
        yield server.url


def assert_no_secret(workspace: Workspace) -> None:
    for secret in SECRETS:
        assert workspace.hits(secret) == [], f"a secret ({secret[:3]}…) was stored or printed"


def test_basic_auth_runs_store_and_print_no_secret(basic_mock, tmp_path):
    workspace = Workspace(tmp_path)
    good = {"PI_WEB_API_URL": basic_mock, "PI_WEB_API_USERNAME": USERNAME, "PI_WEB_API_PASSWORD": PASSWORD}

    catalog = workspace.materialize(good, "pi_tag_catalog")
    assert catalog.returncode == 0, catalog.stderr[-3000:]
    hour = workspace.materialize(good, "pi_timeseries", "--partition", PARTITION)
    assert hour.returncode == 0, hour.stderr[-3000:]
    wrong = workspace.materialize({**good, "PI_WEB_API_PASSWORD": WRONG_PASSWORD}, "pi_tag_catalog")
    assert wrong.returncode != 0 and "401" in wrong.stdout + wrong.stderr
    in_url = workspace.materialize(
        {"PI_WEB_API_URL": basic_mock.replace("http://", f"http://{USERNAME}:{PASSWORD}@")}, "pi_tag_catalog"
    )
    assert in_url.returncode != 0
    assert "PI_WEB_API_URL must not contain credentials" in in_url.stderr
    assert "PI_WEB_API_USERNAME" in in_url.stderr and "PI_WEB_API_PASSWORD" in in_url.stderr

    # The good runs landed what the mock defines.
    universe = Universe(CONFIG)
    catalog_table = pl.read_delta(str(workspace.delta / "bronze" / "pi_tag_catalog"))
    assert sorted(catalog_table["webid"]) == sorted(tag.webid for tag in universe.tags)
    start, end = hour_window(PARTITION)
    table = pl.read_delta(str(workspace.delta / "bronze" / "pi_timeseries"))
    expected = expected_timeseries(CONFIG, start, end, universe=universe)
    assert comparable(table).equals(comparable(expected))

    # The search looks where Dagster keeps runs: the event log holds the URL and the failure's status.
    assert any(p.suffix == ".db" for p in workspace.stored_files())
    assert any(".db" in hit for hit in workspace.hits(basic_mock.removesuffix("/piwebapi")))
    assert any(".db" in hit for hit in workspace.hits("401"))
    assert any("_delta_log" in str(p) for p in workspace.stored_files())
    assert_no_secret(workspace)


def test_bearer_token_runs_store_and_print_no_secret(token_mock, tmp_path):
    workspace = Workspace(tmp_path)
    good = {"PI_WEB_API_URL": token_mock, "PI_WEB_API_TOKEN": TOKEN}

    catalog = workspace.materialize(good, "pi_tag_catalog")
    assert catalog.returncode == 0, catalog.stderr[-3000:]
    wrong = workspace.materialize({**good, "PI_WEB_API_TOKEN": WRONG_TOKEN}, "pi_tag_catalog")
    assert wrong.returncode != 0 and "401" in wrong.stdout + wrong.stderr

    assert pl.read_delta(str(workspace.delta / "bronze" / "pi_tag_catalog")).height == len(Universe(CONFIG).tags)
    assert any(".db" in hit for hit in workspace.hits("401"))
    assert_no_secret(workspace)


CLIENT_ID = "osipi-client"
CLIENT_SECRET = "cl1ent-S3cr3t-Zx"
WRONG_CLIENT_SECRET = "cl1ent-Wr0ng-Qy"
# Every token the mock issues to CLIENT_ID starts with this (base64 of its first JSON bytes, see mock_pi/auth.py).
_PAYLOAD_START = f'{{"sub":"{CLIENT_ID}","exp":'.encode()
ISSUED_TOKEN_PREFIX = base64.urlsafe_b64encode(_PAYLOAD_START[: len(_PAYLOAD_START) // 3 * 3]).decode()


def test_oidc_client_credentials_runs_store_and_print_no_secret_nor_token(tmp_path):
    with running_mock(
        "--tags",
        str(TAGS),
        "--now",
        MOCK_NOW.isoformat(),
        "--auth",
        "bearer",
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        CLIENT_SECRET,
    ) as server:
        workspace = Workspace(tmp_path)
        good = {
            "PI_WEB_API_URL": server.url,
            "PI_WEB_API_CLIENT_ID": CLIENT_ID,
            "PI_WEB_API_CLIENT_SECRET": CLIENT_SECRET,
            "PI_WEB_API_TOKEN_URL": server.url.removesuffix("/piwebapi") + "/identity/connect/token",
        }
        catalog = workspace.materialize(good, "pi_tag_catalog")
        assert catalog.returncode == 0, catalog.stderr[-3000:]
        wrong = workspace.materialize({**good, "PI_WEB_API_CLIENT_SECRET": WRONG_CLIENT_SECRET}, "pi_tag_catalog")
        assert wrong.returncode != 0 and "invalid_client" in wrong.stdout + wrong.stderr
        issued = httpx.post(
            good["PI_WEB_API_TOKEN_URL"],
            data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        )
    assert issued.json()["access_token"].startswith(ISSUED_TOKEN_PREFIX)  # the needle below is the right one
    assert pl.read_delta(str(workspace.delta / "bronze" / "pi_tag_catalog")).height == len(Universe(CONFIG).tags)
    assert_no_secret(workspace)
    for needle in (CLIENT_SECRET, WRONG_CLIENT_SECRET, ISSUED_TOKEN_PREFIX):
        assert workspace.hits(needle) == [], f"a secret or token ({needle[:3]}…) was stored or printed"
