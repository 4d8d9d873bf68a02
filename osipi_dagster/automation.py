"""When assets materialise on their own: declarative automation conditions.

Why declarative conditions rather than a schedule built from the partitioned job: a schedule launches one
partition per tick, while PI data needs a *window* of recent hours re-read each hour (late values from
buffered interfaces), and the gold assets should follow whichever hours changed. Conditions express
both, are evaluated by one automation sensor, and show their reasons per partition in the UI.

Settings (environment, see ``osipi_dagster.settings``): ``OSIPI_SETTLE_HOURS`` (default 3) — how many of the
latest complete hours are re-read each hour; ``OSIPI_HOURLY_CRON`` (default ``5 * * * *``) — when, giving the
interfaces a few minutes after the hour closes; ``OSIPI_DAILY_CRON`` (default ``15 0 * * *``) — the daily
refreshes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from dagster import (
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    FreshnessPolicy,
)

from osipi_dagster.settings import get_settings

SETTLE_HOURS = get_settings().settle_hours
HOURLY_CRON = get_settings().hourly_cron
DAILY_CRON = get_settings().daily_cron


def settle_window_condition(settle: timedelta, cron: str) -> AutomationCondition:
    """At each cron tick, (re)materialise every partition of the latest ``settle`` period.

    The newest partition is loaded shortly after its hour closes; the ones before it are loaded again
    so values that arrived late replace the first load (rows are replaced, never appended).
    """
    return (
        AutomationCondition.in_latest_time_window(settle)
        & AutomationCondition.cron_tick_passed(cron, cron_timezone="UTC")
        & ~AutomationCondition.in_progress()
    ).with_label(f"latest {settle} on '{cron}' (settle window)")


def hourly_settle_condition() -> AutomationCondition:
    return settle_window_condition(timedelta(hours=SETTLE_HOURS), HOURLY_CRON)


def daily_refresh_condition() -> AutomationCondition:
    """A daily refresh of metadata tables (tag catalog, AF); the new-tag sensor reacts sooner to new tags."""
    return (
        AutomationCondition.cron_tick_passed(DAILY_CRON, cron_timezone="UTC") & ~AutomationCondition.in_progress()
    ).with_label(f"daily on '{DAILY_CRON}'")


def first_load_condition() -> AutomationCondition:
    """Once, as soon as the table is missing and its inputs exist: a fresh install loads AF at first start
    instead of at the first daily refresh, so the asset metrics need not wait a day. A failed first load is
    not retried every tick (the daily refresh tries again)."""
    return (
        (
            AutomationCondition.missing()
            & ~AutomationCondition.any_deps_missing()
            & ~AutomationCondition.any_deps_in_progress()
            & ~AutomationCondition.in_progress()
        )
        .newly_true()
        .with_label("not loaded yet: first load")
    )


def daily_refresh_or_first_load_condition() -> AutomationCondition:
    """The AF tables: a daily refresh, and a first load at first start."""
    return (daily_refresh_condition() | first_load_condition()).with_label(f"daily on '{DAILY_CRON}', or first load")


def daily_settle_condition() -> AutomationCondition:
    """Event frames: each day re-read today's and yesterday's partitions (frames close and change)."""
    return settle_window_condition(timedelta(days=2), DAILY_CRON)


def current_view_condition() -> AutomationCondition:
    """An unpartitioned view of daily partitions: eager, but without waiting for every day of the
    history to exist (plain ``eager()`` never fires while any upstream day is unloaded)."""
    return AutomationCondition.eager().without(~AutomationCondition.any_deps_missing())


def follows_upstream_condition(ignore: Sequence[str] = ()) -> AutomationCondition:
    """Derived partitions follow *any* upstream partition that changed — the settle window's hours and
    the hours of a backfill alike (``eager()`` only looks at the latest partition). An update of an ``ignore``
    asset (an unpartitioned lookup table refreshed daily: the catalog, AF) triggers nothing — it would
    otherwise rebuild every hour of the history each day —, but a partition still waits while such a table is
    missing or being loaded. Its changes reach the hours rebuilt from then on (the settle window's)."""
    updated = AutomationCondition.any_deps_updated()
    if ignore:
        updated = updated.ignore(AssetSelection.assets(*ignore))
    # Shown in the UI while e.g. the AF tables are not loaded yet (they load at first start).
    missing = AutomationCondition.any_deps_missing().with_label("an upstream table or partition is not loaded yet")
    running = AutomationCondition.any_deps_in_progress()
    # Pending from an upstream update until this partition is requested or materialised after it: a run that
    # already rebuilt the partition (a backfill of bronze and gold together) leaves nothing to do, and an
    # update seen while upstream was still running is not forgotten.
    handled = AutomationCondition.newly_requested() | AutomationCondition.newly_updated()
    pending = updated.since(handled).with_label("an upstream partition updated since this one was last built")
    # Never built although its inputs exist (the asset metrics of hours loaded before AF was): built once, when
    # that becomes true — not again every tick if the run fails.
    unbuilt = (AutomationCondition.missing() & ~missing).newly_true().with_label("not built yet, inputs loaded")
    return ((pending | unbuilt) & ~missing & ~running & ~AutomationCondition.in_progress()).with_label(
        "any upstream partition updated"
    )


# The report's daily refresh: after the 00:05 settle run and the 00:15 daily AF / event-frame refreshes (defaults).
REPORT_CRON = "45 0 * * *"


def daily_report_condition(first_after: str = "pi_timeseries") -> AutomationCondition:
    """The ingestion report: daily (charts of the last days need no hourly redraw, and each redraw scans a day of
    values), and once as soon as ``first_after`` has data, so a new install has a report the same hour. Either
    waits until no input is being loaded, so the charts show complete loads."""
    daily = AutomationCondition.cron_tick_passed(REPORT_CRON, cron_timezone="UTC").with_label(
        f"daily on '{REPORT_CRON}' (charts of the last days, after the tables' daily refreshes)"
    )
    loaded = AutomationCondition.any_deps_updated().allow(AssetSelection.assets(first_after))
    first = (AutomationCondition.missing() & loaded).with_label(f"no report yet and {first_after} was loaded")
    handled = AutomationCondition.newly_requested() | AutomationCondition.newly_updated()
    waiting = AutomationCondition.any_deps_in_progress().with_label("an input table is being loaded")
    return ((daily | first).since(handled) & ~waiting & ~AutomationCondition.in_progress()).with_label(
        f"daily on '{REPORT_CRON}', or first report"
    )


automation_sensor = AutomationConditionSensorDefinition(
    "osipi_automation",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
)


# Time an hourly run may take after its cron tick (queue, reading PI, the commit) before its load counts as late.
HOURLY_RUN_MARGIN = timedelta(minutes=30)


def hourly_freshness_policy(settle_hours: int = SETTLE_HOURS) -> FreshnessPolicy:
    """How old the latest load of an hourly asset may be; the daemon evaluates it and the UI shows the asset's
    freshness (pass / warn / fail).

    Each hourly tick reloads the latest ``settle_hours`` hours, so an hour is read by ``settle_hours`` ticks in
    a row: a missed tick loses nothing (warn after 1 h plus the run margin), but once no load has succeeded for
    ``settle_hours`` hours plus the margin, an hour has left the settle window unread and needs a backfill (fail).
    With one settle hour the two coincide: fail only.

    Dagster 1.13 evaluates this per asset (the age of the latest materialisation of any partition), not per
    partition; the settle window's runs always include the newest complete hour, so in normal operation the
    age is that of the newest hour, while a backfill of old hours also counts as a load.
    """
    fail = timedelta(hours=settle_hours) + HOURLY_RUN_MARGIN
    warn = timedelta(hours=1) + HOURLY_RUN_MARGIN
    return FreshnessPolicy.time_window(fail_window=fail, warn_window=warn if warn < fail else None)
