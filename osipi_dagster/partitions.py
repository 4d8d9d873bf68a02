"""Time partitions: a materialised partition *is* the watermark of a loaded window (UTC, no DST)."""

from __future__ import annotations

from dagster import DailyPartitionsDefinition, HourlyPartitionsDefinition

from osipi_dagster.settings import get_settings

# First partition shown in the UI (backfill further back by setting OSIPI_PARTITIONS_START earlier).
PARTITIONS_START = get_settings().partitions_start

# end_offset=0: the newest partition is the last *complete* hour, never the running one.
hourly_partitions = HourlyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=0)
daily_partitions = DailyPartitionsDefinition(start_date=PARTITIONS_START[:10], end_offset=0)
