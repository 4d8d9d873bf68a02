"""The batch controller: every recorded value of many tags in a time window, nothing lost.

How a window ``[start, end)`` is read:

1. Tags are cut into chunks of at most ``streams_per_request`` so that streams × maxCount stays under the
   server's MaxReturnedItemsPerCall and every URL stays under :data:`MAX_URL_LENGTH`; chunks run on a
   bounded thread pool sharing the client's keep-alive connections.
2. Each chunk is one request, through one of the transports (one interface, :class:`Transport`): ad hoc
   stream sets (``GET streamsets/recorded?webId=…``) or the standard ``POST batch`` with one
   ``streams/{webId}/recorded`` sub-request per tag. (``streams``, one GET per tag, is the baseline the
   benchmark compares them with.) A chunk the server rejects as too large is split in half and re-sent.
3. A stream that returned exactly maxCount values may have more (PI truncates silently): it is paged on
   its own with the duplicate-safe algorithm of shared/pi-web-api.md §2.7.
4. A stream that failed inside a successful response is retried on its own (after a backoff, from the
   client's retry budget); if it still fails, the whole window fails with :class:`PIStreamErrors`
   naming the tags and PI's error — never a silent partial window.

Each chunk's JSON becomes a columnar frame as soon as it arrives, so memory holds the window's values
once, in Arrow, plus at most ``max_concurrency`` chunks of decoded JSON.

PI's ``Inside`` boundary includes both ends; values stamped exactly at ``end`` belong to the next window
and are dropped here, so adjacent windows never share a row.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import islice
from typing import Literal, Protocol
from urllib.parse import urlencode

import orjson
import polars as pl

from osipi_dagster.pi.client import PIWebAPIClient, SubResponse, batch_body, error_text, items_of
from osipi_dagster.pi.errors import PIStreamErrors, PIWebAPIError
from osipi_dagster.pi.values import RAW_SCHEMA, VALUE_FIELDS, ValueColumns

log = logging.getLogger(__name__)

TransportName = Literal["streamsets", "batch", "streams"]
STREAM_FIELDS = ";".join(f"Items.{f}" for f in VALUE_FIELDS)
STREAMSET_FIELDS = ";".join(["Items.WebId", "Items.WebException", "Items.Errors"]
                            + [f"Items.Items.{f}" for f in VALUE_FIELDS])
# Request-line budget of a stream-set GET. HTTP.sys/IIS front ends commonly reject request lines past
# 8-16 KB (the anchor's 3,000-WebId URL got HTTP 400); peers cap a request at ~150 WebIds.
MAX_URL_LENGTH = 8_000
# MaxRequestContentLength: a larger POST body gets HTTP 413 (shared/pi-web-api.md §2.6).
MAX_REQUEST_BYTES = 4_000_000
# "Parameter 'maxCount' is greater than the maximum allowed (600)." — the server's real limit.
_ANNOUNCED_LIMIT = re.compile(r"is greater than the maximum allowed \((\d+)\)")
_TOO_LARGE_STATUS = {413, 414}  # body / URL too large: halve the chunk


def pi_time(value: datetime) -> str:
    """An absolute UTC time string PI parses unambiguously (no DST, no server time zone)."""
    value = value.astimezone(timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{value.microsecond:06d}Z" if value.microsecond else f"{text}Z"


def short_webid(webid: str) -> str:
    """The IDOnly form of a Full PI point WebID 2.0 (``F1DP`` + server GUID + point id + name →
    ``I1DP`` + server GUID + point id, shared/pi-web-api.md §6.3): URLs half as long. Others unchanged."""
    return "I1DP" + webid[4:32] if webid.startswith("F1DP") and len(webid) > 32 else webid


def tag_label(webid: str) -> str:
    """``NAME (webid)`` for error messages: the name is the path inside a Full point WebID, if any."""
    if webid.startswith("F1DP") and len(webid) > 32:
        payload = webid[32:]
        try:
            path = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8")
            return f"{path.rpartition(chr(92))[2]} ({webid})"
        except ValueError:
            pass
    return webid


@dataclass(frozen=True)
class Window:
    """A time window as the PI time strings of its start and end."""

    start: str
    end: str

    @classmethod
    def of(cls, start: datetime, end: datetime) -> Window:
        return cls(pi_time(start), pi_time(end))

    def params(self, max_count: int, selected_fields: str, start: str | None = None) -> list[tuple[str, str | int]]:
        return [("startTime", start or self.start), ("endTime", self.end), ("maxCount", max_count),
                ("selectedFields", selected_fields)]


@dataclass
class StreamResult:
    """Values of one stream from one request, or the error PI reported for it."""

    items: list[dict] = field(default_factory=list)
    error: str | None = None
    retry_after: str | None = None  # a failed sub-request's Retry-After header


@dataclass
class ExtractionStats:
    streams: int = 0
    rows: int = 0
    chunks: int = 0
    split_chunks: int = 0  # chunks the server found too large, re-sent as halves
    paged_streams: int = 0  # streams that hit maxCount and were paged
    retried_streams: int = 0  # streams that failed inside a response and were retried alone
    seconds: float = 0.0


# -- transports ----------------------------------------------------------------------------------------

class Transport(Protocol):
    """One way of asking PI for the recorded values of a chunk of streams in one request."""

    def fits(self, webids: list[str], window: Window, max_count: int) -> bool:
        """Whether one request for these streams stays under the server's size limits."""

    def fetch(self, webids: list[str], window: Window, max_count: int) -> dict[str, StreamResult]:
        """Values (or the error) of each stream, keyed by the WebIds as given."""


