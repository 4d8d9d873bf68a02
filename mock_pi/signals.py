"""Recorded values of a tag: a pure function of (seed, tag, time, clock).

:func:`recorded` returns the events of one tag in a closed time range ``[start_s, end_s]`` as columnar
numpy arrays. The server renders them as PI Web API JSON; tests call the same function to know the exact
points a window must contain. Realism, all deterministic:

* analog tags: daily cycle + slow drift + noise, rare spikes (anomalies), rounded like PI DisplayDigits;
* counters (Float64 totalisers) rise monotonically; Int32 tags are rounded analog signals;
* digital tags hold a state of their own set ({Name, Value, IsSystem: false}); string tags batch ids;
* flags: ~95 % plain Good, ~4 % Questionable, ~1 % Substituted, a few Annotated;
* system states (I/O Timeout, Bad Input, Shutdown…) with Good=false; ``Pt Created`` at the tag's start;
* irregular (compression-like) spacing on some tags, several events at one timestamp on others;
* interface outages: a whole site goes silent for a while (gap) after an ``I/O Timeout`` event;
* late arrival: a value at t becomes visible at t + delay, delay in [0, late_lag_seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mock_pi.hashing import key, uniform
from mock_pi.universe import DIGITAL_SETS, Tag

SYSTEM_STATES: dict[int, str] = {
    246: "I/O Timeout", 248: "No Data", 253: "Pt Created", 254: "Shutdown", 255: "Bad Input",
    251: "Under Range", 252: "Over Range", 238: "Scan Off", 249: "Calc Failed",
}
_RANDOM_SYSTEM_STATES = np.array([246, 255, 254, 252, 238])
PT_CREATED = 253
IO_TIMEOUT = 246

DAY_S = 86_400
OUTAGE_BLOCK_S = 6 * 3600  # each site may have one interface outage per 6-hour block
OUTAGE_PROBABILITY = 0.02


@dataclass
class Events:
    """Columnar events of one tag, ascending by time (ties in a fixed order)."""

    ts: np.ndarray  # int64 epoch seconds
    value: np.ndarray  # float64: number, digital state code, or string-value counter
    system_state: np.ndarray  # int16: 0 = a real value, else the SYSTEM state code (Good = false)
    questionable: np.ndarray  # bool
    substituted: np.ndarray  # bool
    annotated: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def good(self) -> np.ndarray:
        return self.system_state == 0

    def take(self, index) -> Events:
        return Events(self.ts[index], self.value[index], self.system_state[index],
                      self.questionable[index], self.substituted[index], self.annotated[index])


@dataclass(frozen=True)
class TagProfile:
    """Signal parameters of one tag, drawn once from its random stream."""

    period_s: int
    phase_s: int
    base: float
    amplitude: float
    noise: float
    drift_per_day: float
    decimals: int
    irregular: bool  # compression-like: about half the samples are kept, with jitter
    duplicates: bool  # some timestamps carry two events


def profile(tag: Tag) -> TagProfile:
    s, k = tag.sensor, tag.key
    u = uniform(k, np.arange(8), 0)
    span = s.span or 1.0
    return TagProfile(
        period_s=s.period_s,
        phase_s=int(u[0] * min(s.period_s, 60)),
        base=s.zero + span * (0.35 + 0.3 * u[1]),
        amplitude=span * (0.02 + 0.08 * u[2]),
        noise=span * (0.002 + 0.01 * u[3]),
        drift_per_day=span * (u[4] - 0.5) * 0.0001,
        decimals=5 if s.point_type == "Float64" else 3,
        irregular=s.kind == "analog" and u[5] < 0.10,
        duplicates=s.kind == "analog" and u[6] < 0.05,
    )


def recorded(tag: Tag, start_s: float, end_s: float, now_s: float, seed: int, late_lag_seconds: float = 0.0,
             prof: TagProfile | None = None) -> Events:
    """All events of ``tag`` with ``start_s <= ts <= end_s`` that are visible at ``now_s``."""
    prof = prof or profile(tag)
    lo = max(start_s, tag.created_s)
    hi = min(end_s, now_s)
    if hi < lo:
        return _empty()
    period, phase = prof.period_s, prof.phase_s
    k0 = int(np.ceil((lo - phase) / period)) - 1  # one extra each side: jitter may move samples
    k1 = int(np.floor((hi - phase) / period)) + 1
    k = np.arange(k0, k1 + 1, dtype=np.int64)
    ts = k * period + phase
    if prof.irregular:
        keep = uniform(tag.key, k, 10) < 0.55
        k = k[keep]
        ts = ts[keep] + (uniform(tag.key, k, 11) * (period // 2)).astype(np.int64)
    value = _values(tag, prof, k, ts)
    n = len(k)
    u_flag = uniform(tag.key, k, 20)
    events = Events(
        ts=ts,
        value=value,
        system_state=np.zeros(n, dtype=np.int16),
        questionable=(u_flag >= 0.95) & (u_flag < 0.99),
        substituted=u_flag >= 0.99,
        annotated=uniform(tag.key, k, 21) < 0.002,
    )
    if tag.sensor.kind in ("analog", "counter"):
        u_sys = uniform(tag.key, k, 22)
        bad = u_sys < 0.002
        events.system_state[bad] = _RANDOM_SYSTEM_STATES[(u_sys[bad] * 1000 % 5).astype(int)]
    events = _apply_outages(tag, events, seed)
    if prof.duplicates:
        events = _add_duplicates(tag, prof, events)
    if lo == tag.created_s:
        events = _add_pt_created(tag, events)
    in_range = (events.ts >= lo) & (events.ts <= hi)
    if late_lag_seconds > 0:
        delay = uniform(tag.key, events.ts, 30) * late_lag_seconds
        in_range &= events.ts + delay <= now_s
    return events.take(in_range)


def _values(tag: Tag, prof: TagProfile, k: np.ndarray, ts: np.ndarray) -> np.ndarray:
    s = tag.sensor
    if s.kind == "digital":
        # Mostly the "normal" state (index 1), sometimes another one of the set.
        u = uniform(tag.key, k, 1)
        states = len(DIGITAL_SETS[s.digital_set])
        return np.where(u < 0.85, 1, (u * 1000).astype(np.int64) % states).astype(np.float64)
    if s.kind == "string":
        return k.astype(np.float64)  # rendered as a batch id from the sample counter
    days = (ts - tag.created_s) / DAY_S
    if s.kind == "counter":
        rate = prof.amplitude * 0.5 + 1.0
        return np.round(s.span * 0.1 + rate * days * 24.0, prof.decimals)
    cycle = np.sin(2 * np.pi * (ts % DAY_S) / DAY_S + prof.phase_s)
    u1 = np.maximum(uniform(tag.key, k, 2), 1e-12)
    u2 = uniform(tag.key, k, 3)
    gauss = np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)
    value = prof.base + prof.amplitude * cycle + prof.drift_per_day * days + prof.noise * gauss
    spike = uniform(tag.key, k, 4) < 0.001
    value[spike] += prof.amplitude * 6 * np.sign(gauss[spike] + 1e-9)
    if s.point_type == "Int32":
        return np.round(value)
    return np.round(value, prof.decimals)


def _apply_outages(tag: Tag, events: Events, seed: int) -> Events:
    """Drop samples inside the site's interface outages; an I/O Timeout marks each outage start."""
    if len(events) == 0:
        return events
    site_key = key(seed, "site-interface", tag.site)
    blocks = np.arange(events.ts[0] // OUTAGE_BLOCK_S, events.ts[-1] // OUTAGE_BLOCK_S + 1, dtype=np.int64)
    hit = uniform(site_key, blocks, 0) < OUTAGE_PROBABILITY
    if not hit.any():
        return events
    blocks = blocks[hit]
    starts = blocks * OUTAGE_BLOCK_S + (uniform(site_key, blocks, 1) * 3 * 3600).astype(np.int64)
    ends = starts + 600 + (uniform(site_key, blocks, 2) * 5400).astype(np.int64)
    inside = np.zeros(len(events), dtype=bool)
    for s, e in zip(starts, ends):
        inside |= (events.ts >= s) & (events.ts < e)
    kept = events.take(~inside)
    n = len(starts)
    marker = Events(starts, np.zeros(n), np.full(n, IO_TIMEOUT, dtype=np.int16),
                    np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool))
    return _merge(kept, marker)


