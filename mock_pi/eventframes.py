"""Event frames: a deterministic function of (seed, element, time) — and of ``now`` for open frames.

Each schedule cuts time into slots per element; a slot holds at most one frame whose start and duration
are hashes of (seed, schedule, element, slot), so any window can be listed on its own:

* ``Batch`` on tanks (8 h slots), ``Downtime`` on rotating equipment (3-day slots), ``Maintenance`` on
  rotating equipment and heat exchangers (30-day slots, long: often still open), ``High Vibration``
  alarms (template derived from ``Alarm``) on rotating equipment (1-day slots) with 1–3 child frames.
* A frame exists once ``now`` passes its start; while ``now`` < its end it is **open**: ``EndTime`` is
  ``9999-12-31T23:59:59Z`` (AF's "no end"); it closes by itself when ``now`` passes the end.

:func:`frames_between` is what the search endpoint serves and what tests call for expected rows.
EF GUIDs are structured (schedule, element, slot, child) so any EF WebID resolves without a table.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from mock_pi.af import ROTATING, AFModel, template_chain
from mock_pi.hashing import key, uniform_v
from mock_pi.universe import HISTORY_START_S, Element

OPEN_END = "9999-12-31T23:59:59Z"
OPEN_END_S = float("inf")
SEVERITIES = ["Warning", "Minor", "Major", "Critical"]


@dataclass(frozen=True)
class Schedule:
    code: int
    word: str  # first word of frame names
    template: str
    element_templates: frozenset[str]
    slot_s: int
    probability: float
    start_within_s: int  # the start falls in [slot start, slot start + this)
    min_duration_s: int
    max_duration_s: int
    # EF attributes: (name, sensor attribute read through the primary element's tag) or static (name, kind)
    point_attributes: tuple[str, ...] = ()
    static_attributes: tuple[tuple[str, str], ...] = ()


SCHEDULES: dict[str, Schedule] = {
    s.word: s
    for s in [
        Schedule(
            1,
            "Batch",
            "Batch",
            frozenset({"Tank"}),
            8 * 3600,
            0.8,
            2 * 3600,
            3 * 3600,
            int(5.5 * 3600),
            ("Level", "Temperature"),
            (("Product", "String"), ("Batch ID", "String"), ("Target Volume", "Double")),
        ),
        Schedule(
            2,
            "Downtime",
            "Downtime",
            frozenset(ROTATING),
            3 * 86400,
            0.3,
            int(2.5 * 86400),
            1200,
            8 * 3600,
            ("Run Status",),
            (("Reason", "String"), ("Lost Production", "Double")),
        ),
        Schedule(
            3,
            "Maintenance",
            "Maintenance",
            frozenset(ROTATING | {"HeatExchanger"}),
            30 * 86400,
            0.5,
            25 * 86400,
            4 * 3600,
            3 * 86400,
            (),
            (("Work Order", "String"), ("Technician", "String")),
        ),
        Schedule(
            4,
            "Alarm",
            "High Vibration",
            frozenset(ROTATING),
            86400,
            0.25,
            20 * 3600,
            300,
            2 * 3600,
            ("Vibration",),
            (("Limit", "Double"), ("Priority", "Int32")),
        ),
    ]
}
_BY_CODE = {s.code: s for s in SCHEDULES.values()}
_PRODUCTS = ["Diesel", "Naphtha", "Jet A-1", "Crude Blend", "Base Oil", "Gasoline 95"]
_REASONS = ["Trip", "Power loss", "Seal leak", "Operator stop", "Upstream outage", "High temperature"]


@dataclass(frozen=True)
class EventFrame:
    """One event frame as seen at ``now``: ``end_s`` is inf while the frame is open."""

    schedule: Schedule
    element: Element
    slot: int
    child: int  # 0 = root frame, j = j-th child of the root
    name: str
    guid: uuid.UUID
    start_s: int
    true_end_s: int  # when it closes (or closed)
    end_s: float  # at ``now``: true_end_s, or inf while open
    severity: str
    acknowledged_s: int | None  # when acknowledged, if it was before now
    children: int  # number of child frames
    parent_guid: uuid.UUID | None = None
    path: str = field(default="", compare=False)

    @property
    def template(self) -> str:
        return "Alarm" if self.child and self.schedule.word == "Alarm" else self.schedule.template

    @property
    def is_open(self) -> bool:
        return self.end_s == OPEN_END_S


def _ef_guid(ns: uuid.UUID, code: int, child: int, element: int, slot: int) -> uuid.UUID:
    return uuid.UUID(bytes=ns.bytes[:4] + bytes([ord("F"), code, child, 0]) + struct.pack("<ii", element, slot))


def _fmt(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


class EventFrameModel:
    """Event frames of one universe."""

    def __init__(self, af: AFModel):
        self.af = af
        self.universe = af.universe
        self.seed = self.universe.config.seed
        self.ns = self.universe.namespace
        self.database_path = af.database_path
        self._elements_of: dict[str, np.ndarray] = {
            word: np.array(
                [e.index for e in self.universe.elements if e.template in s.element_templates], dtype=np.int64
            )
            for word, s in SCHEDULES.items()
        }

    def _draws(self, schedule: Schedule, elements: np.ndarray, slots: np.ndarray, salt: int) -> np.ndarray:
        keys = np.uint64(key(self.seed, "eventframes", schedule.code)) ^ (elements.astype(np.uint64) << np.uint64(20))
        return uniform_v(keys, slots, salt)

    def _roots(self, schedule: Schedule, elements: np.ndarray, slots: np.ndarray):
        """Which (element, slot) pairs hold a frame, and their start/end times."""
        has = self._draws(schedule, elements, slots, 0) < schedule.probability
        elements, slots = elements[has], slots[has]
        start = slots * schedule.slot_s + (self._draws(schedule, elements, slots, 1) * schedule.start_within_s).astype(
            np.int64
        )
        span = schedule.max_duration_s - schedule.min_duration_s
        end = start + schedule.min_duration_s + (self._draws(schedule, elements, slots, 2) * span).astype(np.int64)
        return elements, slots, start, end

    def frames_between(
        self, start_s: float, end_s: float, now_s: float, children: bool = False, prefilter=None
    ) -> list[EventFrame]:
        """Frames (as of ``now_s``) whose [start, end] overlaps [start_s, end_s]; open frames end at +inf.

        Root frames only unless ``children``; sorted by start time, then name. ``prefilter(start, end)``
        (arrays; end = inf while open) may drop root frames early: it must keep every root that matches,
        or whose children may match.
        """
        out: list[EventFrame] = []
        hi = min(end_s, now_s)
        for schedule in SCHEDULES.values():
            elements = self._elements_of[schedule.word]
            if len(elements) == 0 or hi < start_s - schedule.max_duration_s - schedule.slot_s:
                continue
            s0 = int((start_s - schedule.max_duration_s - schedule.start_within_s) // schedule.slot_s)
            s1 = int(hi // schedule.slot_s)
            if s1 < s0:
                continue
            n_slots = s1 - s0 + 1
            el = np.repeat(elements, n_slots)
            sl = np.tile(np.arange(s0, s1 + 1, dtype=np.int64), len(elements))
            el, sl, st, en = self._roots(schedule, el, sl)
            en_now = np.where(en > now_s, np.inf, en)
            keep = (st <= hi) & (en_now >= start_s)
            if prefilter is not None:
                keep &= prefilter(st, en_now)
            for e, s in zip(el[keep].tolist(), sl[keep].tolist()):
                frame = self.frame(schedule, e, s, 0, now_s)
                if frame is not None:
                    out.append(frame)
                    if children:
                        out.extend(self.children(frame, now_s))
        out.sort(key=lambda f: (f.start_s, f.name))
        return out

    def frame(self, schedule: Schedule, element_index: int, slot: int, child: int, now_s: float) -> EventFrame | None:
        """The frame of (schedule, element, slot[, child]) as seen at ``now_s``, or None if it does not exist."""
        el = np.array([element_index], dtype=np.int64)
        sl = np.array([slot], dtype=np.int64)
        el, sl, st, en = self._roots(schedule, el, sl)
        element = self.universe.elements[element_index]
        if len(el) == 0 or st[0] > now_s or st[0] < self.af.created_s[element_index]:
            return None
        start, end = int(st[0]), int(en[0])
        u = self._draws(schedule, el, sl, 3)[0]
        n_children = 1 + int(u * 3) if schedule.word == "Alarm" else 0
        severity = SEVERITIES[int(u * 1000) % 4] if schedule.word == "Alarm" else "None"
        name = f"{schedule.word} {element.name} {_fmt(start)}"
        parent_guid = None
        if child:
            if child > n_children:
                return None
            parent_guid = _ef_guid(self.ns, schedule.code, 0, element_index, slot)
            part = (end - start) / n_children
            start, end = int(start + (child - 1) * part), int(start + child * part)
            if start > now_s:
                return None
            name = f"{name} #{child}"
            n_children = 0
        ack = None
        if schedule.word == "Alarm" and u < 0.7:
            ack = start + 300 + int(u * 3300)
            ack = ack if ack <= now_s else None
        guid = _ef_guid(self.ns, schedule.code, child, element_index, slot)
        root_path = f"{self.database_path}\\EventFrames[{name.rsplit(' #', 1)[0]}]"
        path = f"{root_path}\\EventFrames[{name}]" if child else root_path
        return EventFrame(
            schedule,
            element,
            slot,
            child,
            name,
            guid,
            start,
            end,
            OPEN_END_S if end > now_s else end,
            severity,
            ack,
            n_children,
            parent_guid,
            path,
        )

    def children(self, frame: EventFrame, now_s: float) -> list[EventFrame]:
        kids = (
            self.frame(frame.schedule, frame.element.index, frame.slot, j, now_s) for j in range(1, frame.children + 1)
        )
        return [k for k in kids if k is not None]

    def parent(self, frame: EventFrame, now_s: float) -> EventFrame | None:
        return self.frame(frame.schedule, frame.element.index, frame.slot, 0, now_s) if frame.child else None

    def by_guid(self, guid: uuid.UUID, now_s: float) -> EventFrame | None:
        raw = guid.bytes
        if raw[:4] != self.ns.bytes[:4] or raw[4] != ord("F") or raw[5] not in _BY_CODE:
            return None
        element, slot = struct.unpack("<ii", raw[8:])
        schedule = _BY_CODE[raw[5]]
        if (
            not 0 <= element < len(self.universe.elements)
            or self.universe.elements[element].template not in schedule.element_templates
        ):
            return None
        return self.frame(schedule, element, slot, raw[6], now_s)

    def by_path(self, path: str, now_s: float) -> EventFrame | None:
        """Resolve ``\\\\AF\\DB\\EventFrames[name]`` (or a child path), case-insensitively."""
        last = path.rsplit("EventFrames[", 1)[-1].rstrip("]")
        word, _, rest = last.partition(" ")
        element_name, _, stamp = rest.partition(" ")
        schedule = next((s for w, s in SCHEDULES.items() if w.upper() == word.upper()), None)
        element = next((e for n, e in self.af.by_name.items() if n.upper() == element_name.upper()), None)
        if schedule is None or element is None:
            return None
        stamp, _, child = stamp.partition(" #")
        try:
            start = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
        except ValueError:
            return None
        frame = self.frame(schedule, element.index, int(start // schedule.slot_s), int(child or 0), now_s)
        return frame if frame is not None and frame.path.upper() == path.upper() else None

    # -- attributes -----------------------------------------------------------------------------

    def attributes(self, frame: EventFrame) -> list[dict]:
        """EF attributes: PI Point ones read the primary element's tags, static ones hold a value."""
        out = []
        by_attribute = {t.sensor.attribute: t for t in self.af.tags_of[frame.element.index]}
        for name in frame.schedule.point_attributes:
            tag = by_attribute.get(name)
            if tag is not None:
                out.append({"name": name, "tag": tag, "type": None, "value": None})
        for name, type_ in frame.schedule.static_attributes:
            out.append({"name": name, "tag": None, "type": type_, "value": self.static_value(frame, name)})
        for i, attribute in enumerate(out):
            attribute["index"] = i
            attribute["guid"] = uuid.uuid5(self.ns, f"ef-attribute/{frame.guid}/{i}")
            attribute["path"] = f"{frame.path}|{attribute['name']}"
        return out

    def static_value(self, frame: EventFrame, name: str):
        u = float(
            uniform_v(np.uint64(key(self.seed, "ef-static", name)), np.array([frame.guid.int & (2**63 - 1)]), 0)[0]
        )
        if name == "Product":
            return _PRODUCTS[int(u * len(_PRODUCTS))]
        if name == "Batch ID":
            return f"B{frame.start_s // 60 % 10**7:07d}-{frame.element.name}"
        if name == "Reason":
            return _REASONS[int(u * len(_REASONS))]
        if name == "Work Order":
            return f"WO-{100000 + int(u * 900000)}"
        if name == "Technician":
            return ["A. Jansen", "M. Chen", "R. Okafor", "S. Müller", "L. García"][int(u * 5)]
        if name == "Priority":
            return 1 + int(u * 3)
        if name == "Limit":
            return 7.1
        return round(u * 1000, 1)


