"""Helpers shared by the test modules (test modules never import from each other; they import from here,
from ``expected`` (the oracle) or take fixtures from ``conftest``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from dagster import DagsterInstance, materialize

from mock_pi.config import MockConfig
from osipi_dagster.assets import pi_af_attributes, pi_af_elements, pi_tag_catalog
from osipi_dagster.resources import build_resources
from osipi_dagster.resources.pi_web_api import PIWebAPIResource

# The frozen "now" of the shared mock: data exists up to this instant.
MOCK_NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MOCK_TAGS = 500
MOCK_CONFIG = MockConfig(tags=MOCK_TAGS, now=MOCK_NOW)

# Dagster's hourly partition keys (written out here rather than taken from the product's partitions).
HOUR_KEY_FORMAT = "%Y-%m-%d-%H:%M"


def hour_key(moment: datetime) -> str:
    """The hourly partition key of the hour starting at ``moment``."""
    return moment.strftime(HOUR_KEY_FORMAT)


def hour_window(key: str) -> tuple[datetime, datetime]:
    """The UTC ``[start, end)`` of an hourly partition key."""
    start = datetime.strptime(key, HOUR_KEY_FORMAT).replace(tzinfo=UTC)
    return start, start + timedelta(hours=1)


def range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags of one run over the partitions ``first..last`` (both included)."""
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def mock_args(config: MockConfig, now: datetime) -> list[str]:
    """``python -m mock_pi`` arguments serving ``config`` (tags, seed, late lag, expansions) frozen at ``now``."""
    args = [
        "--tags",
        str(config.tags),
        "--seed",
        str(config.seed),
        "--now",
        now.isoformat(),
        "--late-lag",
        str(config.late_lag_seconds),
    ]
    for expansion in config.expansions:
        args += ["--expansion", f"{expansion.at.isoformat()}={expansion.tags}"]
    return args


class MockFaults:
    """The mock's fault injection (``POST /admin/faults``), set per test and cleared afterwards."""

    def __init__(self, mock_url: str):
        self.url = mock_url.removesuffix("/piwebapi") + "/admin/faults"

    def set(self, **settings) -> None:
        httpx.post(self.url, json=settings).raise_for_status()

    def counters(self) -> dict:
        return self.state()["Counters"]

    def state(self) -> dict:
        """Settings, fault counters and ``Requests`` (every PI request served so far)."""
        return httpx.get(self.url).json()


def load_af(url: str, root, instance: DagsterInstance) -> dict:
    """Catalog and both AF tables from the mock at ``url`` into the Delta ``root``; returns the resources."""
    resources = build_resources(PIWebAPIResource(base_url=url), str(root))
    assert materialize(
        [pi_tag_catalog, pi_af_elements, pi_af_attributes], resources=resources, instance=instance
    ).success
    return resources


class RecordingTransport(httpx.HTTPTransport):
    """A real HTTP transport that remembers every request it sent."""

    def __init__(self):
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)
