"""Recorded values of a tag: a pure function of (seed, tag, time, clock).

:func:`recorded` returns the events of one tag in a closed time range ``[start_s, end_s]`` as columnar
numpy arrays; :func:`recorded_many` does the same for many tags in one vectorised pass (the server's hot
path) and is what :func:`recorded` calls, so both always agree. Tests call :func:`recorded` to know the
exact points a window must contain. Realism, all deterministic:

* analog tags: daily cycle + slow drift + noise, rare spikes (anomalies), rounded like PI DisplayDigits;
* counters (Float64 totalisers) rise monotonically; Int32 tags are rounded analog signals;
* digital tags hold a state of their own set ({Name, Value, IsSystem: false}); string tags batch ids;
* flags: ~95 % plain Good, ~4 % Questionable, ~1 % Substituted, a few Annotated;
* system states (I/O Timeout, Bad Input, Shutdown…) with Good=false; ``Pt Created`` at the tag's start;
* a few tags have rare per-value errors (state ``Error`` 242; rendered with a per-value ``Errors`` field);
* irregular (compression-like) spacing on some tags, several events at one timestamp on others;
* interface outages: a whole site goes silent for a while (gap) after an ``I/O Timeout`` event;
* dense tags (``--dense-tags``): a sample every second, each a burst of 25–64 events sharing its timestamp
  (~160,000 values per hour);
* late arrival: a value at t becomes visible at t + delay, delay in [0, late_lag_seconds).

Every random draw is a hash of (tag key or site key, sample counter or timestamp, salt), so any window of
any tag can be generated on its own and in any batch of tags.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property

import numpy as np

from mock_pi.hashing import key, uniform, uniform_v
from mock_pi.universe import DIGITAL_SETS, Tag

SYSTEM_STATES: dict[int, str] = {
    242: "Error",
    246: "I/O Timeout",
    248: "No Data",
    253: "Pt Created",
    254: "Shutdown",
    255: "Bad Input",
    251: "Under Range",
    252: "Over Range",
    238: "Scan Off",
    249: "Calc Failed",
}
_RANDOM_SYSTEM_STATES = np.array([246, 255, 254, 252, 238], dtype=np.int16)
PT_CREATED = 253
IO_TIMEOUT = 246
VALUE_ERROR = 242  # a value whose retrieval failed: Good=false plus a per-value ``Errors`` field
NO_DATA = 248
CALC_FAILED = 249

DAY_S = 86_400
OUTAGE_BLOCK_S = 6 * 3600  # each site may have one interface outage per 6-hour block
OUTAGE_PROBABILITY = 0.02
BURST_MIN, BURST_SPAN = 25, 40  # events per timestamp of a dense tag: 25..64

KINDS = ("analog", "counter", "digital", "string")
_EVENT_FIELDS = ("ts", "value", "system_state", "questionable", "substituted", "annotated")


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
        return Events(
            self.ts[index],
            self.value[index],
            self.system_state[index],
            self.questionable[index],
            self.substituted[index],
            self.annotated[index],
        )


@dataclass
class ManyEvents:
    """Events of several tags in one set of arrays: tag ``i`` owns rows ``offsets[i]:offsets[i + 1]``."""

    events: Events
    offsets: np.ndarray  # int64, len(tags) + 1

    def of(self, i: int) -> Events:
        return self.events.take(slice(int(self.offsets[i]), int(self.offsets[i + 1])))


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
    errors: bool = False  # rare per-value errors


def profile(tag: Tag) -> TagProfile:
    return ProfileTable([tag]).profile(0)


class ProfileTable:
    """The profiles of many tags as arrays (what :func:`recorded_many` consumes), computed vectorised."""

    def __init__(self, tags: list[Tag], seed: int | None = None):
        n = len(tags)
        self.keys = np.fromiter((t.key for t in tags), dtype=np.uint64, count=n)
        self.period = np.fromiter((t.sensor.period_s for t in tags), dtype=np.int64, count=n)
        self.zero = np.fromiter((t.sensor.zero for t in tags), dtype=np.float64, count=n)
        self.span = np.fromiter((t.sensor.span for t in tags), dtype=np.float64, count=n)
        self.kind = np.fromiter((KINDS.index(t.sensor.kind) for t in tags), dtype=np.int8, count=n)
        self.int32 = np.fromiter((t.sensor.point_type == "Int32" for t in tags), dtype=bool, count=n)
        self.states = np.fromiter((len(DIGITAL_SETS.get(t.sensor.digital_set, ())) for t in tags), np.int64, n)
        self.created = np.fromiter((t.created_s for t in tags), dtype=np.int64, count=n)
        self.site = np.fromiter((t.site for t in tags), dtype=np.int64, count=n)
        self.decimals = np.where(np.fromiter((t.sensor.point_type == "Float64" for t in tags), bool, n), 5, 3)
        u = uniform_v(self.keys[:, None], np.arange(8, dtype=np.int64)[None, :], 0) if n else np.zeros((0, 8))
        span = np.where(self.span == 0, 1.0, self.span)
        analog = self.kind == 0
        self.phase = (u[:, 0] * np.minimum(self.period, 60)).astype(np.int64)
        self.base = self.zero + span * (0.35 + 0.3 * u[:, 1])
        self.amplitude = span * (0.02 + 0.08 * u[:, 2])
        self.noise = span * (0.002 + 0.01 * u[:, 3])
        self.drift = span * (u[:, 4] - 0.5) * 0.0001
        self.dense = np.fromiter((t.sensor.dense for t in tags), dtype=bool, count=n)
        self.irregular = analog & ~self.dense & (u[:, 5] < 0.10)
        self.duplicates = analog & ~self.dense & (u[:, 6] < 0.05)
        self.errors = analog & (u[:, 7] < 0.03)
        self._site_keys: dict[int, np.ndarray] = {}  # seed -> the site key of every tag

    def profile(self, i: int) -> TagProfile:
        return TagProfile(
            int(self.period[i]),
            int(self.phase[i]),
            float(self.base[i]),
            float(self.amplitude[i]),
            float(self.noise[i]),
            float(self.drift[i]),
            int(self.decimals[i]),
            bool(self.irregular[i]),
            bool(self.duplicates[i]),
            bool(self.errors[i]),
        )

    def site_keys(self, seed: int, index: np.ndarray) -> np.ndarray:
        """Random-stream keys of the sites' interfaces (an outage hits every tag of a site)."""
        by_tag = self._site_keys.get(seed)
        if by_tag is None:  # one key per site, hashed once per seed, then spread over the tags
            sites, tag_site = np.unique(self.site, return_inverse=True)
            site_keys = np.array([key(seed, "site-interface", s) for s in sites.tolist()], dtype=np.uint64)
            by_tag = self._site_keys[seed] = site_keys[tag_site]
        return by_tag[index]


