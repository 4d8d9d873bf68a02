"""``pi_summaries_hourly`` (PI's own hourly summaries) and the check that ``pi_metrics_hourly`` agrees with
it: a whole test day of a small mock plant as one range run, then a corrupted table that must fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from dagster import DagsterInstance, build_asset_check_context, materialize

from mock_pi import calc, signals, webid
from mock_pi.config import MockConfig
from mock_pi.process import running_mock
from mock_pi.universe import Universe
from osipi_dagster.assets import (
    pi_interpolated,
    pi_metrics_hourly,
    pi_metrics_match_pi_summaries,
    pi_summaries_hourly,
    pi_tag_catalog,
    pi_timeseries,
)
from osipi_dagster.pi.client import PIWebAPIClient
from osipi_dagster.pi.errors import PIStreamErrors
from osipi_dagster.pi.summaries import StreamSetReader
from osipi_dagster.resources import build_resources
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.transforms.metrics import disagreements

pytestmark = pytest.mark.integration  # every test here runs the mock server process

NOW = datetime(2026, 11, 21, 1, 30, tzinfo=UTC)
DAY = [datetime(2026, 11, 20, tzinfo=UTC) + timedelta(hours=h) for h in range(24)]
TAGS = 60
CONFIG = MockConfig(tags=TAGS, now=NOW)
ASSETS = [pi_tag_catalog, pi_timeseries, pi_metrics_hourly, pi_summaries_hourly, pi_metrics_match_pi_summaries]


@pytest.fixture(scope="module")
def server_url():
    with running_mock("--tags", str(TAGS), "--now", NOW.isoformat()) as server:
        yield server.url


@pytest.fixture(scope="module")
def day(server_url, tmp_path_factory):
    """The catalog, then the 24 hours of the test day as one range run of the hourly assets and the check."""
    root = tmp_path_factory.mktemp("delta")
    with DagsterInstance.ephemeral() as instance:
        resources = build_resources(PIWebAPIResource(base_url=server_url), str(root))
        assert materialize([pi_tag_catalog], resources=resources, instance=instance).success
        result = materialize(
            ASSETS,
            selection=ASSETS[1:],
            resources=resources,
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": DAY[0].strftime("%Y-%m-%d-%H:%M"),
                "dagster/asset_partition_range_end": DAY[-1].strftime("%Y-%m-%d-%H:%M"),
            },
        )
        assert result.success
        # The partitioned check: one evaluation per hour of the range, and the range's summary.
        evaluations = {e.partition: e for e in result.get_asset_check_evaluations()}
        assert set(evaluations) == {hour.strftime("%Y-%m-%d-%H:%M") for hour in DAY} | {None}
        assert all(e.passed for e in evaluations.values())
        assert {evaluations[hour.strftime("%Y-%m-%d-%H:%M")].metadata["tag_hours"].value for hour in DAY} == {TAGS}
        assert evaluations[None].metadata["partitions_checked"].value == 24
    return root


def read(root, layer: str, name: str) -> pl.DataFrame:
    return pl.read_delta(str(root / layer / name))


def test_summaries_are_pis_numbers(day):
    """Every active tag has 24 rows; the values are what the mock ("PI") computes by its rules."""
    table = read(day, "gold", "pi_summaries_hourly")
    universe = Universe(CONFIG)
    tags = universe.visible_tags(NOW.timestamp())
    assert table.height == len(tags) * 24 and table.select("hour", "tag_webid").is_duplicated().sum() == 0
    rows = {(r["tag_webid"], r["hour"]): r for r in table.iter_rows(named=True)}
    for tag in tags:
        numeric = tag.sensor.kind in ("analog", "counter")
        step = tag.sensor.kind in ("digital", "string")
        context = signals.recorded(tag, DAY[0].timestamp() - 86400, NOW.timestamp(), NOW.timestamp(), CONFIG.seed)
        for hour in DAY:
            a = hour.timestamp()
            tw = {
                v.type: v
                for v in calc.summarize(
                    context, a, a + 3600, ["Average", "PercentGood"], "TimeWeighted", numeric, step, 24
                )
            }
            events = context.take((context.ts >= a) & (context.ts < a + 3600))
            row = rows[(tag.webid, hour)]
            assert row["count"] == len(events)
            assert row["tw_average"] == tw["Average"].value
            assert row["tw_percent_good"] == tw["PercentGood"].value
            assert ("tw_average: Calc Failed" in row["bad_summaries"]) == (tw["Average"].value is None)
            assert row["event_weighted_basis"] == "EventWeightedExcludeMostRecentEvent"
    assert table["tw_average"].is_null().sum() > 0  # digital/string tags: only Count


def test_metrics_agree_with_pi_for_every_tag_hour(day):
    metrics = read(day, "gold", "pi_metrics_hourly")
    summaries = read(day, "gold", "pi_summaries_hourly")
    assert metrics.height == summaries.height == TAGS * 24
    compared = metrics.join(summaries, on=["hour", "tag_webid"]).filter(pl.col("tw_average").is_not_null())
    assert compared.height > 0.5 * metrics.height  # most tag-hours carry a PI time-weighted average
    assert disagreements(metrics, summaries).height == 0
    # The check itself (as Dagster evaluates it), per partition of the day.
    for hour in DAY[:3]:
        window = pl.col("hour") == hour
        result = pi_metrics_match_pi_summaries(
            build_asset_check_context(), metrics.filter(window), summaries.filter(window)
        )
        assert result.passed and result.metadata["tag_hours"].value == summaries.filter(window).height


def test_check_fails_on_a_corrupted_table(day):
    metrics = read(day, "gold", "pi_metrics_hourly")
    summaries = read(day, "gold", "pi_summaries_hourly")
    target = metrics.filter(pl.col("time_weighted_mean").is_not_null()).row(0, named=True)
    is_target = (pl.col("hour") == target["hour"]) & (pl.col("tag_webid") == target["tag_webid"])
    corrupted = metrics.with_columns(
        time_weighted_mean=pl.when(is_target)
        .then(pl.col("time_weighted_mean") * (1 + 1e-7))
        .otherwise(pl.col("time_weighted_mean")),
        count=pl.when(is_target).then(pl.col("count") + 1).otherwise(pl.col("count")),
    )
    found = disagreements(corrupted, summaries)
    assert set(found["column"]) == {"time_weighted_mean", "count"}
    assert set(found["tag_webid"]) == {target["tag_webid"]}
    dropped = disagreements(metrics.filter(~is_target), summaries)
    assert dropped["column"].to_list() == ["missing in pi_metrics_hourly"]
    # A point removed from PI keeps its rows in pi_timeseries (so in pi_metrics_hourly), but PI has no
    # summaries of it: not a disagreement.
    removed = summaries["tag_webid"].unique().sort()[0]
    assert disagreements(metrics, summaries.filter(pl.col("tag_webid") != removed)).height == 0
    result = pi_metrics_match_pi_summaries(build_asset_check_context(), corrupted, summaries)
    assert not result.passed and result.metadata["disagreements"].value == 2


def test_reader_chunks_agree_and_a_failing_stream_fails_the_read(server_url):
    universe = Universe(CONFIG)
    webids = [t.webid for t in universe.visible_tags(NOW.timestamp())]
    start, end = DAY[0], DAY[3]
    with PIWebAPIClient(server_url) as client:
        whole = StreamSetReader(client).summaries(webids, start, end, "1h", "TimeWeighted", ["Average", "Count"])
        small = StreamSetReader(client, streams_per_request=7, max_items_per_call=30, max_concurrency=3)
        assert [len(c) for c in small.chunks("summary", webids, [], 6)] == [5] * (len(webids) // 5)
        chunked = small.summaries(webids, start, end, "1h", "TimeWeighted", ["Average", "Count"])
        assert whole.height == len(webids) * 3 * 2 and chunked.equals(whole)
        missing = webid.point_webid(universe.data_server_guid, 99999, "\\\\PISRV01\\NOPE")
        with pytest.raises(PIStreamErrors, match="99999|NOPE") as failed:
            StreamSetReader(client).summaries(webids[:3] + [missing], start, end, "1h", "TimeWeighted", ["Count"])
        assert "404" in str(failed.value)


def test_pi_interpolated_holds_pis_interpolated_values(server_url, tmp_path):
    resources = build_resources(PIWebAPIResource(base_url=server_url), str(tmp_path))
    hour = DAY[5]
    with DagsterInstance.ephemeral() as instance:
        assert materialize(
            [pi_tag_catalog, pi_interpolated], resources=resources, instance=instance, selection=[pi_tag_catalog]
        ).success
        assert materialize(
            [pi_tag_catalog, pi_interpolated],
            selection=[pi_interpolated],
            resources=resources,
            instance=instance,
            partition_key=hour.strftime("%Y-%m-%d-%H:%M"),
            run_config={"ops": {"pi_interpolated": {"config": {"interval": "15m"}}}},
        ).success
    table = read(tmp_path, "silver", "pi_interpolated")
    tags = Universe(CONFIG).visible_tags(NOW.timestamp())
    assert table.height == len(tags) * 4 and set(table["interval"]) == {"15m"}
    times = hour.timestamp() + 900.0 * np.arange(4)
    rows = {(r["tag_webid"], r["timestamp"].timestamp()): r for r in table.iter_rows(named=True)}
    for tag in tags:
        context = signals.recorded(tag, times[0] - 86400, NOW.timestamp(), NOW.timestamp(), CONFIG.seed)
        want = calc.interpolate(context, times, tag.sensor.kind in ("digital", "string"))
        for t, value, state in zip(times, want.value, want.system_state):
            row = rows[(tag.webid, t)]
            assert row["good"] == (state == 0)
            if state == 0 and tag.sensor.kind in ("analog", "counter") and tag.sensor.point_type != "Int32":
                assert row["value"] == value
