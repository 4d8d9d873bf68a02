"""Stream data: ``/streams/{webId}/...`` and ``/streamsets/...`` (ad hoc and by parent element / event frame).

Every operation is written once for a list of streams; the single-stream endpoint is the one-item case.
Recorded data for many PI-point streams is generated and rendered in one vectorised pass
(:func:`recorded_items`), which is also what ``POST /batch`` uses for runs of recorded sub-requests.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mock_pi import calc, render, signals
from mock_pi.af import template_chain
from mock_pi.http import Ctx, PIError, Reply
from mock_pi.router import Router
from mock_pi.routes.common import collection, filtered, required, resolve, time_param, time_range
from mock_pi.signals import CALC_FAILED, Events, ManyEvents, empty
from mock_pi.state import STATIC_TIMESTAMP_S, MockPI, Stream
from mock_pi.timeparse import TimeParseError, duration_seconds

BOUNDARY_TYPES = ("Inside", "Outside", "Interpolated")
BASES = (
    "TimeWeighted",
    "EventWeighted",
    "TimeWeightedContinuous",
    "TimeWeightedDiscrete",
    "EventWeightedExcludeMostRecentEvent",
    "EventWeightedExcludeEarliestEvent",
    "EventWeightedIncludeBothEnds",
)
OPERATIONS = ("recorded", "interpolated", "plot", "summary", "value", "end")


# -- time context -------------------------------------------------------------------------------------


def stream_range(mock: MockPI, ctx: Ctx, stream: Stream) -> tuple[float, float]:
    """startTime/endTime, defaulting to ``*-1d``/``*`` — or to the event frame's own start/end."""
    frame = stream.frame
    if frame is None:
        return time_range(mock, ctx)
    end = min(frame.end_s, mock.now_s())
    start = time_param(mock, ctx, "startTime", str(frame.start_s), None) if ctx.one("startTime") else frame.start_s
    return start, time_param(mock, ctx, "endTime", "*", start) if ctx.one("endTime") else end


def _grouped(mock: MockPI, ctx: Ctx, streams: list[Stream], compute: Callable) -> list:
    """Run ``compute(streams, start, end)`` per distinct time range (streams of one frame share one)."""
    plain = time_range(mock, ctx) if any(s.frame is None for s in streams) else None
    ranges = [plain if s.frame is None else stream_range(mock, ctx, s) for s in streams]
    out: list = [None] * len(streams)
    for rng in dict.fromkeys(ranges):
        members = [i for i, r in enumerate(ranges) if r == rng]
        for i, result in zip(members, compute([streams[i] for i in members], *rng)):
            out[i] = result
    return out


def _static_items(stream: Stream, selection) -> list[dict]:
    return render.select([render.timed_value(STATIC_TIMESTAMP_S, stream.value, True, stream.units)], selection)


def _render(streams: list[Stream], many: ManyEvents, selection) -> list:
    """Items of each stream: rendered point data, or the static value of a static attribute."""
    points = [i for i, s in enumerate(streams) if s.tag is not None]
    fragments = render.stream_values_json(
        [streams[i].tag for i in points], many.events, many.offsets, selection, [streams[i].units for i in points]
    )
    out: list = [None] * len(streams)
    for i, fragment in zip(points, fragments):
        out[i] = fragment
    return [o if o is not None else _static_items(s, selection) for o, s in zip(out, streams)]


def _concat(parts: list[Events]) -> ManyEvents:
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in parts], out=offsets[1:])
    if not parts:
        return ManyEvents(empty(), offsets)
    fields = ("ts", "value", "system_state", "questionable", "substituted", "annotated")
    return ManyEvents(Events(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields)), offsets)


# -- operations (list of streams -> list of Items / Value) ---------------------------------------------