def recorded(
    tag: Tag,
    start_s: float,
    end_s: float,
    now_s: float,
    seed: int,
    late_lag_seconds: float = 0.0,
    prof: TagProfile | None = None,
) -> Events:
    """All events of ``tag`` with ``start_s <= ts <= end_s`` that are visible at ``now_s``.

    ``prof`` is accepted for compatibility; the profile is always derived from the tag itself.
    """
    return recorded_many(ProfileTable([tag]), np.zeros(1, np.int64), start_s, end_s, now_s, seed, late_lag_seconds).of(
        0
    )


def recorded_many(
    table: ProfileTable,
    index: np.ndarray,
    start_s: float,
    end_s: float,
    now_s: float,
    seed: int,
    late_lag_seconds: float = 0.0,
) -> ManyEvents:
    """Recorded events of the tags ``table[index]`` in ``[start_s, end_s]`` visible at ``now_s``, in one pass."""
    index = np.asarray(index, dtype=np.int64)
    m = len(index)
    created = table.created[index]
    lo = np.maximum(np.float64(start_s), created)
    hi = np.full(m, float(min(end_s, now_s)))
    period, phase = table.period[index], table.phase[index]
    # One extra sample each side: jitter may move samples into the range.
    k0 = np.ceil((lo - phase) / period).astype(np.int64) - 1
    k1 = np.floor((hi - phase) / period).astype(np.int64) + 1
    count = np.where(hi >= lo, k1 - k0 + 1, 0)
    rt = np.repeat(np.arange(m), count)  # row -> position in ``index``
    starts = np.cumsum(count) - count
    k = k0[rt] + (np.arange(len(rt), dtype=np.int64) - starts[rt])
    keys = table.keys[index][rt]
    ts = k * period[rt] + phase[rt]
    irregular = table.irregular[index][rt]
    if irregular.any():  # random draws only for the rows that use them (the same draws: one per row)
        keep = np.ones(len(k), dtype=bool)
        rows = np.flatnonzero(irregular)
        keep[rows] = uniform_v(keys[rows], k[rows], 10) < 0.55
        rt, k, ts, keys, irregular = rt[keep], k[keep], ts[keep], keys[keep], irregular[keep]
        rows = np.flatnonzero(irregular)
        ts[rows] += (uniform_v(keys[rows], k[rows], 11) * (period[rt[rows]] // 2)).astype(np.int64)
    rows = _Rows(table, index, rt, k, ts, keys)
    value, state = _values(rows)
    u_flag = uniform_v(keys, k, 20)
    ev = Events(ts, value, state, (u_flag >= 0.95) & (u_flag < 0.99), u_flag >= 0.99, uniform_v(keys, k, 21) < 0.002)
    rank = np.zeros(len(ts), dtype=np.int64)
    ev, rt, rank = _add_bursts(table, index, ev, rt, rank)
    ev, rt, rank = _apply_outages(table, index, ev, rt, rank, lo, hi, seed)
    ev, rt, rank = _add_duplicates(table, index, ev, rt, rank)
    ev, rt, rank = _add_pt_created(created, ev, rt, rank, lo, hi)
    keep = (ev.ts >= lo[rt]) & (ev.ts <= hi[rt])
    if late_lag_seconds > 0:
        delay = uniform_v(table.keys[index][rt], ev.ts, 30) * late_lag_seconds
        keep &= ev.ts + delay <= now_s
    rows = np.flatnonzero(keep)
    rt = rt[rows]
    if len(rows):
        ts = ev.ts[rows]
        t0 = int(ts.min())
        # Sort key: tag, then time (< 2**32 s from t0), then rank (< 2**8) among events sharing a timestamp.
        order = np.argsort((rt << 40) + ((ts - t0) << 8) + rank[rows], kind="stable")
        rows, rt = rows[order], rt[order]
    ev = ev.take(rows)  # the kept events in order, in one gather
    offsets = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(rt, minlength=m), out=offsets[1:])
    return ManyEvents(ev, offsets)


@dataclass
class _Rows:
    """Per-row views of the per-tag parameters, for vectorised value generation."""

    table: ProfileTable
    index: np.ndarray
    rt: np.ndarray
    k: np.ndarray
    ts: np.ndarray
    keys: np.ndarray

    @cached_property
    def tag_rows(self) -> np.ndarray:
        return self.index[self.rt]  # row -> row of the profile table

    def col(self, name: str) -> np.ndarray:
        return getattr(self.table, name)[self.tag_rows]


def _values(r: _Rows) -> tuple[np.ndarray, np.ndarray]:
    """Values and system states of the generated samples, by kind of sensor."""
    n = len(r.ts)
    t = r.table
    kind = r.col("kind")
    value = np.zeros(n)
    state = np.zeros(n, dtype=np.int16)
    days = (r.ts - r.col("created")) / DAY_S
    analog, counter, digital, string = (kind == i for i in range(4))
    if analog.any():
        a = np.flatnonzero(analog)
        at = r.tag_rows[a]  # each analog sample's row of the profile table: one gather per parameter
        ka, tsa, keys = r.k[a], r.ts[a], r.keys[a]
        cycle = np.sin(2 * np.pi * (tsa % DAY_S) / DAY_S + t.phase[at])
        u1 = np.maximum(uniform_v(keys, ka, 2), 1e-12)
        gauss = np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * uniform_v(keys, ka, 3))
        amp = t.amplitude[at]
        v = t.base[at] + amp * cycle + t.drift[at] * days[a] + t.noise[at] * gauss
        spike = uniform_v(keys, ka, 4) < 0.001
        v[spike] += amp[spike] * 6 * np.sign(gauss[spike] + 1e-9)
        value[a] = _round(v, t.decimals[at], t.int32[at])
    if counter.any():
        c = np.flatnonzero(counter)
        ct = r.tag_rows[c]
        rate = t.amplitude[ct] * 0.5 + 1.0
        value[c] = _round(t.span[ct] * 0.1 + rate * days[c] * 24.0, t.decimals[ct], t.int32[ct])
    if digital.any():
        d = np.flatnonzero(digital)
        u = uniform_v(r.keys[d], r.k[d], 1)
        # Mostly the "normal" state (index 1), sometimes another one of the set.
        value[d] = np.where(u < 0.85, 1, (u * 1000).astype(np.int64) % t.states[r.tag_rows[d]])
    if string.any():
        value[string] = r.k[string]  # rendered as a batch id from the sample counter
    numeric = np.flatnonzero(analog | counter)
    if len(numeric):
        u_sys = uniform_v(r.keys[numeric], r.k[numeric], 22)
        bad = u_sys < 0.002
        state[numeric[bad]] = _RANDOM_SYSTEM_STATES[(u_sys[bad] * 1000 % 5).astype(np.int64)]
        erring = numeric[t.errors[r.tag_rows[numeric]] & (state[numeric] == 0)]
        if len(erring):
            state[erring[uniform_v(r.keys[erring], r.k[erring], 23) < 0.01]] = VALUE_ERROR
    return value, state


