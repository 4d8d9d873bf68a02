"""``pi_open_event_frames_sensor``: re-read the daily partitions of ``pi_event_frames`` that still hold open
frames, until those frames close (their end time, duration and attribute values change when they do).

It reads the table itself (``lakehouse``), not PI: one small scan per tick. Each request's run key is the
day plus the time of that day's last load and a refresh period, so a day is requested once per load —
never again while its refresh is queued or running — and a failed refresh is retried the next period.
``OSIPI_OPEN_FRAMES_REFRESH_SECONDS`` (default 3600) is both the tick interval and that period.
"""

import time
from datetime import UTC, date, datetime

import polars as pl
from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, sensor

from osipi_dagster.assets.event_frames import pi_event_frames
from osipi_dagster.partitions import daily_partitions
from osipi_dagster.pi.values import UTC_TIMESTAMP
from osipi_dagster.resources.lakehouse import DeltaLakehouse
from osipi_dagster.settings import get_settings

REFRESH_SECONDS = get_settings().open_frames_refresh_seconds


def open_frame_days(lakehouse: DeltaLakehouse) -> pl.DataFrame:
    """``day``, ``loaded_at`` (the day's last load) and ``open_frames`` of each day holding open frames."""
    table = lakehouse.scan("bronze", "pi_event_frames")
    if table is None:
        return pl.DataFrame(schema={"day": pl.Date, "loaded_at": UTC_TIMESTAMP, "open_frames": pl.UInt32})
    return (
        table.group_by("day")
        .agg(loaded_at=pl.col("loaded_at").max(), open_frames=pl.col("is_open").sum().cast(pl.UInt32))
        .filter(pl.col("open_frames") > 0)
        .sort("day")
        .collect()
    )


def refresh_requests(days: pl.DataFrame, now: datetime, refresh_seconds: int = REFRESH_SECONDS) -> list[RunRequest]:
    """One run request per existing daily partition that holds open frames."""
    keys = set(daily_partitions.get_partition_keys(current_time=now))
    period = int(now.timestamp() // refresh_seconds)
    requests = []
    for day, loaded_at, open_frames in days.iter_rows():
        key = date.isoformat(day)
        if key in keys:
            requests.append(
                RunRequest(
                    partition_key=key,
                    asset_selection=[pi_event_frames.key],
                    run_key=f"open-frames:{key}:{loaded_at:%Y%m%dT%H%M%S%f}:{period}",
                    tags={"osipi/reason": f"{open_frames} open event frame(s)"},
                )
            )
    return requests


@sensor(
    name="pi_open_event_frames_sensor",
    minimum_interval_seconds=REFRESH_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    target=[pi_event_frames],
    description=__doc__,
)
def pi_open_event_frames_sensor(context: SensorEvaluationContext, lakehouse: DeltaLakehouse):
    days = open_frame_days(lakehouse)
    requests = refresh_requests(days, datetime.fromtimestamp(time.time(), UTC))
    if not requests:
        return SensorResult(skip_reason="no loaded day holds an open event frame")
    context.log.info(f"refreshing {len(requests)} day(s) with open event frames")
    return SensorResult(run_requests=requests)
