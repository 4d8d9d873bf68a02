"""State and semantics of one mock PI System, independent of HTTP: clock, universe, AF, event frames,
stream resolution and the recorded-data hot path."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np

from mock_pi import signals, webid
from mock_pi.af import AFModel, Attribute
from mock_pi.config import Expansion, MockConfig
from mock_pi.eventframes import EventFrame, EventFrameModel
from mock_pi.faults import Faults
from mock_pi.http import PIError
from mock_pi.signals import Events, ManyEvents, ProfileTable
from mock_pi.universe import Tag, Universe
from mock_pi.webid import WebIdError, decode

STATIC_TIMESTAMP_S = 0  # static attribute values are stamped 1970-01-01T00:00:00Z


class Stream(NamedTuple):
    """Something with values: a PI point, or an AF attribute (of an element or an event frame).

    A named tuple, not a frozen dataclass: a stream set makes one per WebId, and a tuple is made 4× faster."""

    web_id: str  # as requested
    name: str
    path: str
    units: str  # UnitsAbbreviation of its values ("" for PI points)
    source: str  # Links.Source, relative to /piwebapi/
    tag: Tag | None = None  # PI Point data reference (or the point itself)
    value: object = None  # static attribute value
    frame: EventFrame | None = None  # event-frame attribute: its time context

    @property
    def step(self) -> bool:
        return self.tag is None or self.tag.sensor.kind in ("digital", "string")


class MockPI:
    """One mock PI System: everything here is a pure function of (config, clock)."""

    def __init__(self, config: MockConfig):
        self._serve(config)
        self.faults = Faults(dict(config.faults), config.seed)
        self.fixed_now: float | None = config.now.timestamp() if config.now else None
        self.set_limits(config.max_returned_items_per_call, config.max_returned_items_for)

    def _serve(self, config: MockConfig) -> None:
        """Build the universe of ``config`` and everything derived from it."""
        universe = Universe(config)
        self.profiles = ProfileTable(universe.tags)  # a superset of the previous one: set before the universe
        self.config, self.universe = config, universe
        self.af = AFModel(universe)
        self.eventframes = EventFrameModel(self.af)
        self._tags_by_any_webid: dict[str, Tag] = dict(universe.tags_by_webid)
        self._point_streams: dict[str, Stream] = {}  # cached per universe

    def add_tags(self, count: int) -> Expansion:
        """A plant expansion of ``count`` tags (and their AF elements) now: the same as ``--expansion NOW=count``
        given at start, so the served universe stays a pure function of the configuration."""
        if count < 1:
            raise ValueError(f"count must be a whole number >= 1, not {count!r}.")
        if self.config.awkward_tags or self.config.dense_tags:
            # Points outside AF come after every AF tag: new AF tags would shift their point ids and WebIds.
            raise ValueError("Tags cannot be added at run time to a mock started with --awkward-tags/--dense-tags.")
        expansion = Expansion(datetime.fromtimestamp(int(self.now_s()), UTC), count)
        # Appended last: among expansions at the same time (sorted stably) the new tags come after the older ones.
        self._serve(replace(self.config, expansions=(*self.config.expansions, expansion)))
        return expansion

    # -- clock ----------------------------------------------------------------------------------

    def now_s(self) -> float:
        return self.fixed_now if self.fixed_now is not None else time.time()

    def set_now(self, now_s: float | None) -> None:
        """Freeze the clock at ``now_s`` (None = follow the wall clock again)."""
        self.fixed_now = now_s

    # -- limits and lookups ---------------------------------------------------------------------

    def set_limits(self, per_call: int, per_endpoint) -> None:
        """MaxReturnedItemsPerCall: server-wide, and lower ones for paths matching a regex (first match wins)."""
        compiled = [(re.compile(pattern, re.IGNORECASE), int(limit)) for pattern, limit in per_endpoint]
        if int(per_call) < 1 or any(limit < 1 for _, limit in compiled):
            raise ValueError("Limits must be at least 1.")
        self.limits = (int(per_call), tuple((p.pattern, n) for p, n in compiled))
        self._limits_for = compiled

    def max_returned_items(self, path: str) -> int:
        """MaxReturnedItemsPerCall for a request path: the first ``max_returned_items_for`` pattern that
        matches it, else the server-wide limit."""
        for pattern, limit in self._limits_for:
            if pattern.search(path):
                return limit
        return self.limits[0]

    def check_max_count(self, name: str, value: int, path: str) -> None:
        limit = self.max_returned_items(path)
        if value > limit:
            self.faults.count("limit_exceeded")
            raise PIError(400, f"Parameter '{name}' is greater than the maximum allowed ({limit}).")
        if value < 1:
            raise PIError(400, f"Parameter '{name}' must be greater than 0.")

    def tag(self, web_id: str) -> Tag:
        tag = self._tags_by_any_webid.get(web_id)
        if tag is None:
            try:
                tag = self.universe.find_tag(web_id)
            except WebIdError as exc:
                raise PIError(400, str(exc)) from exc
            if tag is not None and len(self._tags_by_any_webid) < 4 * len(self.universe.tags):
                self._tags_by_any_webid[web_id] = tag  # IDOnly/PathOnly forms: decode once
        if tag is None or tag.created_s > self.now_s():
            raise PIError(404, f"The specified PI Point was not found. WebId: '{web_id}'.")
        return tag

    def stream(self, web_id: str) -> Stream:
        """Resolve a stream WebID: a point (``DP``) or an attribute (``Ab``) of an element or event frame."""
        point = self._point_streams.get(web_id)
        if point is not None and point.tag.created_s <= self.now_s():
            return point
        if web_id[2:4] == "DP":  # a point (or an invalid WebID): tag() decodes it once and answers its errors
            return self._point_stream(web_id, self.tag(web_id))
        try:
            decoded = decode(web_id)
        except WebIdError as exc:
            raise PIError(400, str(exc)) from exc
        if decoded.marker == "Ab":
            stream = self._attribute_stream(web_id, decoded)
            if stream is not None:
                return stream
            raise PIError(404, f"The specified attribute was not found. WebId: '{web_id}'.")
        raise PIError(409, f"The specified object is not a stream (PI point or attribute). WebId: '{web_id}'.")

    def _point_stream(self, web_id: str, tag: Tag) -> Stream:
        stream = Stream(web_id, tag.name, tag.path, "", f"points/{web_id}", tag)
        if len(self._point_streams) < 4 * len(self.universe.tags):  # stream sets ask for the same ones again
            self._point_streams[web_id] = stream
        return stream

    def _attribute_stream(self, web_id: str, decoded) -> Stream | None:
        now = self.now_s()
        if decoded.owner == "E":
            attribute = self.af.attribute_at(web_id)
            if attribute is None or not self.af.visible(self.universe.elements[attribute.owner], now):
                return None
            return self.attribute_stream(attribute, web_id)
        found = self.eventframe_attribute(web_id)
        return None if found is None else self.eventframe_stream(*found, web_id=web_id)

    def eventframe_stream(
        self, frame: EventFrame, attribute: dict, kind: str = "Full", web_id: str | None = None
    ) -> Stream:
        web_id = web_id or self.eventframe_attribute_webid(frame, attribute, kind)
        tag = attribute["tag"]
        return Stream(
            web_id,
            attribute["name"],
            attribute["path"],
            tag.sensor.units if tag else "",
            f"attributes/{web_id}",
            tag,
            attribute["value"],
            frame,
        )

    def eventframe_attribute_webid(self, frame: EventFrame, attribute: dict, kind: str = "Full") -> str:
        return webid.object_webid(
            "Ab", [self.af.server_guid, frame.guid, attribute["guid"]], attribute["path"], kind, owner="F"
        )

    def eventframe_webid(self, frame: EventFrame, kind: str = "Full") -> str:
        return webid.object_webid("Fm", [self.af.server_guid, frame.guid], frame.path, kind)

    def attribute_stream(self, attribute: Attribute, web_id: str | None = None) -> Stream:
        web_id = web_id or attribute.webid
        return Stream(
            web_id,
            attribute.name,
            attribute.path,
            attribute.units,
            f"attributes/{web_id}",
            attribute.tag,
            attribute.value,
        )

    def eventframe(self, web_id: str) -> EventFrame | None:
        decoded = decode(web_id)
        if decoded.marker != "Fm":
            return None
        if decoded.guids:
            return self.eventframes.by_guid(decoded.guids[-1], self.now_s())
        return self.eventframes.by_path("\\\\" + (decoded.path or ""), self.now_s())

    def eventframe_attribute(self, web_id: str) -> tuple[EventFrame, dict] | None:
        decoded = decode(web_id)
        if decoded.marker != "Ab" or decoded.owner != "F":
            return None
        now = self.now_s()
        if decoded.guids:
            frame = self.eventframes.by_guid(decoded.guids[1], now)

            def match(a):
                return a["guid"] == decoded.guids[2]
        else:
            frame_path, _, name = (decoded.path or "").partition("|")
            frame = self.eventframes.by_path("\\\\" + frame_path, now)

            def match(a):
                return a["name"].upper() == name

        if frame is None:
            return None
        attribute = next((a for a in self.eventframes.attributes(frame) if match(a)), None)
        return (frame, attribute) if attribute is not None else None

    # -- recorded data --------------------------------------------------------------------------

    def recorded(self, tag: Tag, start_s: float, end_s: float, max_count: int) -> tuple[Events, bool]:
        """Recorded events between two times, truncated silently at ``max_count`` like PI does.

        Returns the events and whether they are in descending order (``end < start``).
        """
        many = self.recorded_tags([tag], start_s, end_s, max_count)
        return many.of(0), end_s < start_s

    def recorded_tags(self, tags: list[Tag], start_s: float, end_s: float, max_count: int) -> ManyEvents:
        """Recorded events of many tags at once (descending when end < start), each cut at ``max_count``."""
        descending = end_s < start_s
        lo, hi = (end_s, start_s) if descending else (start_s, end_s)
        index = np.fromiter((t.point_id - 1 for t in tags), dtype=np.int64, count=len(tags))
        many = signals.recorded_many(
            self.profiles, index, lo, hi, self.now_s(), self.config.seed, self.config.late_lag_seconds
        )
        counts = np.diff(many.offsets)
        if not descending and counts.max(initial=0) <= max_count:
            return many
        parts = []
        for a, b in zip(many.offsets[:-1].tolist(), many.offsets[1:].tolist()):
            rows = np.arange(b - 1, a - 1, -1) if descending else np.arange(a, b)
            parts.append(rows[:max_count])
        take = np.concatenate(parts) if parts else np.empty(0, np.int64)
        offsets = np.zeros(len(tags) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=offsets[1:])
        return ManyEvents(many.events.take(take), offsets)

    @staticmethod
    def context_margin(tag: Tag) -> float:
        """How far before/after a range :meth:`context` looks for the events around it: ten samples, and
        at least 2 h, longer than any gap the generator makes (interface outages last at most 100 min)."""
        return max(10 * tag.sensor.period_s, 2 * 3600)

    def context(self, tag: Tag, lo: float, hi: float) -> Events:
        """Events in [lo, hi] plus enough before ``lo`` (and after ``hi``) to interpolate at both ends."""
        margin = self.context_margin(tag)
        return signals.recorded(
            tag, lo - margin, hi + margin, self.now_s(), self.config.seed, self.config.late_lag_seconds
        )
