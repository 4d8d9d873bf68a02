"""PI's own computations for many tags at once, without Dagster: summaries (``streamsets/summary``),
interpolated values (``streamsets/interpolated``) and the recorded events around a time
(``streamsets/recorded`` with ``boundaryType=Outside``).

Requests are cut like the batch controller's (``osipi_dagster/pi/batch_controller.py``): chunks of at most
``streams_per_request`` IDOnly WebIds whose URL stays under :data:`MAX_URL_LENGTH` and whose answer
(streams × values per stream) stays under the server's MaxReturnedItemsPerCall, run on a bounded thread
pool over the client's pooled connections. A stream PI reports as failed inside a good answer is asked
again on its own (from the client's retry budget); if it still fails, the whole read fails with
:class:`PIStreamErrors` naming the tags — never a silently partial table.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from urllib.parse import urlencode

import polars as pl

from osipi_dagster.pi.client import PIWebAPIClient, error_text, items_of
from osipi_dagster.pi.errors import PIStreamErrors, PIWebAPIError
from osipi_dagster.pi.time_window import pi_time
from osipi_dagster.pi.transports import MAX_URL_LENGTH, cut_into_chunks
from osipi_dagster.pi.values import RAW_SCHEMA, UTC_TIMESTAMP, VALUE_FIELDS, ValueColumns, parse_pi_timestamps
from osipi_dagster.pi.webids import short_webid, tag_label

SUMMARY_SCHEMA = {
    "tag_webid": pl.String(),
    "basis": pl.String(),
    "type": pl.String(),
    "timestamp": UTC_TIMESTAMP,
    "value": pl.Float64(),
    "good": pl.Boolean(),
    "error": pl.String(),
}
VALUES_FIELDS = ";".join(
    ["Items.WebId", "Items.WebException", "Items.Errors"] + [f"Items.Items.{f}" for f in VALUE_FIELDS]
)
SUMMARY_FIELDS = "Items.WebId;Items.WebException;Items.Errors;Items.Items.Type;Items.Items.Value"


class StreamSetReader:
    """Stream-set reads of many tags, chunked and retried like the batch controller's."""

    def __init__(
        self,
        client: PIWebAPIClient,
        *,
        streams_per_request: int = 100,
        max_concurrency: int = 4,
        max_items_per_call: int = 150_000,
    ):
        self.client = client
        self.streams_per_request = max(1, streams_per_request)
        self.max_concurrency = max(1, max_concurrency)
        self.max_items_per_call = max_items_per_call

    # -- what the callers use ---------------------------------------------------------------------

    def summaries(
        self, webids: Sequence[str], start: datetime, end: datetime, duration: str, basis: str, types: Sequence[str]
    ) -> pl.DataFrame:
        """PI's summaries of each interval of ``duration`` in ``[start, end]`` (SUMMARY_SCHEMA, long: one
        row per tag, interval and type). ``timeType=EarliestTime`` stamps every value with its interval's
        start, so rows name their interval whatever the type."""
        intervals = max(1, int((end - start) / _timedelta(duration)))
        params = [
            ("startTime", pi_time(start)),
            ("endTime", pi_time(end)),
            ("summaryDuration", duration),
            ("calculationBasis", basis),
            ("timeType", "EarliestTime"),
            *[("summaryType", t) for t in types],
            ("selectedFields", SUMMARY_FIELDS),
        ]
        found = self._read("summary", webids, params, intervals * len(types), f"{pi_time(start)}..{pi_time(end)}")
        rows = [
            (webid, basis, item.get("Type"), item.get("Value") or {})
            for webid, items in found.items()
            for item in items
        ]
        if not rows:
            return pl.DataFrame(schema=SUMMARY_SCHEMA)
        values = [v.get("Value") for *_, v in rows]
        good = [
            bool(v.get("Good", True)) and isinstance(x, (int, float)) and not isinstance(x, bool)
            for (*_, v), x in zip(rows, values)
        ]
        return pl.DataFrame(
            {
                "tag_webid": [r[0] for r in rows],
                "basis": [r[1] for r in rows],
                "type": [r[2] for r in rows],
                "timestamp": parse_pi_timestamps(pl.Series([v.get("Timestamp") for *_, v in rows], dtype=pl.String)),
                "value": [float(x) if ok else None for x, ok in zip(values, good)],
                "good": good,
                "error": [None if ok else _state_text(x) for x, ok in zip(values, good)],
            },
            schema=SUMMARY_SCHEMA,
        )

    def interpolated(self, webids: Sequence[str], start: datetime, end: datetime, interval: str) -> pl.DataFrame:
        """PI's interpolated values at ``start``, ``start + interval``, … ``end`` (RAW_SCHEMA)."""
        count = int((end - start) / _timedelta(interval)) + 1
        params = [
            ("startTime", pi_time(start)),
            ("endTime", pi_time(end)),
            ("interval", interval),
            ("selectedFields", VALUES_FIELDS),
        ]
        return _values_frame(self._read("interpolated", webids, params, count, f"{pi_time(start)}..{pi_time(end)}"))

    def events_around(self, webids: Sequence[str], at: datetime, max_count: int = 100) -> pl.DataFrame:
        """The recorded events at ``at`` plus the last one before and the first one after it (PI's
        ``Outside`` boundary over the zero-length range ``[at, at]``), in PI's order: RAW_SCHEMA plus
        ``sequence`` (0, 1, … per tag)."""
        params = [
            ("startTime", pi_time(at)),
            ("endTime", pi_time(at)),
            ("boundaryType", "Outside"),
            ("maxCount", max_count),
            ("selectedFields", VALUES_FIELDS),
        ]
        frame = _values_frame(self._read("recorded", webids, params, max_count, pi_time(at)))
        return frame.with_columns(sequence=pl.int_range(pl.len(), dtype=pl.Int32).over("tag_webid"))

    # -- chunked, concurrent, retried -------------------------------------------------------------

    def _url(self, operation: str, webids: list[str], params: list) -> str:
        query = urlencode([("webId", short_webid(w)) for w in webids] + params + [("webIdType", "IDOnly")])
        return f"{self.client.url(f'streamsets/{operation}')}?{query}"

    def chunks(self, operation: str, webids: list[str], params: list, items_per_stream: int) -> list[list[str]]:
        """Consecutive chunks: at most ``streams_per_request`` streams, under MaxReturnedItemsPerCall and
        under the URL budget."""
        limit = self.client.items_limit(self.max_items_per_call)  # a lower limit the server announced wins
        size = max(1, min(self.streams_per_request, limit // max(1, items_per_stream)))
        return cut_into_chunks(webids, size, lambda chunk: len(self._url(operation, chunk, params)) <= MAX_URL_LENGTH)

    def _read(
        self, operation: str, webids: Sequence[str], params: list, items_per_stream: int, label: str
    ) -> dict[str, list[dict]]:
        webids = list(dict.fromkeys(webids))
        chunks = self.chunks(operation, webids, params, items_per_stream)
        found: dict[str, list[dict]] = {}
        failures: dict[str, str] = {}
        with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix=f"pi-{operation}") as pool:
            for answers in pool.map(lambda c: self._fetch(operation, c, params), chunks):
                for webid, (items, error) in answers.items():
                    if error is None:
                        found[webid] = items
                        continue
                    try:
                        found[webid] = self._retry_alone(operation, webid, params, error)
                    except PIWebAPIError as exc:
                        failures[tag_label(webid)] = f"{error}; retried alone: {exc}"
        if failures:
            raise PIStreamErrors(failures, f"streamsets/{operation} {label}")
        return {w: found[w] for w in webids}  # in the caller's order

    def _fetch(self, operation: str, webids: list[str], params: list) -> dict[str, tuple[list, str | None]]:
        """One request: each stream's items, or the error PI reported for it (missing streams are errors)."""
        url = self._url(operation, webids, params)
        original = {short_webid(w): w for w in webids} | {w: w for w in webids}
        answers: dict[str, tuple[list, str | None]] = {w: ([], "missing from the response") for w in webids}
        for stream in items_of(self.client.get(url), self.client.url(f"streamsets/{operation}")):
            webid = original.get(stream.get("WebId"))
            if webid is None:
                continue
            error = stream.get("WebException") or stream.get("Errors")
            answers[webid] = ([], error_text(error)) if error else (stream.get("Items") or [], None)
        return answers

    def _retry_alone(self, operation: str, webid: str, params: list, error: str) -> list[dict]:
        if not self.client.take_retry():
            raise PIWebAPIError("not retried: the client's retry budget is spent")
        time.sleep(self.client.backoff_seconds(1))
        items, again = self._fetch(operation, [webid], params)[webid]
        if again is not None:
            raise PIWebAPIError(again)
        return items


def _values_frame(found: dict[str, list[dict]]) -> pl.DataFrame:
    columns = ValueColumns()
    for webid, items in found.items():
        columns.add(webid, items)
    return columns.to_frame() if len(columns) else pl.DataFrame(schema=RAW_SCHEMA)


def _state_text(value) -> str:
    if isinstance(value, dict):
        return str(value.get("Name") or error_text(value))
    return "no value" if value is None else str(value)


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _timedelta(text: str) -> timedelta:
    """``1h`` / ``30m`` / ``10s`` → a timedelta (the fixed-length PI intervals these readers accept)."""
    number = text.strip().rstrip("smhd")
    unit = text.strip()[len(number) :]
    if unit not in _UNITS or not number:
        raise ValueError(f"Interval '{text}' is not a fixed PI duration such as 30s, 15m, 1h or 1d")
    return timedelta(seconds=float(number) * _UNITS[unit])
