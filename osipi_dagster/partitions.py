"""Time partitions: a materialised partition *is* the watermark of a loaded window (UTC, no DST)."""

from __future__ import annotations

import os

from dagster import DailyPartitionsDefinition, HourlyPartitionsDefinition

# First partition shown in the UI (backfill further back by setting this earlier).
PARTITIONS_START = os.getenv("OSIPI_PARTITIONS_START", "2026-11-01-00:00")

# end_offset=0: the newest partition is the last *complete* hour, never the running one.
hourly_partitions = HourlyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=0)
daily_partitions = DailyPartitionsDefinition(start_date=PARTITIONS_START[:10], end_offset=0)