def template_matches(template: str, wanted: str | None) -> bool:
    """``templateName`` matches the template or any template it derives from (case-insensitive)."""
    if not wanted:
        return True
    return wanted.upper() in (t.upper() for t in template_chain(template))


SEARCH_MODES = (
    "None",
    "StartInclusive",
    "EndInclusive",
    "Inclusive",
    "Overlapped",
    "InProgress",
    "BackwardFromStartTime",
    "ForwardFromStartTime",
    "BackwardFromEndTime",
    "ForwardFromEndTime",
    "BackwardInProgress",
    "ForwardInProgress",
)
DIRECTIONAL_MODES = SEARCH_MODES[6:]

_WINDOW_PREDICATES = {
    "None": lambda f, s, e: f.start_s <= e and f.end_s >= s,
    "Overlapped": lambda f, s, e: f.start_s <= e and f.end_s >= s,
    "Inclusive": lambda f, s, e: s <= f.start_s and f.end_s <= e,
    "StartInclusive": lambda f, s, e: s <= f.start_s <= e,
    "EndInclusive": lambda f, s, e: s <= f.end_s <= e,
    "InProgress": lambda f, s, e: s <= f.start_s <= e and f.is_open,
}
# Necessary conditions on a root frame's (start, end) for it or one of its children to match a directional
# search from t (children lie within their parent, and an open child means an open parent).
_PREFILTERS = {
    "BackwardFromStartTime": lambda s, e, t: s <= t,
    "ForwardFromStartTime": lambda s, e, t: e >= t,
    "BackwardFromEndTime": lambda s, e, t: s <= t,
    "ForwardFromEndTime": lambda s, e, t: e >= t,
    "BackwardInProgress": lambda s, e, t: np.isinf(e) & (s <= t),
    "ForwardInProgress": lambda s, e, t: np.isinf(e),
}
_DIRECTIONAL = {  # mode -> (predicate on (frame, time), sort key, descending)
    "BackwardFromStartTime": (lambda f, t: f.start_s <= t, lambda f: f.start_s, True),
    "ForwardFromStartTime": (lambda f, t: f.start_s >= t, lambda f: f.start_s, False),
    "BackwardFromEndTime": (lambda f, t: f.end_s <= t, lambda f: f.end_s, True),
    "ForwardFromEndTime": (lambda f, t: f.end_s >= t, lambda f: f.end_s, False),
    "BackwardInProgress": (lambda f, t: f.is_open and f.start_s <= t, lambda f: f.start_s, True),
    "ForwardInProgress": (lambda f, t: f.is_open and f.start_s >= t, lambda f: f.start_s, False),
}