def _round(value: np.ndarray, decimals: np.ndarray, int32: np.ndarray) -> np.ndarray:
    """Each value rounded like its point type: whole (Int32), 5 decimals (Float64) or 3 (Float32); each
    rounding is computed only for the values it applies to (rounding is elementwise: the same result)."""
    out = np.round(value, 3)
    for rows, places in ((~int32 & (decimals == 5), 5), (int32, 0)):
        if rows.any():
            out[rows] = np.round(value[rows], places)
    return out


def _apply_outages(
    table: ProfileTable,
    index: np.ndarray,
    ev: Events,
    rt: np.ndarray,
    rank: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    seed: int,
):
    """Drop samples inside the site's interface outages; an I/O Timeout marks each outage start.

    A site has at most one outage per 6-hour block, starting in the block's first 3 h and lasting at most
    100 min, so it never crosses into the next block: a sample only depends on its own block.
    """
    site_keys = table.site_keys(seed, index)
    skr = site_keys[rt]
    block = ev.ts // OUTAGE_BLOCK_S
    first_block = int(block.min(initial=0))
    blocks_spanned = int(block.max(initial=0)) - first_block + 1
    if len(index) * blocks_spanned <= len(ev):  # one draw per (tag, block) instead of one per row: same draws
        spanned = np.arange(first_block, first_block + blocks_spanned)
        in_outage_block = uniform_v(site_keys[:, None], spanned[None, :], 0) < OUTAGE_PROBABILITY
        hit = np.flatnonzero(in_outage_block[rt, block - first_block])
    else:
        hit = np.flatnonzero(uniform_v(skr, block, 0) < OUTAGE_PROBABILITY)
    inside = np.zeros(len(ev), dtype=bool)
    if len(hit):
        start, end = _outage(skr[hit], block[hit])
        inside[hit] = (ev.ts[hit] >= start) & (ev.ts[hit] < end)
    # Markers: the outages of every block the requested range touches.
    valid = hi >= lo
    b0 = np.floor(lo / OUTAGE_BLOCK_S).astype(np.int64)
    nb = np.where(valid, np.floor(hi / OUTAGE_BLOCK_S).astype(np.int64) - b0 + 1, 0)
    bt = np.repeat(np.arange(len(index)), nb)
    blocks = b0[bt] + (np.arange(len(bt)) - (np.cumsum(nb) - nb)[bt])
    sk = site_keys[bt]
    hit = uniform_v(sk, blocks, 0) < OUTAGE_PROBABILITY
    bt = bt[hit]
    n = len(bt)
    if inside.any():
        keep = ~inside
        ev, rt, rank = ev.take(keep), rt[keep], rank[keep]
    if n == 0:
        return ev, rt, rank
    marker = Events(
        _outage(sk[hit], blocks[hit])[0],
        np.zeros(n),
        np.full(n, IO_TIMEOUT, dtype=np.int16),
        np.zeros(n, bool),
        np.zeros(n, bool),
        np.zeros(n, bool),
    )
    return _concat(ev, marker), np.concatenate([rt, bt]), np.concatenate([rank, np.ones(n, np.int64)])


