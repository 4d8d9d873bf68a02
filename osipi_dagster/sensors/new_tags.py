"""``pi_new_tags_sensor``: notice points added to (or removed from) the PI data server.

When points appear, one run refreshes ``pi_tag_catalog`` and loads the last ``OSIPI_NEW_TAG_LOOKBACK_HOURS``
(default 24) hourly partitions of ``pi_timeseries`` as one range for the new tags only (run tag
``osipi/only_tags``): their rows of those hours are replaced, every other tag's rows stay untouched, so
the run costs what the new tags add. More than ``MAX_ONLY_TAGS`` new points at once (a first deployment,
a large expansion) re-load the window for all active tags instead. When points only disappear, the
catalog is refreshed (they are marked removed; their history stays).
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

import polars as pl
from dagster import (
    DefaultSensorStatus,
    PartitionKeyRange,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from osipi_dagster.assets import pi_tag_catalog, pi_timeseries
from osipi_dagster.assets.timeseries import ONLY_TAGS_RUN_TAG
from osipi_dagster.partitions import hourly_partitions
from osipi_dagster.pi.points_watch import PointsCursor, count_unchanged, list_webids
from osipi_dagster.pi.values import parse_pi_timestamps
from osipi_dagster.resources.lakehouse import DeltaLakehouse
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.settings import get_settings

LOOKBACK_HOURS = get_settings().new_tag_lookback_hours
FULL_CHECK_SECONDS = get_settings().tag_full_check_seconds
# Above this many new points the run re-loads every tag: a run tag stays small (~45 bytes a WebId), and
# the other tags' rows then cost little next to the new ones'.
MAX_ONLY_TAGS = 1_000


def _known_active_webids(lakehouse: DeltaLakehouse) -> set[str]:
    catalog = lakehouse.scan("bronze", "pi_tag_catalog")
    if catalog is None:
        return set()
    return set(catalog.filter(pl.col("is_active")).select("webid").collect()["webid"].to_list())


def server_time(server: dict) -> float:
    """The data server's clock (``ServerTime``): what "the last complete hour" means to PI."""
    text = server.get("ServerTime")
    if not text:
        return time.time()
    parsed = parse_pi_timestamps(pl.Series([text], dtype=pl.String))[0]  # up to 7 fractional digits
    return parsed.timestamp() if parsed is not None else time.time()


def lookback_range(now: float, hours: int) -> tuple[str, str] | None:
    """First and last key of the latest ``hours`` complete hourly partitions at ``now``."""
    keys = hourly_partitions.get_partition_keys(current_time=datetime.fromtimestamp(now, UTC))[-hours:]
    return (keys[0], keys[-1]) if keys else None


def all_loaded(instance, window: tuple[str, str]) -> bool:
    """Whether every hour of ``window`` is a materialised ``pi_timeseries`` partition.

    Only then may the look-back replace just the new tags' rows: a run marks its hours loaded, so a tag-scoped
    run over an hour never loaded for the other tags would leave those tags missing behind a green partition.
    """
    keys = hourly_partitions.get_partition_keys_in_range(PartitionKeyRange(*window))
    return set(keys) <= instance.get_materialized_partitions(pi_timeseries.key)


@sensor(
    name="pi_new_tags_sensor",
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    target=[pi_tag_catalog, pi_timeseries],
    description=__doc__,
)
def pi_new_tags_sensor(context: SensorEvaluationContext, pi: PIWebAPIResource, lakehouse: DeltaLakehouse):
    cursor = PointsCursor.from_json(context.cursor)
    now = time.time()
    client = pi.client
    server = client.data_server(pi.data_server)
    full_check_due = cursor.count is None or now - cursor.full_check_at >= FULL_CHECK_SECONDS
    if not full_check_due and count_unchanged(client, server["WebId"], pi.tag_filter, cursor.count):
        return SkipReason(f"{cursor.count:,} points, count unchanged (1 probe request)")

    listed = list_webids(client, server["WebId"], pi.tag_filter)
    known = _known_active_webids(lakehouse)
    new, removed = listed - known, known - listed
    next_cursor = PointsCursor(count=len(listed), full_check_at=now).to_json()
    if not new and not removed:
        return SensorResult(skip_reason=f"{len(listed):,} points, none new or removed", cursor=next_cursor)

    reason = f"{len(new):,} new and {len(removed):,} removed points ({len(listed):,} listed)"
    context.log.info(reason)
    change_id = hashlib.sha1("".join(sorted(new | removed)).encode()).hexdigest()[:12]
    tags = {"osipi/reason": reason}
    selection = [pi_tag_catalog.key]
    window = lookback_range(server_time(server), LOOKBACK_HOURS) if new else None
    if window:
        selection.append(pi_timeseries.key)
        tags |= {"dagster/asset_partition_range_start": window[0], "dagster/asset_partition_range_end": window[1]}
        if len(new) <= MAX_ONLY_TAGS and all_loaded(context.instance, window):
            tags[ONLY_TAGS_RUN_TAG] = " ".join(sorted(new))
    return SensorResult(
        run_requests=[RunRequest(run_key=f"points-{change_id}", asset_selection=selection, tags=tags)],
        cursor=next_cursor,
    )