class StreamsTransport:
    """``GET streams/{webId}/recorded``, one request per stream (the baseline; also used for paging)."""

    def __init__(self, client: PIWebAPIClient):
        self.client = client

    def fits(self, webids: list[str], window: Window, max_count: int) -> bool:
        return len(webids) == 1

    def fetch(self, webids: list[str], window: Window, max_count: int) -> dict[str, StreamResult]:
        return {w: StreamResult(items=self.page(w, window.start, window, max_count)) for w in webids}

    def page(self, webid: str, start: str, window: Window, max_count: int) -> list[dict]:
        path = f"streams/{short_webid(webid)}/recorded"
        body = self.client.get(path, window.params(max_count, STREAM_FIELDS, start))
        return items_of(body, self.client.url(path))


class StreamsetTransport:
    """``GET streamsets/recorded?webId=…&webId=…``: one URL carries the chunk's (IDOnly) WebIds."""

    def __init__(self, client: PIWebAPIClient):
        self.client = client

    def _url(self, webids: list[str], window: Window, max_count: int) -> str:
        query = urlencode([("webId", short_webid(w)) for w in webids]
                          + window.params(max_count, STREAMSET_FIELDS) + [("webIdType", "IDOnly")])
        return f"{self.client.url('streamsets/recorded')}?{query}"

    def fits(self, webids: list[str], window: Window, max_count: int) -> bool:
        return len(self._url(webids, window, max_count)) <= MAX_URL_LENGTH

    def fetch(self, webids: list[str], window: Window, max_count: int) -> dict[str, StreamResult]:
        url = self._url(webids, window, max_count)
        # The server answers with the WebIds we sent (IDOnly) or, some servers, the Full ones.
        original = {short_webid(w): w for w in webids} | {w: w for w in webids}
        results: dict[str, StreamResult] = {}
        for stream in items_of(self.client.get(url), self.client.url("streamsets/recorded")):
            webid = original.get(stream.get("WebId"))
            if webid is None:
                continue  # not one of ours: the stream we asked for counts as missing, and is retried
            error = stream.get("WebException") or stream.get("Errors")
            results[webid] = StreamResult(error=error_text(error)) if error else \
                StreamResult(items=stream.get("Items") or [])
        return results


class BatchTransport:
    """``POST batch`` with one ``GET streams/{webId}/recorded`` sub-request per stream (HTTP 207)."""

    def __init__(self, client: PIWebAPIClient):
        self.client = client

    def _urls(self, webids: list[str], window: Window, max_count: int) -> list[str]:
        query = urlencode(window.params(max_count, STREAM_FIELDS))
        base = self.client.url("streams/")
        return [f"{base}{short_webid(w)}/recorded?{query}" for w in webids]

    def fits(self, webids: list[str], window: Window, max_count: int) -> bool:
        return len(orjson.dumps(batch_body(self._urls(webids, window, max_count)))) <= MAX_REQUEST_BYTES

    def fetch(self, webids: list[str], window: Window, max_count: int) -> dict[str, StreamResult]:
        answers = self.client.batch_get(self._urls(webids, window, max_count))
        return {webid: stream_result(answer) for webid, answer in zip(webids, answers)}