def recorded_items(mock: MockPI, ctx: Ctx, streams: list[Stream], selection) -> list:
    max_count = ctx.int("maxCount", 1000)
    mock.check_max_count("maxCount", max_count, ctx.path)
    boundary = ctx.choice("boundaryType", BOUNDARY_TYPES, "Inside")

    def compute(group: list[Stream], start: float, end: float) -> list:
        points = [s for s in group if s.tag is not None]
        if boundary == "Inside":
            many = mock.recorded_tags([s.tag for s in points], start, end, max_count)
        else:  # every stream's events around the range generated in one pass, then cut stream by stream
            contexts = _contexts(mock, [s.tag for s in points], min(start, end), max(start, end))
            many = _concat([_bounded(e, s, start, end, boundary, max_count) for s, e in zip(points, contexts)])
        return _render(group, many, selection) if points else [_static_items(s, selection) for s in group]

    return _grouped(mock, ctx, streams, compute)


def _bounded(events: Events, stream: Stream, start: float, end: float, boundary: str, max_count: int) -> Events:
    """Recorded values with ``Outside`` (one event beyond each end) or ``Interpolated`` boundaries, from the
    stream's events around the range (``mock.context``)."""
    lo, hi = min(start, end), max(start, end)
    inside = np.flatnonzero((events.ts >= lo) & (events.ts <= hi))
    if boundary == "Outside":
        before = np.flatnonzero(events.ts < lo)
        after = np.flatnonzero(events.ts > hi)
        rows = np.concatenate([before[-1:], inside, after[:1]])
        result = events.take(rows)
    else:
        edges = calc.interpolate(events, np.array([lo, hi]), stream.step)
        inner = events.take(inside)
        first = edges.take([0]) if not len(inner) or inner.ts[0] > lo else empty()
        last = edges.take([1]) if (not len(inner) or inner.ts[-1] < hi) and hi > lo else empty()
        result = _concat([first, inner, last]).events
    if end < start:
        result = result.take(slice(None, None, -1))
    return result.take(slice(0, max_count))


