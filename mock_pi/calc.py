"""Derived stream data computed from recorded events: interpolated values, plot values, summaries.

Pure functions of :class:`~mock_pi.signals.Events`, so the same data feeds /recorded, /interpolated,
/plot and /summary. Interpolation is linear between good neighbours (stepped for digital/string tags);
a system state before ``t`` is carried forward like PI does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mock_pi.signals import NO_DATA, Events

SUMMARY_TYPES = ("Total", "Average", "Minimum", "Maximum", "Range", "StdDev", "PopulationStdDev", "Count",
                 "PercentGood", "TotalWithUOM", "All", "AllForNonNumeric")
ALL_TYPES = ("Total", "Average", "Minimum", "Maximum", "Range", "StdDev", "PopulationStdDev", "Count", "PercentGood")


def interpolate(events: Events, times: np.ndarray, step: bool) -> Events:
    """Values at ``times`` from ``events`` (which must reach back before the first time)."""
    times = np.asarray(times, dtype=np.float64)
    n = len(times)
    value = np.zeros(n)
    state = np.full(n, NO_DATA, dtype=np.int16)
    if len(events):
        prev = np.searchsorted(events.ts, times, side="right") - 1  # last event at or before t (last duplicate)
        has = prev >= 0
        p = np.clip(prev, 0, None)
        value = np.where(has, events.value[p], 0.0)
        state = np.where(has, events.system_state[p], NO_DATA).astype(np.int16)
        if not step:
            nxt = np.clip(prev + 1, 0, len(events) - 1)
            t0, t1 = events.ts[p], events.ts[nxt]
            linear = has & (prev + 1 < len(events)) & (state == 0) & (events.system_state[nxt] == 0) & (t1 > t0)
            frac = np.where(linear, (times - t0) / np.where(t1 > t0, t1 - t0, 1), 0.0)
            value = np.where(linear, value + frac * (events.value[nxt] - value), value)
            value = np.round(value, 5)
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


@dataclass
class SummaryValue:
    type: str
    ts: float
    value: float | None
    good: bool


def summarize(events: Events, start_s: float, end_s: float, types: list[str], basis: str, numeric: bool,
              before: Events | None = None) -> list[SummaryValue]:
    """Summaries of ``events`` over [start, end]. Time-weighted statistics hold each good value until the
    next event (``before`` = the value in force at ``start``, if any); event-weighted ones count events."""
    expanded: list[str] = []
    for t in types:
        expanded.extend(ALL_TYPES if t in ("All", "AllForNonNumeric") else ("Total",) if t == "TotalWithUOM" else (t,))
    good = events.system_state == 0
    duration = max(end_s - start_s, 1e-9)
    out = []
    ts_all, val_all, good_all = events.ts.astype(np.float64), events.value, good
    if before is not None and len(before) and (not len(events) or events.ts[0] > start_s):
        ts_all = np.concatenate([[start_s], ts_all])
        val_all = np.concatenate([before.value[-1:], val_all])
        good_all = np.concatenate([before.system_state[-1:] == 0, good_all])
    bounds = np.append(np.clip(ts_all, start_s, end_s), end_s)
    weights = np.diff(bounds) * good_all  # seconds each good value is in force
    good_seconds = weights.sum()
    vals = events.value[good]
    for t in expanded:
        if t == "Count":
            out.append(SummaryValue(t, start_s, float(len(events)), True))
            continue
        if t == "PercentGood":
            share = good_seconds / duration if basis.startswith("TimeWeighted") else (good.mean() if len(good) else 0)
            out.append(SummaryValue(t, start_s, float(share * 100.0), True))
            continue
        if not numeric or len(vals) == 0:
            out.append(SummaryValue(t, start_s, None, False))
            continue
        if t == "Minimum":
            i = int(np.argmin(vals))
            out.append(SummaryValue(t, float(events.ts[good][i]), float(vals[i]), True))
        elif t == "Maximum":
            i = int(np.argmax(vals))
            out.append(SummaryValue(t, float(events.ts[good][i]), float(vals[i]), True))
        elif t == "Range":
            out.append(SummaryValue(t, start_s, float(vals.max() - vals.min()), True))
        elif t in ("Average", "Total"):
            if basis.startswith("TimeWeighted") and good_seconds > 0:
                avg = float((val_all * weights).sum() / good_seconds)
            else:
                avg = float(vals.mean())
            # PI totals assume a per-day rate when the units carry no time.
            value = avg if t == "Average" else avg * duration / 86400.0
            out.append(SummaryValue(t, start_s, value, True))
        elif t in ("StdDev", "PopulationStdDev"):
            ddof = 1 if t == "StdDev" else 0
            ok = len(vals) > ddof
            out.append(SummaryValue(t, start_s, float(vals.std(ddof=ddof)) if ok else None, ok))
        else:
            out.append(SummaryValue(t, start_s, None, False))
    return out

