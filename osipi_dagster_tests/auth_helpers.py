"""What the authentication tests share: a small universe, and one exact catalog + hour load through a resource."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from dagster import DagsterInstance, materialize

from mock_pi.config import MockConfig
from osipi_dagster.assets import pi_tag_catalog, pi_timeseries
from osipi_dagster.resources import build_resources
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster_tests.expected import comparable, expected_timeseries
from osipi_dagster_tests.helpers import hour_window

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TAGS = 60
CONFIG = MockConfig(tags=TAGS, now=NOW)
HOUR = "2026-11-20-10:00"
MOCK_ARGS = ("--tags", str(TAGS), "--now", NOW.isoformat())


def materialise_catalog_and_hour(resource: PIWebAPIResource, root) -> tuple[pl.DataFrame, list[str]]:
    """Materialise the catalog and one hour through ``resource``, check the hour equals the generator's
    rows exactly, and return the table and every Dagster event-log message (for secret checks)."""
    resources = build_resources(resource, str(root))
    with DagsterInstance.ephemeral() as instance:
        assert materialize([pi_tag_catalog], resources=resources, instance=instance).success
        result = materialize(
            [pi_tag_catalog, pi_timeseries],
            selection=[pi_timeseries],
            partition_key=HOUR,
            resources=resources,
            instance=instance,
        )
        assert result.success
        events = [
            str(e.message) + repr(e.dagster_event) for run in instance.get_runs() for e in instance.all_logs(run.run_id)
        ]
    table = pl.read_delta(str(root / "bronze" / "pi_timeseries"))
    start, end = hour_window(HOUR)
    expected = expected_timeseries(CONFIG, start, end)
    assert table.height == expected.height > TAGS * 10
    assert comparable(table).equals(comparable(expected))
    return table, events


def assert_no_secret(texts: list[str], *secrets: str) -> None:
    for secret in secrets:
        assert not any(secret in text for text in texts), "a secret reached a log"