def _add_duplicates(tag: Tag, prof: TagProfile, events: Events) -> Events:
    """A second event at the same timestamp (e.g. a lab correction) on ~5 % of samples."""
    twice = (uniform(tag.key, events.ts, 40) < 0.05) & (events.system_state == 0)
    extra = events.take(twice)
    extra.value = np.round(extra.value + prof.noise * (uniform(tag.key, extra.ts, 41) - 0.5), prof.decimals)
    extra.substituted = np.ones(len(extra), dtype=bool)
    return _merge(events, extra)


def _add_pt_created(tag: Tag, events: Events) -> Events:
    """PI records ``Pt Created`` when a point is created: our tags' first event."""
    created = Events(np.array([tag.created_s]), np.zeros(1), np.array([PT_CREATED], dtype=np.int16),
                     np.zeros(1, bool), np.zeros(1, bool), np.zeros(1, bool))
    keep = events.ts > tag.created_s
    return _merge(created, events.take(keep))


def _merge(first: Events, second: Events) -> Events:
    """Concatenate and sort by time; a stable sort keeps ``first``'s events before ``second``'s on ties."""
    if len(second) == 0:
        return first
    merged = Events(*(np.concatenate([getattr(first, f), getattr(second, f)]) for f in
                      ("ts", "value", "system_state", "questionable", "substituted", "annotated")))
    return merged.take(np.argsort(merged.ts, kind="stable"))


def _empty() -> Events:
    return Events(np.empty(0, np.int64), np.empty(0), np.empty(0, np.int16),
                  np.empty(0, bool), np.empty(0, bool), np.empty(0, bool))


def string_value(tag: Tag, counter: int) -> str:
    return f"BATCH-{tag.site:02d}-{counter % 100000:05d}"


def digital_state_name(tag: Tag, code: int) -> str:
    return DIGITAL_SETS[tag.sensor.digital_set][code]
