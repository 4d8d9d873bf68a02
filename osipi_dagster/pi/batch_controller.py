"""The batch controller: every recorded value of many tags in a time window, nothing lost.

How a window ``[start, end)`` is read:

1. Tags are cut into chunks of at most ``streams_per_request`` so that streams × maxCount stays under the
   server's MaxReturnedItemsPerCall and every URL stays under the transport's size limits; chunks run on
   a bounded thread pool sharing the client's keep-alive connections.
2. Each chunk is one request through one of the transports (:mod:`osipi_dagster.pi.transports`). A chunk
   the server rejects as too large is split in half and re-sent; a server that announces a lower
   MaxReturnedItemsPerCall than configured (a 400, or 400 sub-responses) has its limit adopted, by this
   and every later request of the client.
3. A stream that returned exactly maxCount values may have more (PI truncates silently): it is paged on
   its own with kukur's duplicate-safe algorithm (docs/pi-web-api.md#duplicate-safe-paging).
4. A stream that failed inside a successful response (an error sub-response, a ``WebException`` next to
   cut-short values) is retried on its own (after a backoff, from the client's retry budget); if it still
   fails, the whole window fails with :class:`PIStreamErrors` naming the tags and PI's error — never a
   silent partial window.

Several hours per request (a range run): the controller remembers how many values each stream returned in its last
window. :meth:`BatchController.span_hours` then proposes how many hours the next window may cover, and the chunks
of a window whose streams were read before are cut from those rates (busiest streams first, so a chunk of fast
streams holds fewer of them): each stream's maxCount covers its expected values with headroom, and a request
plans about ``values_per_request`` values. The guess only sizes requests: a stream that returns maxCount values
is paged as in step 3, so exactness never depends on it.

Each chunk's JSON becomes a columnar frame as soon as it arrives; ``extract_chunks`` hands the frames on
one by one (``pi_timeseries`` writes them straight into the Delta commit), so memory holds a few chunks'
values, not the window's; ``extract`` gathers them into one frame.

PI's ``Inside`` boundary includes both ends; values stamped exactly at ``end`` belong to the next window
and are dropped here, so adjacent windows never share a row.
"""

from __future__ import annotations

import bisect
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate, islice
from typing import Literal

import polars as pl

from osipi_dagster.pi.client import PIWebAPIClient
from osipi_dagster.pi.errors import PIStreamErrors, PIWebAPIError
from osipi_dagster.pi.time_window import Window
from osipi_dagster.pi.transports import TRANSPORTS, StreamResult, StreamsTransport, fitting_length
from osipi_dagster.pi.values import RAW_SCHEMA, UTC_TIMESTAMP, TimedValue, ValueColumns
from osipi_dagster.pi.webids import tag_label

log = logging.getLogger(__name__)

TransportName = Literal["streamsets", "batch", "streams"]
_TOO_LARGE_STATUS = {413, 414}  # body / URL too large: halve the chunk
_PAGE_SIZE = 10_000  # values per request when one stream is paged on its own
# Values a request is planned to return once stream rates are known: large enough that a request's fixed cost
# vanishes, small enough that the decoded answers of the requests in flight stay a few tens of MB.
VALUES_PER_REQUEST = 50_000
MAX_SPAN_HOURS = 24  # a window of more hours would plan from an older guess of each stream's rate
# Streams a planned (or widened blind) chunk may hold. A blind chunk of ``streams_per_request`` has a maxCount that
# covers a busy stream; a chunk whose streams are known (or seen) to be quieter holds as many as its request fits (a
# stream-set URL: ~195 IDOnly WebIds): fewer requests, each with less fixed cost on both ends.
MAX_PLANNED_STREAMS = 1_000
_HEADROOM = 1.25  # values planned for a stream beyond its last rate: a busier stretch is rarely paged
_MIN_PLANNED = 10  # values planned for a stream that returned none last time
# Blind chunks (rates unknown) widen once this many streams came back (two narrow chunks' worth, at the default) ...
_BLIND_SAMPLE = 200
# ... while at most this share of the streams read returned a wide chunk's maxCount or more. A wide chunk of ~195
# streams saves 1/100 - 1/195 ≈ 0.5 % of a request per stream over chunks of 100; each busy stream costs one
# paging request: below half that share wide chunks are clearly cheaper.
_WIDE_BUSY_SHARE = 0.0025