def stream_result(answer: SubResponse) -> StreamResult:
    """A batch sub-response as the values of one stream, or its error (with any Retry-After)."""
    items = answer.items
    if items is not None:
        return StreamResult(items=items)
    return StreamResult(error=answer.error, retry_after=answer.headers.get("Retry-After"))


TRANSPORTS: dict[str, Callable[[PIWebAPIClient], Transport]] = {
    "streamsets": StreamsetTransport, "batch": BatchTransport, "streams": StreamsTransport}


# -- the controller ------------------------------------------------------------------------------------

@dataclass
class _Chunk:
    """What one chunk produced: its values, the streams that failed, and how many were paged/retried."""

    frame: pl.DataFrame
    failures: dict[str, str] = field(default_factory=dict)
    paged: int = 0
    retried: int = 0
    splits: int = 0

    @staticmethod
    def merge(parts: list[_Chunk]) -> _Chunk:
        return _Chunk(pl.concat([p.frame for p in parts]), {k: v for p in parts for k, v in p.failures.items()},
                      sum(p.paged for p in parts), sum(p.retried for p in parts), 1 + sum(p.splits for p in parts))


class RecordedExtractor:
    def __init__(
        self,
        client: PIWebAPIClient,
        *,
        transport: TransportName = "streamsets",
        streams_per_request: int = 100,
        max_concurrency: int = 4,
        max_items_per_call: int = 150_000,
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
        self.max_items_per_call = max_items_per_call
        self.progress = progress or log.info
        self.stats = ExtractionStats()

    @property
    def chunk_max_count(self) -> int:
        """maxCount per stream so a full chunk stays under MaxReturnedItemsPerCall."""
        return self._max_count(self.streams_per_request)

    def _max_count(self, streams: int) -> int:
        return max(1, self.max_items_per_call // max(1, streams))

    def extract(self, webids: Sequence[str], start: datetime, end: datetime) -> pl.DataFrame:
        """All recorded values of ``webids`` with ``start <= timestamp < end`` (RAW_SCHEMA columns)."""
        began = time.perf_counter()
        webids = list(dict.fromkeys(webids))  # a tag listed twice must not be loaded twice
        window = Window.of(start, end)
        chunks = self.chunks(webids, window)
        label = f"{window.start}..{window.end}"
        frames: list[pl.DataFrame] = []
        failures: dict[str, str] = {}
        for done, chunk in enumerate(self._run(chunks, window), 1):
            frames.append(chunk.frame)
            failures.update(chunk.failures)
            self.stats.paged_streams += chunk.paged
            self.stats.retried_streams += chunk.retried
            self.stats.split_chunks += chunk.splits
            if done == len(chunks) or done % max(1, len(chunks) // 10) == 0:
                self.progress(f"{label}: {done}/{len(chunks)} requests, {sum(f.height for f in frames):,} values")
        if failures:
            raise PIStreamErrors({tag_label(w): msg for w, msg in failures.items()}, label)
        result = pl.concat(frames, rechunk=False) if frames else pl.DataFrame(schema=RAW_SCHEMA)
        result = result.filter(pl.col("timestamp") < end)  # once here: polars has a fixed cost per call
        self.stats.streams += len(webids)
        self.stats.rows += result.height
        self.stats.chunks += len(chunks)
        self.stats.seconds += time.perf_counter() - began
        return result

    def chunks(self, webids: list[str], window: Window) -> list[list[str]]:
        """Consecutive chunks of at most ``streams_per_request`` streams, each small enough to send."""
        chunks, size, i = [], self.streams_per_request, 0
        while i < len(webids):
            chunk = webids[i:i + size]
            while len(chunk) > 1 and not self._transport.fits(chunk, window, self._max_count(len(chunk))):
                chunk = chunk[:len(chunk) * 3 // 4]
            chunks.append(chunk)
            size = len(chunk)  # every WebId costs about the same: later chunks start at the size that fit
            i += size
        return chunks

    def _run(self, chunks: list[list[str]], window: Window) -> Iterator[_Chunk]:
        """Chunk results as they complete; the first request that fails outright stops the rest.

        Only a few chunks are queued ahead of the ``max_concurrency`` in flight: memory stays bounded
        and ``wait`` stays cheap even for 30,000 one-tag requests.
        """
        todo = iter(chunks)
        with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="pi-extract") as pool:
            pending = {pool.submit(self._extract_chunk, c, window) for c in islice(todo, 2 * self.max_concurrency)}
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        result = future.result()
                        pending.update(pool.submit(self._extract_chunk, c, window) for c in islice(todo, 1))
                        yield result
            finally:
                for future in pending:
                    future.cancel()

    # -- one chunk -------------------------------------------------------------------------------

    def _extract_chunk(self, webids: list[str], window: Window) -> _Chunk:
        max_count = self._max_count(len(webids))
        try:
            results = self._transport.fetch(webids, window, max_count)
        except PIWebAPIError as exc:
            parts = self._smaller_parts(webids, max_count, exc)
            if parts is None:
                raise
            return _Chunk.merge([self._extract_chunk(part, window) for part in parts])
        columns = ValueColumns()
        failures: dict[str, str] = {}
        paged = retried = 0
        for webid in webids:
            result = results.get(webid) or StreamResult(error="missing from the response")
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
            columns.add(webid, items)
        return _Chunk(columns.to_frame(), failures, paged, retried)

    def _smaller_parts(self, webids: list[str], max_count: int, exc: PIWebAPIError) -> list[list[str]] | None:
        """How to re-send a request the server found too large (None: it failed for another reason).

        A server with a lower MaxReturnedItemsPerCall than configured says so in its 400: adopt its
        limit (for the rest of the run too); a 413/414 (body/URL too long) halves the chunk.
        """
        match = _ANNOUNCED_LIMIT.search(" ".join(exc.errors)) if exc.status == 400 else None
        limit = int(match.group(1)) if match else None
        if limit is not None and 0 < limit < len(webids) * max_count:
            if limit < self.max_items_per_call:  # (another thread may have adopted it already)
                log.warning("PI Web API: MaxReturnedItemsPerCall is %d, not %d; using the server's limit",
                            limit, self.max_items_per_call)
                self.max_items_per_call = limit
            size = min(len(webids), limit)
            return [webids[i:i + size] for i in range(0, len(webids), size)]
        if exc.status in _TOO_LARGE_STATUS and len(webids) > 1:
            log.warning("PI Web API: request for %d streams too large (%s); splitting", len(webids), exc)
            return [webids[:len(webids) // 2], webids[len(webids) // 2:]]
        return None

    def _retry_stream(self, webid: str, window: Window, failed: StreamResult) -> list[dict]:
        """A stream that failed inside a good response, read again on its own after a backoff."""
        if not self.client.take_retry():
            raise PIWebAPIError("not retried: the client's retry budget is spent")
        time.sleep(self.client.backoff_seconds(1, failed.retry_after))
        return self._page_stream(webid, window, [], 0)

    def _page_stream(self, webid: str, window: Window, first: list[dict], max_count: int) -> list[dict]:
        """Read one stream to the end of the window, robust to several events at one timestamp.

        kukur's algorithm: while a page is full, drop the values at the page's last timestamp T and
        ask again from T (``Inside`` includes T), so events sharing T are neither lost nor doubled.
        ``first`` is a page of ``max_count`` values already read (or empty: start from scratch).
        """
        page_size = max(max_count, min(10_000, self.max_items_per_call))
        kept: list[dict] = []
        page, page_start, limit = first, window.start, max_count
        if not page:
            page = self._streams.page(webid, page_start, window, page_size)
            limit = page_size
        while len(page) >= limit:
            last = page[-1]["Timestamp"]
            complete = [v for v in page if v["Timestamp"] != last]
            if not complete:
                # Every value of a full page shares one timestamp: widen the page, or give up loudly.
                if page_size >= self.max_items_per_call:
                    raise PIWebAPIError(f"More than {page_size} events at {last} for stream {webid}")
                page_size = min(page_size * 4, self.max_items_per_call)
            else:
                kept.extend(complete)
                page_start = last
            page = self._streams.page(webid, page_start, window, page_size)
            limit = page_size
        kept.extend(page)
        return kept