def interpolated_items(mock: MockPI, ctx: Ctx, streams: list[Stream], selection) -> list:
    interval = _duration(ctx, "interval", "1h")

    def compute(group, start, end):
        count = int((end - start) // interval) + 1 if end >= start else 0
        mock.check_max_count("interval", max(count, 1), ctx.path)
        times = start + np.arange(count) * interval
        parts = [calc.interpolate(mock.context(s.tag, start, end), times, s.step) for s in group if s.tag]
        return _render(group, _concat(parts), selection)

    return _grouped(mock, ctx, streams, compute)


def plot_items(mock: MockPI, ctx: Ctx, streams: list[Stream], selection) -> list:
    intervals = ctx.int("intervals", 24)
    mock.check_max_count("intervals", intervals, ctx.path)

    def compute(group, start, end):
        lo, hi = min(start, end), max(start, end)
        parts = []
        for s in group:
            if s.tag is None:
                continue
            events = mock.recorded_tags([s.tag], lo, hi, mock.max_returned_items(ctx.path)).of(0)
            parts.append(events.take(calc.plot(events, lo, hi, intervals)))
        return _render(group, _concat(parts), selection)

    return _grouped(mock, ctx, streams, compute)


def summary_items(mock: MockPI, ctx: Ctx, streams: list[Stream], selection) -> list:
    """Summaries by PI's rules (``mock_pi/calc.py``, ``docs/pi-summaries.md``): per stream and interval
    of ``summaryDuration`` (or the whole range), one item per summary type; bad results carry an error
    state with ``Good: false``."""
    types = [ctx_choice(t, calc.SUMMARY_TYPES, "summaryType") for t in ctx.many("summaryType")] or ["Total"]
    basis = ctx.choice("calculationBasis", BASES, "TimeWeighted")
    time_type = ctx.choice("timeType", calc.TIME_TYPES, "Auto")
    duration = _duration(ctx, "summaryDuration", None) if ctx.one("summaryDuration") else None

    def compute(group, start, end):
        lo, hi = min(start, end), max(start, end)
        windows = (
            [(lo, hi)] if not duration else [(t, min(t + duration, hi)) for t in np.arange(lo, hi, duration).tolist()]
        )
        mock.check_max_count("summaryDuration", len(windows) * len(types), ctx.path)
        out = []
        contexts = _contexts(mock, [s.tag for s in group], lo, hi)
        for s, events in zip(group, contexts):
            items = []
            numeric = s.tag is not None and s.tag.sensor.kind in ("analog", "counter")
            for a, b in windows:
                for value in calc.summarize(events, a, b, types, basis, numeric, s.step, len(windows), time_type):
                    v = value.value if value.good else render.system_state(CALC_FAILED)
                    items.append({"Type": value.type, "Value": render.timed_value(value.ts, v, value.good, s.units)})
            out.append(render.select(items, selection))
        return out

    return _grouped(mock, ctx, streams, compute)


def _contexts(mock: MockPI, tags: list, lo: float, hi: float) -> list[Events]:
    """``mock.context(tag, lo, hi)`` of every tag (None: no events), generated in one vectorised pass per
    distinct margin: the events in [lo, hi] and around both ends, which time-weighted summaries need."""
    out = [empty() for _ in tags]
    groups: dict[float, list[int]] = {}
    for i, tag in enumerate(tags):
        if tag is not None:
            groups.setdefault(mock.context_margin(tag), []).append(i)
    for margin, members in groups.items():
        index = np.array([tags[i].point_id - 1 for i in members], dtype=np.int64)
        many = signals.recorded_many(
            mock.profiles, index, lo - margin, hi + margin, mock.now_s(), mock.config.seed, mock.config.late_lag_seconds
        )
        for k, i in enumerate(members):
            out[i] = many.of(k)
    return out


def ctx_choice(text: str, options: tuple[str, ...], name: str) -> str:
    for option in options:
        if option.lower() == text.lower():
            return option
    raise PIError(400, f"The value '{text}' is not valid for parameter '{name}'.")


def _duration(ctx: Ctx, name: str, default: str | None) -> float:
    text = ctx.one(name, default)
    try:
        seconds = duration_seconds(text)
    except TimeParseError as exc:
        raise PIError(400, f"The value '{text}' is not valid for parameter '{name}'.") from exc
    if seconds <= 0:
        raise PIError(400, f"The value '{text}' is not valid for parameter '{name}'.")
    return seconds


def _value_at(mock: MockPI, stream: Stream, at: float | None, selection) -> dict:
    """The value at ``at`` (interpolated), or the snapshot / end-of-stream value when ``at`` is None."""
    if stream.tag is None:
        return render.select(render.timed_value(STATIC_TIMESTAMP_S, stream.value, True, stream.units), selection)
    now = mock.now_s()
    if at is None:
        events = mock.context(stream.tag, now, now)
        events = events.take(events.ts <= now)
        value = events.take(slice(-1, None)) if len(events) else calc.interpolate(events, np.array([now]), True)
    else:
        value = calc.interpolate(mock.context(stream.tag, at, at), np.array([at]), stream.step)
    return render.select(render.timed_values(stream.tag, value, units=stream.units)[0], selection)


def value_items(mock: MockPI, ctx: Ctx, streams: list[Stream], selection, end: bool = False) -> list:
    out = []
    for s in streams:
        if end or not ctx.one("time"):
            at = None if s.frame is None or s.frame.is_open else float(s.frame.end_s)
        else:
            at = time_param(mock, ctx, "time", "*")
        out.append(_value_at(mock, s, at, selection))
    return out


# -- routes -------------------------------------------------------------------------------------------

ITEMS_OPERATIONS = {
    "recorded": recorded_items,
    "interpolated": interpolated_items,
    "plot": plot_items,
    "summary": summary_items,
}


def register(router: Router, mock: MockPI) -> None:
    def single(operation: str):
        def handler(ctx: Ctx):
            stream = mock.stream(ctx.route["webId"])
            if operation in ("value", "end"):
                return value_items(mock, ctx, [stream], ctx.selection, end=operation == "end")[0]
            items = ITEMS_OPERATIONS[operation](mock, ctx, [stream], render.child(ctx.selection, "Items"))[0]
            body = {"Links": {}, "Items": items}
            if operation != "summary":
                body["UnitsAbbreviation"] = stream.units
            return body

        return handler

    def streamset(operation: str, streams_of: Callable[[Ctx], list]):
        def handler(ctx: Ctx):
            resolved = streams_of(ctx)
            good = [s for s in resolved if isinstance(s, Stream)]
            stream_sel = render.child(ctx.selection, "Items")
            if operation in ("value", "end"):
                results = value_items(mock, ctx, good, render.child(stream_sel, "Value"), end=operation == "end")
            else:
                results = ITEMS_OPERATIONS[operation](mock, ctx, good, render.child(stream_sel, "Items"))
            results_iter = iter(results)
            rendered = "Value" if operation in ("value", "end") else "Items"
            items = []
            for s in resolved:
                if not isinstance(s, Stream):
                    items.append(s)
                    continue
                item = {"WebId": s.web_id, "Name": s.name, "Path": s.path, "Links": {"Source": f"{ctx.base}{s.source}"}}
                item[rendered] = next(results_iter)
                if operation not in ("summary", "value", "end"):
                    item["UnitsAbbreviation"] = s.units
                items.append(item)
            return Reply(_select_stream_set(collection(items), ctx.selection, rendered), selected=True)

        return handler

    def ad_hoc(ctx: Ctx) -> list:
        web_ids = ctx.many("webId")
        if not web_ids:
            raise PIError(400, "The 'webId' parameter is required.")
        mock.check_max_count("webId", len(web_ids), ctx.path)
        out = []
        for wid in web_ids:
            try:
                out.append(mock.stream(wid))
            except PIError as exc:
                if exc.status != 404:
                    raise
                out.append(
                    {
                        "WebId": wid,
                        "Items": [],
                        "UnitsAbbreviation": "",
                        "WebException": {"StatusCode": 404, "Errors": exc.errors},
                    }
                )
        return out

    def by_parent(ctx: Ctx) -> list:
        return parent_streams(mock, ctx, ctx.route["webId"])

    for op in OPERATIONS:
        router.add("GET", f"/piwebapi/streams/{{webId}}/{op}", single(op))
        router.add("GET", f"/piwebapi/streamsets/{op}", streamset(op, ad_hoc))
        router.add("GET", f"/piwebapi/streamsets/{{webId}}/{op}", streamset(op, by_parent))

    @router.route("GET", "/piwebapi/attributes/{webId}/value")
    def attribute_value(ctx: Ctx):
        stream = mock.stream(ctx.route["webId"])
        if stream.tag is not None:
            raise PIError(409, "The attribute has a data reference: read it with /streams/{webId}/value.")
        return _value_at(mock, stream, None, ctx.selection)

    @router.route("GET", "/piwebapi/streams/{webId}/recordedattime")
    def recorded_at_time(ctx: Ctx):
        stream = mock.stream(ctx.route["webId"])
        at = time_param(mock, ctx, "time", required(ctx, "time"))
        mode = ctx.choice("retrievalMode", ("Auto", "AtOrBefore", "Before", "AtOrAfter", "After", "Exact"), "Auto")
        if stream.tag is None:
            return _value_at(mock, stream, None, ctx.selection)
        events = mock.context(stream.tag, at, at)
        pick = {
            "Auto": events.ts <= at,
            "AtOrBefore": events.ts <= at,
            "Before": events.ts < at,
            "AtOrAfter": events.ts >= at,
            "After": events.ts > at,
            "Exact": events.ts == at,
        }[mode]
        rows = np.flatnonzero(pick)
        if not len(rows):
            if mode == "Exact":
                raise PIError(404, f"No value exists at {ctx.one('time')}.")
            return render.select(render.timed_value(at, render.system_state(248), False, stream.units), ctx.selection)
        row = rows[-1] if mode in ("Auto", "AtOrBefore", "Before", "Exact") else rows[0]
        return render.select(render.timed_values(stream.tag, events.take([row]), units=stream.units)[0], ctx.selection)


def _select_stream_set(body: dict, selection, rendered: str) -> dict:
    """``render.select(body, selection)`` for a stream-set collection, without walking each stream's
    ``rendered`` field: the operation built it with its own part of the selection already."""
    if selection is None:
        return body
    below = selection.get("Items")
    out = {}
    for key, value in body.items():
        if key not in selection:
            continue
        if key == "Items" and below:
            value = [
                {
                    k: v if k == rendered or not below[k] else render.select(v, below[k])
                    for k, v in item.items()
                    if k in below
                }
                for item in value
            ]
        elif selection[key]:
            value = render.select(value, selection[key])
        out[key] = value
    return out


def parent_streams(mock: MockPI, ctx: Ctx, web_id: str) -> list[Stream]:
    """Attribute streams of an element or event frame, filtered like PI (nameFilter, categoryName,
    templateName of the attribute's element template)."""
    frame = (
        resolve(lambda w: mock.eventframe(w) if w[2:4] == "Fm" else None, web_id, "event frame")
        if web_id[2:4] == "Fm"
        else None
    )
    if frame is not None:
        streams = [mock.eventframe_stream(frame, a, ctx.webid_type) for a in mock.eventframes.attributes(frame)]
    else:
        element = resolve(mock.af.element_at, web_id, "element")
        if not mock.af.visible(element, mock.now_s()):
            raise PIError(404, f"The specified element was not found. WebId: '{web_id}'.")
        attributes = mock.af.attributes(element)
        category = ctx.one("categoryName")
        if category:
            attributes = [a for a in attributes if a.category.upper() == category.upper()]
        template = ctx.one("templateName")
        if template and template.upper() not in (t.upper() for t in template_chain(element.template)):
            attributes = []
        streams = [mock.attribute_stream(a, mock.af.attribute_webid(a, ctx.webid_type)) for a in attributes]
    return filtered(streams, ctx.one("nameFilter"))


def prefetch_recorded(mock: MockPI, ctxs: list[Ctx]) -> dict[int, Reply]:
    """Answers for the ``GET streams/{webId}/recorded`` requests among ``ctxs``, computed together per
    distinct query string: the same bodies the single-stream route gives, in one vectorised pass."""
    groups: dict[tuple, list[int]] = {}
    for i, ctx in enumerate(ctxs):
        parts = ctx.path.strip("/").split("/")
        if (
            ctx.method == "GET"
            and len(parts) == 4
            and [p.lower() for p in parts[:2]] == ["piwebapi", "streams"]
            and parts[3].lower() == "recorded"
        ):
            groups.setdefault(tuple(ctx.query), []).append(i)
    out: dict[int, Reply] = {}
    for members in groups.values():
        streams, ok = [], []
        for i in members:
            try:
                streams.append(mock.stream(ctxs[i].path.strip("/").split("/")[2]))
                ok.append(i)
            except PIError:
                continue  # answered by the normal route, with its error
        if not streams:
            continue
        ctx = ctxs[ok[0]]
        try:
            results = recorded_items(mock, ctx, streams, render.child(ctx.selection, "Items"))
        except PIError:
            continue
        for i, stream, items in zip(ok, streams, results):
            body = {"Links": {}, "Items": items, "UnitsAbbreviation": stream.units}
            out[i] = Reply(render.select(body, ctx.selection), selected=True)
    return out