@dataclass
class ExtractionStats:
    streams: int = 0
    rows: int = 0
    chunks: int = 0
    split_chunks: int = 0  # chunks the server found too large, re-sent in parts
    paged_streams: int = 0  # streams that hit maxCount and were paged
    retried_streams: int = 0  # streams that failed inside a response and were retried alone
    seconds: float = 0.0


@dataclass
class _Chunk:
    """What one chunk produced: its values, the streams that failed, and how many were paged/retried."""

    frame: pl.DataFrame
    failures: dict[str, str] = field(default_factory=dict)
    paged: int = 0
    retried: int = 0
    splits: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # values read per stream (before the end is cut)
    streams: int = 0  # streams asked for (read or failed)

    @staticmethod
    def merge(parts: list[_Chunk]) -> _Chunk:
        return _Chunk(
            pl.concat([p.frame for p in parts]),
            {k: v for p in parts for k, v in p.failures.items()},
            sum(p.paged for p in parts),
            sum(p.retried for p in parts),
            1 + sum(p.splits for p in parts),
            {k: v for p in parts for k, v in p.counts.items()},
            sum(p.streams for p in parts),
        )


class BatchController:
    """Reads the recorded values of many tags over a window in few, bounded, concurrent requests."""

    def __init__(
        self,
        client: PIWebAPIClient,
        *,
        transport: TransportName = "streamsets",
        streams_per_request: int = 100,
        max_concurrency: int = 4,
        max_items_per_call: int = 150_000,
        values_per_request: int = VALUES_PER_REQUEST,
        progress: Callable[[str], None] | None = None,
    ):
        if transport not in TRANSPORTS:
            raise ValueError(f"Unknown transport '{transport}' (expected one of {', '.join(TRANSPORTS)})")
        self.client = client
        self.transport = transport
        self._transport = TRANSPORTS[transport](client)
        self._streams = StreamsTransport(client)  # paging and per-stream retries
        self.streams_per_request = max(1, min(streams_per_request, max_items_per_call))
        self.max_concurrency = max(1, max_concurrency)
        self._configured_max_items = max_items_per_call
        # maxCount a stream gets in a full chunk: kept when a lower server limit forces smaller chunks, so
        # that streams are not paged one by one just because their chunk shrank.
        self._stream_max_count = max(1, max_items_per_call // self.streams_per_request)
        self.values_per_request = max(1, values_per_request)
        # Values per hour each stream returned in the last window it was read in: what multi-hour windows and
        # their chunks are planned from.
        self._values_per_hour: dict[str, float] = {}
        self.progress = progress or log.info
        self.stats = ExtractionStats()

    @property
    def max_items_per_call(self) -> int:
        """The configured MaxReturnedItemsPerCall, or the lower one the server announced."""
        return self.client.items_limit(self._configured_max_items)

    def _max_count(self, streams: int) -> int:
        return max(1, self.max_items_per_call // max(1, streams))

    def extract(self, webids: Sequence[str], start: datetime, end: datetime) -> pl.DataFrame:
        """All recorded values of ``webids`` with ``start <= timestamp < end`` (RAW_SCHEMA columns)."""
        frames = list(self.extract_chunks(webids, start, end))
        return pl.concat(frames, rechunk=False) if frames else pl.DataFrame(schema=RAW_SCHEMA)

    def extract_chunks(self, webids: Sequence[str], start: datetime, end: datetime) -> Iterator[pl.DataFrame]:
        """The same values, one frame per request as it completes, so that a caller can convert and write
        them on without holding the window. A frame holds whole streams (every value of its tags).

        Streams that failed raise :class:`PIStreamErrors` after the last frame: a writer consuming the
        frames must commit only once the iterator is exhausted.
        """
        began = time.perf_counter()
        webids = list(dict.fromkeys(webids))  # a tag listed twice must not be loaded twice
        window = Window.of(start, end)
        hours = (end - start).total_seconds() / 3600
        expected = self.expected_values(webids, hours)
        returned: list[int] = []  # values per stream read so far in this window (what blind chunks learn from)
        if expected is None:
            chunks = self._blind_chunks(webids, window, returned)
        else:
            chunks = ((chunk, True) for chunk in self.chunks(webids, window, expected))
        label = f"{window.start}..{window.end}"
        failures: dict[str, str] = {}
        counts: dict[str, int] = {}
        rows = done = streams = 0
        before_end = pl.col("timestamp") < pl.lit(end, dtype=UTC_TIMESTAMP)  # built once: a literal costs
        for chunk in self._run(chunks, window):
            failures.update(chunk.failures)
            self.stats.paged_streams += chunk.paged
            self.stats.retried_streams += chunk.retried
            self.stats.split_chunks += chunk.splits
            counts.update(chunk.counts)
            returned.extend(chunk.counts.values())
            frame = chunk.frame.filter(before_end)
            rows += frame.height
            done, streams = done + 1, streams + chunk.streams
            if streams == len(webids) or streams * 10 // len(webids) > (streams - chunk.streams) * 10 // len(webids):
                self.progress(f"{label}: {done} requests, {streams:,}/{len(webids):,} tags, {rows:,} values")
            if frame.height:
                paused = time.perf_counter()
                yield frame
                began += time.perf_counter() - paused  # the caller's time is not extraction time
        if failures:
            raise PIStreamErrors({tag_label(w): msg for w, msg in failures.items()}, label)
        self.remember_rates({w: counts.get(w, 0) for w in webids}, hours)
        self.stats.streams += len(webids)
        self.stats.rows += rows
        self.stats.chunks += done
        self.stats.seconds += time.perf_counter() - began

    def chunks(self, webids: list[str], window: Window, expected: dict[str, int]) -> list[list[str]]:
        """Chunks planned from the values each stream is ``expected`` to return (:meth:`expected_values`), each
        small enough to send (streams whose rates are unknown are cut by :meth:`_blind_chunks` instead)."""
        fits = self._fits(window)
        planned = self._planned_chunks(sorted(webids, key=expected.__getitem__, reverse=True), expected, fits)
        position = {webid: number for number, webid in enumerate(webids)}
        return [sorted(chunk, key=position.__getitem__) for chunk in planned]  # each chunk in the caller's order

    def _fits(self, window: Window) -> Callable[[list[str]], bool]:
        """Whether one request for a chunk of streams over ``window`` stays under the transport's size limits."""
        return lambda chunk: self._transport.fits(chunk, window, self._max_count(len(chunk)))

    def _blind_chunks(self, webids: list[str], window: Window, returned: list[int]) -> Iterator[tuple[list[str], bool]]:
        """Consecutive chunks for streams whose rates are unknown, cut as the answers come in; each with whether it
        is *wide*. A blind chunk holds ``streams_per_request`` streams, so its maxCount covers a busy stream. Once
        ``_BLIND_SAMPLE`` streams came back, chunks are as wide as the request fits (a stream-set URL: ~195 IDOnly
        WebIDs), as long as the share of streams that returned more than a wide chunk's maxCount stays under
        ``_WIDE_BUSY_SHARE``: a plant of slow tags takes about half the requests, the rare busy stream is paged
        (exact, one request more), and a plant with many busy streams keeps narrow chunks. ``returned`` grows with
        the values each answered stream returned."""
        fits = self._fits(window)
        # WebIds cost about the same: a chunk cut to fit caps the later ones of its kind (one trial each, no search)
        i, wide_size, narrow_fit, busy, seen = 0, 0, len(webids), 0, 0
        while i < len(webids):
            narrow = self._chunk_size()
            if not wide_size and len(returned) >= _BLIND_SAMPLE:
                wide_size = max(narrow, fitting_length(webids[i : i + MAX_PLANNED_STREAMS], fits))
            wide = False
            if wide_size > narrow:
                threshold = self._max_count(wide_size)
                busy += sum(1 for count in returned[seen:] if count >= threshold)
                seen = len(returned)
                wide = busy <= _WIDE_BUSY_SHARE * seen
            candidate = webids[i : i + (wide_size if wide else min(narrow, narrow_fit))]
            fitted = fitting_length(candidate, fits)
            if fitted < len(candidate):
                if wide:
                    wide_size = max(narrow, fitted)
                else:
                    narrow_fit = fitted
            yield webids[i : i + fitted], wide
            i += fitted

    def remember_rates(self, counts: dict[str, int], hours: float) -> None:
        """Values each stream returned over a window of ``hours``: what later windows are planned from."""
        self._values_per_hour.update((w, n / hours) for w, n in counts.items())

    def expected_values(self, webids: Sequence[str], hours: float) -> dict[str, int] | None:
        """Values each stream is planned to return over ``hours`` (its last rate with headroom), or None if
        some stream was never read."""
        rates = [self._values_per_hour.get(w) for w in webids]
        if any(rate is None for rate in rates):
            return None
        return {w: math.ceil(rate * hours * _HEADROOM) + _MIN_PLANNED for w, rate in zip(webids, rates)}

    def span_hours(self, webids: Sequence[str], most: int) -> int:
        """Hours (1..``most``) the next window of these streams may cover: 1 until every stream was read once;
        then as many as keep the planned values of the window within ``values_per_request`` (at most the server's
        limit) per request for the requests a window needs at least (one per ``streams_per_request`` streams):
        longer windows mean fewer requests, not larger ones, and a lower server limit means shorter windows."""
        if most <= 1 or not webids:
            return 1
        limit = self.max_items_per_call
        hourly = self.expected_values(webids, 1)
        if hourly is None:
            return 1
        # A stream that fills a request within an hour is paged whatever the window: it does not shorten it.
        webids = [w for w in webids if hourly[w] <= limit]
        budget = math.ceil(len(webids) / self.streams_per_request) * min(self.values_per_request, limit)
        hours = 1
        while hours < min(most, MAX_SPAN_HOURS) and sum(self.expected_values(webids, hours + 1).values()) <= budget:
            hours += 1
        return hours

    def _planned_chunks(
        self, webids: list[str], expected: dict[str, int], fits: Callable[[list[str]], bool]
    ) -> list[list[str]]:
        """Chunks of streams sorted busiest first: a chunk's first stream expects the most, so its maxCount
        (limit / streams) covers all of them; each chunk plans at most ``values_per_request`` values and holds
        at most ``MAX_PLANNED_STREAMS`` streams, or as many as its request fits."""
        limit, size = self.max_items_per_call, max(self.streams_per_request, MAX_PLANNED_STREAMS)
        budget = min(self.values_per_request, limit)
        total = [0, *accumulate(expected[w] for w in webids)]
        chunks, i = [], 0
        while i < len(webids):
            most = min(size, limit // expected[webids[i]], len(webids) - i)
            within_budget = bisect.bisect_right(total, total[i] + budget, i + 1) - 1 - i
            wanted = max(1, min(most, within_budget))
            fitted = fitting_length(webids[i : i + wanted], fits)
            if fitted < wanted:  # cut by the request's size limit: WebIds cost about the same, later chunks start here
                size = fitted
            chunks.append(webids[i : i + fitted])
            i += fitted
        return chunks

    def _chunk_size(self) -> int:
        """Streams per request: as configured, fewer once the server announced a lower limit."""
        return max(1, min(self.streams_per_request, self.max_items_per_call // self._stream_max_count))

    def _run(self, chunks: Iterator[tuple[list[str], bool]], window: Window) -> Iterator[_Chunk]:
        """Chunk results as they complete; the first request that fails outright stops the rest.

        Only a few chunks are queued ahead of the ``max_concurrency`` in flight: memory stays bounded
        and ``wait`` stays cheap even for 30,000 one-tag requests.
        """
        todo = iter(chunks)
        with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="pi-extract") as pool:
            pending = {
                pool.submit(self._extract_chunk, c, window, planned)
                for c, planned in islice(todo, 2 * self.max_concurrency)
            }
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        result = future.result()
                        pending.update(
                            pool.submit(self._extract_chunk, c, window, planned) for c, planned in islice(todo, 1)
                        )
                        yield result
            finally:
                for future in pending:
                    future.cancel()

    # -- one chunk -------------------------------------------------------------------------------

    def _extract_chunk(self, webids: list[str], window: Window, planned: bool = False) -> _Chunk:
        """One request's streams; a planned chunk keeps its streams when the limit drops (maxCount shrinks
        with it, and paging catches a stream that fills it)."""
        size = self._chunk_size()
        if len(webids) > size and not planned:  # the server announced a lower limit after the chunks were cut
            return _Chunk.merge(
                [self._extract_chunk(webids[i : i + size], window) for i in range(0, len(webids), size)]
            )
        max_count = self._max_count(len(webids))
        self.client.add_work(len(webids))
        try:
            answer = self._transport.fetch(webids, window, max_count)
        except PIWebAPIError as exc:
            parts = self._smaller_parts(webids, max_count, exc)
            if parts is None:
                raise
            return _Chunk.merge([self._extract_chunk(part, window, planned) for part in parts])
        columns = ValueColumns()
        failures: dict[str, str] = {}
        counts = dict(answer.counts)  # streams that came as columns: all their values, none failed
        paged = retried = 0
        for webid in webids:
            if webid in counts:
                continue
            result = answer.streams.get(webid) or StreamResult(error="missing from the response")
            try:
                if result.error is not None:
                    retried += 1
                    items = self._retry_stream(webid, window, result)
                elif len(result.items) >= max_count:
                    paged += 1
                    items = self._page_stream(webid, window, result.items, max_count)
                else:
                    items = result.items
            except PIWebAPIError as exc:
                failures[webid] = f"{result.error}; retried alone: {exc}" if result.error else str(exc)
                continue
            counts[webid] = len(items)
            columns.add(webid, items)
        frame = columns.to_frame()
        if answer.frame is not None:
            frame = pl.concat([answer.frame, frame]) if frame.height else answer.frame
        return _Chunk(frame, failures, paged, retried, counts=counts, streams=len(webids))

    def _smaller_parts(self, webids: list[str], max_count: int, exc: PIWebAPIError) -> list[list[str]] | None:
        """How to re-send a request the server found too large (None: it failed for another reason).

        A server with a lower MaxReturnedItemsPerCall than configured says so in its 400 (the client has
        adopted it): re-send, re-cut to the new limit. A 413/414 (body/URL too long) halves the chunk.
        """
        limit = exc.announced_limit
        if limit is not None and 0 < limit < len(webids) * max_count:
            self.client.note_limit(limit)
            return [webids]
        if exc.status in _TOO_LARGE_STATUS and len(webids) > 1:
            log.warning("PI Web API: request for %d streams too large (%s); splitting", len(webids), exc)
            return [webids[: len(webids) // 2], webids[len(webids) // 2 :]]
        return None

    def _retry_stream(self, webid: str, window: Window, failed: StreamResult) -> list[TimedValue]:
        """A stream that failed inside a good response, read again on its own after a backoff."""
        if not self.client.take_retry():
            raise PIWebAPIError(f"not retried: {self.client.budget_spent()}")
        time.sleep(self.client.backoff_seconds(1, failed.retry_after))
        return self._page_stream(webid, window, [], 0)

    def _page_stream(self, webid: str, window: Window, first: list[TimedValue], max_count: int) -> list[TimedValue]:
        """Read one stream to the end of the window, robust to several events at one timestamp.

        kukur's algorithm: while a page is full, drop the values at the page's last timestamp T and
        ask again from T (``Inside`` includes T), so events sharing T are neither lost nor doubled.
        ``first`` is a page of ``max_count`` values already read (or empty: start from scratch).
        """
        page_size = max(max_count, min(_PAGE_SIZE, self.max_items_per_call))
        kept: list[TimedValue] = []
        page, page_start, limit = first, window.start, max_count
        if not page:
            page, page_size = self._read_page(webid, page_start, window, page_size)
            limit = page_size
        while len(page) >= limit:
            last = page[-1].Timestamp
            complete = [v for v in page if v.Timestamp != last]
            if not complete:
                # Every value of a full page shares one timestamp: widen the page, or give up loudly.
                if page_size >= self.max_items_per_call:
                    raise PIWebAPIError(f"More than {page_size} events at {last} for stream {webid}")
                page_size = min(page_size * 4, self.max_items_per_call)
            else:
                kept.extend(complete)
                page_start = last
            page, page_size = self._read_page(webid, page_start, window, page_size)
            limit = page_size
        kept.extend(page)
        return kept

    def _read_page(self, webid: str, start: str, window: Window, page_size: int) -> tuple[list[TimedValue], int]:
        """One page of one stream, and the page size used: the server's limit if it announced a lower one."""
        while True:
            try:
                return self._streams.page(webid, start, window, page_size), page_size
            except PIWebAPIError as exc:
                if not (exc.announced_limit and exc.announced_limit < page_size):
                    raise
                page_size = exc.announced_limit