def search(
    model: EventFrameModel,
    mode: str,
    start_s: float,
    end_s: float,
    now_s: float,
    children: bool = False,
    wanted: int = 1000,
    accept=lambda f: True,
) -> list[EventFrame]:
    """Frames matching an AF ``searchMode`` (see docs/pi-web-api.md#event-frames), before paging and sorting.

    Window modes return every match; directional modes (``Backward*``/``Forward*`` from ``start_s``)
    return at least ``wanted`` matches in their time order when that many exist, widening the searched
    window step by step (frames never start before the universe's history or after now).
    """
    if mode not in DIRECTIONAL_MODES:
        test = _WINDOW_PREDICATES[mode]
        return [
            f for f in model.frames_between(start_s, end_s, now_s, children) if test(f, start_s, end_s) and accept(f)
        ]
    test, sort_key, descending = _DIRECTIONAL[mode]
    width = 86400.0
    while True:
        lo, hi = (start_s - width, start_s) if descending else (start_s, start_s + width)
        exhausted = lo <= HISTORY_START_S if descending else hi >= now_s
        prefilter = _PREFILTERS[mode]
        found = [
            f
            for f in model.frames_between(lo, hi, now_s, children, lambda st, en: prefilter(st, en, start_s))
            if test(f, start_s) and accept(f) and (exhausted or lo <= sort_key(f) <= hi)
        ]
        if len(found) >= wanted or exhausted:
            return sorted(found, key=lambda f: (sort_key(f), f.name), reverse=descending)
        width *= 4