def _outage(site_keys: np.ndarray, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of the outages of the given (site, block) pairs that have one."""
    start = blocks * OUTAGE_BLOCK_S + (uniform_v(site_keys, blocks, 1) * 3 * 3600).astype(np.int64)
    return start, start + 600 + (uniform_v(site_keys, blocks, 2) * 5400).astype(np.int64)


def _add_bursts(table: ProfileTable, index: np.ndarray, ev: Events, rt: np.ndarray, rank: np.ndarray):
    """Dense tags: each sample becomes a burst of BURST_MIN.. events at its timestamp (ranks 3, 4, ...), each
    with its own value and flags."""
    dense = table.dense[index][rt]
    if not dense.any():
        return ev, rt, rank
    keys = table.keys[index][rt]
    size = np.where(dense, BURST_MIN + (uniform_v(keys, ev.ts, 50) * BURST_SPAN).astype(np.int64), 1)
    rows = np.repeat(np.arange(len(ev)), size)
    j = np.arange(len(rows), dtype=np.int64) - np.repeat(np.cumsum(size) - size, size)
    out, rt, rank, keys = ev.take(rows), rt[rows], np.where(j > 0, 2 + j, rank[rows]), keys[rows]
    extra = np.flatnonzero(j > 0)
    if len(extra):
        counter = out.ts[extra] * 64 + j[extra]
        noise, decimals = table.noise[index][rt[extra]], table.decimals[index][rt[extra]]
        out.value[extra] = _round(
            out.value[extra] + noise * (uniform_v(keys[extra], counter, 51) - 0.5),
            decimals,
            table.int32[index][rt[extra]],
        )
        u_flag = uniform_v(keys[extra], counter, 52)
        out.questionable[extra] = (u_flag >= 0.95) & (u_flag < 0.99)
        out.substituted[extra] = u_flag >= 0.99
        out.system_state[extra] = 0  # a system state (or value error) is the burst's first event only
    return out, rt, rank


def _add_duplicates(table: ProfileTable, index: np.ndarray, ev: Events, rt: np.ndarray, rank: np.ndarray):
    """A second event at the same timestamp (e.g. a lab correction) on ~5 % of samples of some tags."""
    dup_tags = table.duplicates[index][rt]
    if not dup_tags.any():
        return ev, rt, rank
    keys = table.keys[index][rt]
    candidates = np.flatnonzero(dup_tags & (ev.system_state == 0))
    twice = np.zeros(len(ev), dtype=bool)
    twice[candidates] = uniform_v(keys[candidates], ev.ts[candidates], 40) < 0.05
    extra = ev.take(twice)
    xrt = rt[twice]
    noise, decimals = table.noise[index][xrt], table.decimals[index][xrt]
    jiggle = extra.value + noise * (uniform_v(keys[twice], extra.ts, 41) - 0.5)
    extra.value = _round(jiggle, decimals, table.int32[index][xrt])  # Int32 points stay whole
    extra.substituted = np.ones(len(extra), dtype=bool)
    return _concat(ev, extra), np.concatenate([rt, xrt]), np.concatenate([rank, np.full(len(xrt), 2, np.int64)])


def _add_pt_created(created: np.ndarray, ev: Events, rt: np.ndarray, rank: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """PI records ``Pt Created`` when a point is created: our tags' first event (nothing else at or before it)."""
    keep = ev.ts > created[rt]
    if not keep.all():
        ev, rt, rank = ev.take(keep), rt[keep], rank[keep]
    starting = np.flatnonzero((lo == created) & (hi >= lo))
    n = len(starting)
    if n == 0:
        return ev, rt, rank
    marker = Events(
        created[starting],
        np.zeros(n),
        np.full(n, PT_CREATED, dtype=np.int16),
        np.zeros(n, bool),
        np.zeros(n, bool),
        np.zeros(n, bool),
    )
    return _concat(ev, marker), np.concatenate([rt, starting]), np.concatenate([rank, np.zeros(n, np.int64)])


def _concat(first: Events, second: Events) -> Events:
    return Events(*(np.concatenate([getattr(first, f), getattr(second, f)]) for f in _EVENT_FIELDS))


def empty() -> Events:
    return Events(
        np.empty(0, np.int64),
        np.empty(0),
        np.empty(0, np.int16),
        np.empty(0, bool),
        np.empty(0, bool),
        np.empty(0, bool),
    )


def string_value(tag: Tag, counter: int) -> str:
    return f"BATCH-{tag.site:02d}-{counter % 100000:05d}"


def digital_state_name(tag: Tag, code: int) -> str:
    return DIGITAL_SETS[tag.sensor.digital_set][code]


assert [f.name for f in fields(Events)] == list(_EVENT_FIELDS)
__all__ = [
    "Events",
    "ManyEvents",
    "ProfileTable",
    "TagProfile",
    "profile",
    "recorded",
    "recorded_many",
    "SYSTEM_STATES",
    "string_value",
    "digital_state_name",
    "uniform",
]
