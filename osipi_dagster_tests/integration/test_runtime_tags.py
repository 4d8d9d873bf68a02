"""The demo's story: tags added to the running mock (``POST /admin/tags``, the ``curl`` that ``osipi-demo`` prints)
are found by ``pi_new_tags_sensor`` on its next tick, which requests a run loading exactly those tags."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context, materialize

from mock_pi.config import Expansion
from mock_pi.process import running_mock
from mock_pi.universe import Universe
from osipi_dagster.assets import pi_tag_catalog, pi_timeseries
from osipi_dagster.resources import build_resources
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.sensors import new_tags
from osipi_dagster_tests.helpers import MOCK_CONFIG, MOCK_NOW, hour_key

pytestmark = pytest.mark.integration  # runs the mock server process

ADDED = 7
LAST_HOUR = hour_key(MOCK_NOW - timedelta(hours=1))


def test_sensor_finds_tags_added_at_run_time(tmp_path, monkeypatch):
    monkeypatch.setattr(new_tags, "LOOKBACK_HOURS", 1)
    with (
        running_mock("--tags", str(MOCK_CONFIG.tags), "--now", MOCK_NOW.isoformat()) as mock,
        DagsterInstance.ephemeral() as instance,
    ):
        resources = build_resources(PIWebAPIResource(base_url=mock.url), str(tmp_path))
        assert materialize(
            [pi_tag_catalog, pi_timeseries], partition_key=LAST_HOUR, resources=resources, instance=instance
        ).success
        with build_sensor_context(instance=instance, resources=resources) as context:
            first = new_tags.pi_new_tags_sensor(context)
        assert isinstance(first, SensorResult) and not first.run_requests

        httpx.post(mock.url.removesuffix("/piwebapi") + "/admin/tags", json={"count": ADDED}).raise_for_status()
        with build_sensor_context(instance=instance, resources=resources, cursor=first.cursor) as context:
            second = new_tags.pi_new_tags_sensor(context)

    expected = Universe(replace(MOCK_CONFIG, expansions=(Expansion(MOCK_NOW, ADDED),))).tags[MOCK_CONFIG.tags :]
    (request,) = second.run_requests
    assert request.tags["osipi/reason"].startswith(f"{ADDED} new and 0 removed points")
    assert set(request.asset_selection) == {pi_tag_catalog.key, pi_timeseries.key}
    assert request.tags["osipi/only_tags"].split() == sorted(t.webid for t in expected)
