"""Every fault kind the mock can inject, at a few percent, while ``pi_timeseries`` loads 1,000 tags × 6 hours
through the real asset and Delta IO manager: the table must hold exactly the fault-free truth.

Also: a permanent failure ends the run at once (no step retries), and a reversed range is refused up front.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from dagster import DagsterInstance, materialize

from mock_pi.config import MockConfig
from mock_pi.process import running_mock
from osipi_dagster.assets import pi_tag_catalog, pi_timeseries
from osipi_dagster.resources import build_resources
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster_tests.expected import comparable, expected_timeseries
from osipi_dagster_tests.helpers import MockFaults, hour_key, range_tags

pytestmark = pytest.mark.integration  # every test here runs the mock server process

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
CONFIG = MockConfig(tags=1_000, now=NOW)
FIRST, LAST = NOW - timedelta(hours=6), NOW - timedelta(hours=1)
# A few percent of everything that can go wrong between us and PI (the mock counts each injection).
FAULT_MIX = {
    "rate_429": 0.02,
    "rate_503": 0.02,
    "retry_after_s": 0,
    "malformed_rate": 0.02,
    "truncated_rate": 0.02,
    "webexception_rate": 0.02,
    "item_webexception_rate": 0.02,
    "item_errors_rate": 0.01,
    "batch_item_rate": 0.02,
    "hang_rate": 0.01,
    "hang_seconds": 5,
    "latency_ms": 1,
    "latency_jitter_ms": 3,
}


def failures(result) -> str:
    return " ".join(
        e.event_specific_data.error.to_string() for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    )


@pytest.fixture(scope="module")
def big_mock():
    with running_mock("--tags", str(CONFIG.tags), "--now", NOW.isoformat()) as server:
        yield server.url


def resources(url: str, root, transport: str) -> dict:
    # A 2-second read timeout: a hung response costs seconds, not a minute (the mock hangs for 5 s).
    pi = PIWebAPIResource(base_url=url, transport=transport, timeout_seconds=2.0)
    return build_resources(pi, str(root))


def run(resources: dict, tags: dict | None = None, catalog: bool = True):
    with DagsterInstance.ephemeral() as instance:
        return materialize(
            [pi_tag_catalog, pi_timeseries],
            selection=[pi_tag_catalog, pi_timeseries] if catalog else [pi_timeseries],
            resources=resources,
            instance=instance,
            raise_on_error=False,
            tags=tags or range_tags(hour_key(FIRST), hour_key(LAST)),
        )


@pytest.mark.parametrize("transport", ["streamsets", "batch"])
def test_a_range_loaded_under_every_fault_kind_is_exact(big_mock, tmp_path, transport):
    import polars as pl

    faults = MockFaults(big_mock)
    assert run(resources(big_mock, tmp_path, transport)).success  # the catalog, without faults
    faults.set(**FAULT_MIX, path_regex="/streamsets/|/streams/|/batch")
    try:
        result = run(resources(big_mock, tmp_path, transport), catalog=False)
        counters = faults.counters()
    finally:
        faults.set()
    assert result.success, failures(result)
    table = pl.read_delta(str(tmp_path / "bronze" / "pi_timeseries"))
    expected = expected_timeseries(CONFIG, FIRST, LAST + timedelta(hours=1))
    assert table.height == expected.height > 1_000 * 6 * 30
    assert comparable(table).equals(comparable(expected))
    injected = {kind: n for kind, n in counters.items() if kind != "latency" and n}
    print(f"{transport}: {table.height:,} rows exact under injected faults {injected}")
    # The transport decides which kinds can occur (no sub-responses in stream sets); several must have.
    assert len(injected) >= 5


def test_wrong_credentials_fail_at_once_without_step_retries(tmp_path):
    with running_mock(
        "--tags", "20", "--now", NOW.isoformat(), "--username", "piuser", "--password", "right"
    ) as server:
        pi = PIWebAPIResource(base_url=server.url, auth="basic", username="piuser", password="wrong")
        began = time.monotonic()
        result = run(build_resources(pi, str(tmp_path)))
    assert not result.success
    assert time.monotonic() - began < 15  # the asset's step retry policy waits 10 s and more per retry
    assert "PI Web API refused the credentials (HTTP 401)" in failures(result)


def test_a_reversed_range_is_refused_up_front(big_mock, tmp_path):
    assert run(resources(big_mock, tmp_path, "streamsets"), tags={"dagster/partition": hour_key(FIRST)}).success
    began = time.monotonic()
    result = run(
        resources(big_mock, tmp_path, "streamsets"), catalog=False, tags=range_tags(hour_key(LAST), hour_key(FIRST))
    )
    assert not result.success
    assert time.monotonic() - began < 8
    assert "is reversed: give the earlier hour first" in failures(result)


# -- exactness at PI's limits: awkward names and descriptors, dense tags ---------------------------------

LIMITS_CONFIG = MockConfig(tags=40, awkward_tags=26, dense_tags=2, now=NOW)


@pytest.fixture(scope="module")
def limits_mock():
    with running_mock(
        "--tags",
        str(LIMITS_CONFIG.tags),
        "--awkward-tags",
        str(LIMITS_CONFIG.awkward_tags),
        "--dense-tags",
        str(LIMITS_CONFIG.dense_tags),
        "--now",
        NOW.isoformat(),
    ) as server:
        yield server.url


@pytest.mark.parametrize("transport", ["streamsets", "batch"])
def test_awkward_names_and_dense_tags_land_exactly(limits_mock, tmp_path, transport):
    """Names with unicode, symbols and 1,000 characters, descriptors with quotes, backslashes and newlines,
    and tags with > 150,000 values an hour in bursts sharing one timestamp: catalog and values exact."""
    import polars as pl

    from mock_pi.universe import Universe

    hour = NOW - timedelta(hours=2)
    assert run(resources(limits_mock, tmp_path, transport), tags={"dagster/partition": hour_key(hour)}).success
    catalog = pl.read_delta(str(tmp_path / "bronze" / "pi_tag_catalog"))
    universe = Universe(LIMITS_CONFIG)
    awkward = [t for t in universe.tags if t.custom_descriptor is not None]
    assert len(awkward) == LIMITS_CONFIG.awkward_tags + LIMITS_CONFIG.dense_tags
    listed = dict(catalog.select("webid", "name").iter_rows())
    assert {t.webid: t.name for t in universe.tags} == listed
    descriptors = dict(catalog.select("webid", "descriptor").iter_rows())
    assert all(descriptors[t.webid] == t.custom_descriptor for t in awkward)

    table = pl.read_delta(str(tmp_path / "bronze" / "pi_timeseries"))
    expected = expected_timeseries(LIMITS_CONFIG, hour, hour + timedelta(hours=1))
    dense = expected.filter(pl.col("tag_name").str.starts_with("HSDA.DENSE"))
    assert dense.height > 2 * 150_000 and dense.group_by("tag_webid", "timestamp").len()["len"].max() > 1
    assert comparable(table).equals(comparable(expected))
