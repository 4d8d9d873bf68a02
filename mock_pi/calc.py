"""Derived stream data computed from recorded events: interpolated values, plot values, summaries.

Pure functions of :class:`~mock_pi.signals.Events`, so the same data feeds /recorded, /interpolated,
/plot and /summary. The rules are PI's as written down in ``docs/pi-summaries.md``:

* the signal passes through the events in order: the value *at* a time is its last event at or before
  that time (several events at one timestamp: the last one), and between two times the line runs from
  the last event of the earlier time to the first event of the later one; before a tag's first event
  there is no data;
* continuous points (Step off) interpolate linearly between two good events; step points, digital and
  string points hold each value until the next event; a good value followed by a bad one is held
  until the bad event (there is nothing to interpolate towards); a bad value holds nothing;
* time-weighted summaries integrate that signal over ``[start, end]`` and leave out bad and no-data
  time; event-weighted ones use the events in the interval, with PI's boundary rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mock_pi.signals import NO_DATA, Events

SUMMARY_TYPES = (
    "Total",
    "Average",
    "Minimum",
    "Maximum",
    "Range",
    "StdDev",
    "PopulationStdDev",
    "Count",
    "PercentGood",
    "TotalWithUOM",
    "All",
    "AllForNonNumeric",
)
ALL_TYPES = ("Total", "Average", "Minimum", "Maximum", "Range", "StdDev", "PopulationStdDev", "Count", "PercentGood")
TIME_TYPES = ("Auto", "EarliestTime", "MostRecentTime")
DAY_S = 86_400.0  # PI totals assume a per-day rate when the units carry no time


def _line(t0, v0, t1, v1, at):
    """The value at ``at`` on the straight line through (t0, v0) and (t1, v1); exact at both ends."""
    span = np.where(t1 > t0, t1 - t0, 1.0)
    inner = v0 + (at - t0) / span * (v1 - v0)
    return np.where(at <= t0, v0, np.where(at >= t1, v1, inner))


def _continues(events: Events, step: bool) -> np.ndarray:
    """Per event: whether the signal runs linearly from it to the next event (both good, continuous)."""
    good = events.system_state == 0
    if step or len(events) == 0:
        return np.zeros(len(events), dtype=bool)
    return np.append(good[:-1] & good[1:] & (events.ts[1:] > events.ts[:-1]), False)


def interpolate(events: Events, times: np.ndarray, step: bool) -> Events:
    """Values at ``times`` from ``events`` (which must reach back before the first time): the held or
    linearly interpolated value, a system state carried forward, ``No Data`` before the first event."""
    times = np.asarray(times, dtype=np.float64)
    n = len(times)
    value = np.zeros(n)
    state = np.full(n, NO_DATA, dtype=np.int16)
    if len(events):
        prev = np.searchsorted(events.ts, times, side="right") - 1
        has = prev >= 0
        p = np.clip(prev, 0, None)
        nxt = np.clip(prev + 1, 0, len(events) - 1)
        ts = events.ts.astype(np.float64)
        linear = has & _continues(events, step)[p]
        value = np.where(
            linear,
            _line(ts[p], events.value[p], ts[nxt], events.value[nxt], times),
            np.where(has, events.value[p], 0.0),
        )
        state = np.where(has, events.system_state[p], NO_DATA).astype(np.int16)
    zeros = np.zeros(n, dtype=bool)
    return Events(times.astype(np.int64), value, state, zeros, zeros.copy(), zeros.copy())


def plot(events: Events, start_s: float, end_s: float, intervals: int) -> np.ndarray:
    """Indices of the plot values: per interval the first, last, minimum, maximum and first bad event."""
    if len(events) == 0 or intervals < 1:
        return np.empty(0, dtype=np.int64)
    edges = np.linspace(start_s, end_s, intervals + 1)
    bucket = np.clip(np.searchsorted(edges, events.ts, side="right") - 1, 0, intervals - 1)
    picked: set[int] = set()
    good = events.system_state == 0
    for b in np.unique(bucket).tolist():
        idx = np.flatnonzero(bucket == b)
        picked.update((int(idx[0]), int(idx[-1])))
        g = idx[good[idx]]
        if len(g):
            vals = events.value[g]
            picked.update((int(g[np.argmin(vals)]), int(g[np.argmax(vals)])))
        bad = idx[~good[idx]]
        if len(bad):
            picked.add(int(bad[0]))
    return np.array(sorted(picked), dtype=np.int64)


# -- summaries ----------------------------------------------------------------------------------------


@dataclass
class SummaryValue:
    type: str
    ts: float
    value: float | None  # None: PI answers with an error state (Good = false)
    good: bool


@dataclass
class Segments:
    """The good stretches of a signal inside a window: ``[t0, t1]`` running linearly from v0 to v1."""

    t0: np.ndarray
    t1: np.ndarray
    v0: np.ndarray
    v1: np.ndarray

    @property
    def seconds(self) -> np.ndarray:
        return self.t1 - self.t0


def segments(events: Events, start_s: float, end_s: float, step: bool) -> Segments:
    """The good, positive-length pieces of the signal inside ``[start, end]``. ``events`` must include the
    last event before ``start`` and the first after ``end`` when they exist (what PI's boundaries read)."""
    n = len(events)
    if n == 0:
        return Segments(*(np.empty(0) for _ in range(4)))
    ts = events.ts.astype(np.float64)
    nxt = np.minimum(np.arange(n) + 1, n - 1)
    follows = np.append(ts[1:], np.inf)  # the last event holds for ever (until a new event arrives)
    lo, hi = np.maximum(ts, start_s), np.minimum(follows, end_s)
    keep = (hi > lo) & (events.system_state == 0)
    linear = _continues(events, step)
    v, w = events.value, events.value[nxt]
    v0 = np.where(linear, _line(ts, v, ts[nxt], w, lo), v)
    v1 = np.where(linear, _line(ts, v, ts[nxt], w, hi), v)
    return Segments(lo[keep], hi[keep], v0[keep], v1[keep])


def event_window(events: Events, start_s: float, end_s: float, basis: str, intervals: int) -> Events:
    """The events an event-weighted summary of ``[start, end]`` uses, by PI's boundary rules: both ends
    for a single interval; with several (ascending) intervals the start time only; the ``Exclude…`` and
    ``IncludeBothEnds`` bases say it themselves."""
    include_start = basis != "EventWeightedExcludeEarliestEvent"
    include_end = basis in ("EventWeightedExcludeEarliestEvent", "EventWeightedIncludeBothEnds") or (
        basis == "EventWeighted" and intervals == 1
    )
    after = events.ts >= start_s if include_start else events.ts > start_s
    before = events.ts <= end_s if include_end else events.ts < end_s
    return events.take(after & before)


def _expand(types: list[str]) -> list[str]:
    out: list[str] = []
    for t in types:
        out.extend(ALL_TYPES if t in ("All", "AllForNonNumeric") else ("Total",) if t == "TotalWithUOM" else (t,))
    return out


def summarize(
    events: Events,
    start_s: float,
    end_s: float,
    types: list[str],
    basis: str,
    numeric: bool,
    step: bool,
    intervals: int = 1,
    time_type: str = "Auto",
) -> list[SummaryValue]:
    """PI's summaries of one interval ``[start, end]``. ``events`` reach beyond both ends (see
    :func:`segments`); ``intervals`` is how many intervals the request has (event-weighted boundaries)."""
    time_weighted = basis.startswith("TimeWeighted")
    if basis == "TimeWeightedContinuous":
        step = False
    elif basis == "TimeWeightedDiscrete":
        step = True
    duration = end_s - start_s
    stamp = end_s if time_type == "MostRecentTime" else start_s
    if time_weighted:
        stats = _time_weighted(segments(events, start_s, end_s, step), duration)
    else:
        stats = _event_weighted(event_window(events, start_s, end_s, basis, intervals), duration)
    out = []
    for t in _expand(types):
        value, at = stats.get(t, (None, None))
        if t != "Count" and not numeric:
            value = None  # Count is the only summary of digital and string points
        good = value is not None and bool(np.isfinite(value))
        out.append(
            SummaryValue(
                t, at if (time_type == "Auto" and at is not None) else stamp, float(value) if good else None, good
            )
        )
    return out


def _extremes(values: np.ndarray, times: np.ndarray) -> dict:
    if not len(values):
        return {}
    lo, hi = int(np.argmin(values)), int(np.argmax(values))
    return {
        "Minimum": (values[lo], float(times[lo])),
        "Maximum": (values[hi], float(times[hi])),
        "Range": (values[hi] - values[lo], None),
    }


def _time_weighted(seg: Segments, duration: float) -> dict:
    """Average = integral of the good signal / good seconds; Total = that average × the interval in days
    (PI scales up for bad time); StdDev = the time-weighted spread; Count = good seconds."""
    good_s = float(seg.seconds.sum())
    stats: dict = {"Count": (good_s, None), "PercentGood": (100.0 * good_s / duration if duration > 0 else None, None)}
    if good_s <= 0:
        return stats
    area = float((seg.seconds * (seg.v0 + seg.v1) / 2).sum())
    squares = float((seg.seconds * (seg.v0**2 + seg.v0 * seg.v1 + seg.v1**2) / 3).sum())
    mean = area / good_s
    spread = np.sqrt(max(squares / good_s - mean**2, 0.0))
    stats.update(
        {
            "Average": (mean, None),
            "Total": (mean * duration / DAY_S, None),
            "StdDev": (spread, None),
            "PopulationStdDev": (spread, None),
        }
    )
    values = np.concatenate([seg.v0, seg.v1])
    stats.update(_extremes(values, np.concatenate([seg.t0, seg.t1])))
    return stats


def _event_weighted(window: Events, duration: float) -> dict:
    """Every event counts once; the statistics use the good ones. At least one event is needed (two for
    StdDev)."""
    count = len(window)
    stats: dict = {"Count": (float(count), None)}
    if count == 0:
        return stats
    good = window.system_state == 0
    stats["PercentGood"] = (100.0 * good.sum() / count, None)
    values = window.value[good]
    if len(values):
        stats.update(
            {"Average": (values.mean(), None), "Total": (values.sum(), None), "PopulationStdDev": (values.std(), None)}
        )
        if len(values) > 1:
            stats["StdDev"] = (values.std(ddof=1), None)
        stats.update(_extremes(values, window.ts[good]))
    return stats
