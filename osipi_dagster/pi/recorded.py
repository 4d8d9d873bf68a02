"""The batch controller: every recorded value of many tags in a time window, nothing lost.

How a window ``[start, end)`` is read:

1. Tags are cut into chunks of ``streams_per_request`` so that streams × maxCount stays under the
   server's MaxReturnedItemsPerCall and URLs stay short; chunks run on a bounded thread pool.
2. Each chunk is one request, through one of two transports: ad hoc stream sets
   (``GET streamsets/recorded?webId=…``) or ``POST batch`` with one ``streams/{webId}/recorded``
   sub-request per tag.
3. A stream that returned exactly maxCount values may have more (PI truncates silently): it is paged on
   its own with the duplicate-safe algorithm of shared/pi-web-api.md §2.7.
4. A stream that failed inside a successful response is retried on its own; if it still fails, the
   whole window fails with :class:`PIStreamErrors` naming the tags — never a silent partial window.

PI's ``Inside`` boundary includes both ends; values stamped exactly at ``end`` belong to the next window
and are dropped here, so adjacent windows never share a row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal
from urllib.parse import urlencode

import orjson
import polars as pl

from osipi_dagster.pi.client import PIWebAPIClient, items_of
from osipi_dagster.pi.errors import PIMalformedResponseError, PIStreamErrors, PIWebAPIError
from osipi_dagster.pi.values import RAW_SCHEMA, VALUE_FIELDS, ValueColumns

log = logging.getLogger(__name__)

Transport = Literal["streamsets", "batch"]
STREAM_FIELDS = ";".join(f"Items.{f}" for f in VALUE_FIELDS)
STREAMSET_FIELDS = ";".join(["Items.WebId", "Items.WebException", "Items.Errors"]
                            + [f"Items.Items.{f}" for f in VALUE_FIELDS])


def pi_time(value: datetime) -> str:
    """An absolute UTC time string PI parses unambiguously (no DST, no server time zone)."""
    value = value.astimezone(timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{value.microsecond:06d}Z" if value.microsecond else f"{text}Z"


@dataclass
class StreamResult:
    """Values of one stream from one request, or the error PI reported for it."""

    items: list[dict] = field(default_factory=list)
    error: str | None = None


@dataclass
class ExtractionStats:
    streams: int = 0
    rows: int = 0
    chunks: int = 0
    paged_streams: int = 0  # streams that hit maxCount and were paged
    retried_streams: int = 0  # streams that failed inside a response and were retried alone
    seconds: float = 0.0


class RecordedExtractor:
    def __init__(
        self,
        client: PIWebAPIClient,
        *,
        transport: Transport = "streamsets",
        streams_per_request: int = 100,
        max_concurrency: int = 4,
        max_items_per_call: int = 150_000,
        progress: Callable[[str], None] | None = None,
    ):
        if transport not in ("streamsets", "batch"):
            raise ValueError(f"Unknown transport '{transport}' (expected 'streamsets' or 'batch')")
        self.client = client
        self.transport = transport
        self.streams_per_request = max(1, min(streams_per_request, max_items_per_call))
        self.max_concurrency = max(1, max_concurrency)
        self.max_items_per_call = max_items_per_call
        self.progress = progress or log.info
        self.stats = ExtractionStats()

    @property
    def chunk_max_count(self) -> int:
        """maxCount per stream so a full chunk stays under MaxReturnedItemsPerCall."""
        return max(1, self.max_items_per_call // self.streams_per_request)

    def extract(self, webids: Sequence[str], start: datetime, end: datetime) -> pl.DataFrame:
        """All recorded values of ``webids`` with ``start <= timestamp < end`` (RAW_SCHEMA columns)."""
        began = time.perf_counter()
        webids = list(dict.fromkeys(webids))  # a tag listed twice must not be loaded twice
        chunks = [webids[i:i + self.streams_per_request] for i in range(0, len(webids), self.streams_per_request)]
        window = f"{pi_time(start)}..{pi_time(end)}"
        frames: list[pl.DataFrame] = []
        failures: dict[str, str] = {}
        done = 0
        with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="pi-extract") as pool:
            for frame, failed, paged, retried in pool.map(lambda c: self._extract_chunk(c, start, end), chunks):
                frames.append(frame)
                failures.update(failed)
                self.stats.paged_streams += paged
                self.stats.retried_streams += retried
                done += 1
                if done == len(chunks) or done % max(1, len(chunks) // 10) == 0:
                    self.progress(f"{window}: {done}/{len(chunks)} requests, "
                                  f"{sum(f.height for f in frames):,} values")
        if failures:
            raise PIStreamErrors(failures, window)
        result = pl.concat(frames) if frames else pl.DataFrame(schema=RAW_SCHEMA)
        self.stats.streams += len(webids)
        self.stats.rows += result.height
        self.stats.chunks += len(chunks)
        self.stats.seconds += time.perf_counter() - began
        return result

    # -- one chunk -------------------------------------------------------------------------------

    def _extract_chunk(self, webids: list[str], start: datetime, end: datetime) -> tuple[pl.DataFrame, dict, int, int]:
        """Values of one chunk of streams, the streams that failed, and how many were paged/retried."""
        max_count = self.chunk_max_count
        fetch = self._fetch_streamset if self.transport == "streamsets" else self._fetch_batch
        results = fetch(webids, start, end, max_count)
        columns = ValueColumns()
        failures: dict[str, str] = {}
        paged = retried = 0
        for webid in webids:
            result = results.get(webid) or StreamResult(error="missing from the response")
            if result.error is not None:
                # A failure of one stream inside a good response: try that stream alone once more.
                retried += 1
                try:
                    items = self._page_stream(webid, start, end, [], max_count)
                except PIWebAPIError as exc:
                    failures[webid] = f"{result.error}; retry: {exc}"
                    continue
            elif len(result.items) >= max_count:
                paged += 1
                items = self._page_stream(webid, start, end, result.items, max_count)
            else:
                items = result.items
            columns.add(webid, items)
        frame = columns.to_frame().filter(pl.col("timestamp") < end)
        return frame, failures, paged, retried

    def _page_stream(self, webid: str, start: datetime, end: datetime, first: list[dict],
                     max_count: int) -> list[dict]:
        """Read one stream to the end of the window, robust to several events at one timestamp.

        kukur's algorithm: while a page is full, drop the values at the page's last timestamp T and
        ask again from T (``Inside`` includes T), so events sharing T are neither lost nor doubled.
        """
        page_size = max(max_count, min(10_000, self.max_items_per_call))
        kept: list[dict] = []
        page, page_start, limit = first, pi_time(start), max_count
        if not page:
            page = self._stream_page(webid, page_start, end, page_size)
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
            page = self._stream_page(webid, page_start, end, page_size)
            limit = page_size
        kept.extend(page)
        return kept

    def _stream_page(self, webid: str, start: str, end: datetime, max_count: int) -> list[dict]:
        url = f"streams/{webid}/recorded"
        body = self.client.get(url, {"startTime": start, "endTime": pi_time(end), "maxCount": max_count,
                                     "selectedFields": STREAM_FIELDS})
        return items_of(body, self.client.url(url))

    # -- transports ------------------------------------------------------------------------------

    def _fetch_streamset(self, webids: list[str], start: datetime, end: datetime,
                         max_count: int) -> dict[str, StreamResult]:
        params = [("webId", w) for w in webids] + [
            ("startTime", pi_time(start)), ("endTime", pi_time(end)), ("maxCount", max_count),
            ("selectedFields", STREAMSET_FIELDS)]
        body = self.client.get("streamsets/recorded", params)
        results: dict[str, StreamResult] = {}
        for stream in items_of(body, self.client.url("streamsets/recorded")):
            webid = stream.get("WebId")
            error = stream.get("WebException") or stream.get("Errors")
            if error:
                results[webid] = StreamResult(error=_error_text(error))
            else:
                results[webid] = StreamResult(items=stream.get("Items") or [])
        return results

    def _fetch_batch(self, webids: list[str], start: datetime, end: datetime,
                     max_count: int) -> dict[str, StreamResult]:
        query = urlencode({"startTime": pi_time(start), "endTime": pi_time(end), "maxCount": max_count,
                           "selectedFields": STREAM_FIELDS})
        body = {str(i): {"Method": "GET", "Resource": self.client.url(f"streams/{w}/recorded?{query}")}
                for i, w in enumerate(webids)}
        response = self.client.post("batch", body)
        if not isinstance(response, dict):
            raise PIMalformedResponseError("PI Web API batch response is not an object",
                                           url=self.client.url("batch"))
        results: dict[str, StreamResult] = {}
        for i, webid in enumerate(webids):
            sub = response.get(str(i))
            if not isinstance(sub, dict):
                results[webid] = StreamResult(error="no response for this sub-request")
                continue
            content = sub.get("Content")
            if isinstance(content, (str, bytes)):  # some servers send Content as a JSON string
                try:
                    content = orjson.loads(content) if content else None
                except orjson.JSONDecodeError:
                    content = {"Errors": [f"malformed content: {str(content)[:100]}"]}
            status = sub.get("Status", 0)
            if status != 200 or not isinstance(content, dict) or not isinstance(content.get("Items"), list):
                results[webid] = StreamResult(error=f"HTTP {status}: {_error_text(content)}")
            else:
                results[webid] = StreamResult(items=content["Items"])
        return results


def _error_text(error) -> str:
    if isinstance(error, dict):
        errors = error.get("Errors") or error.get("Message") or error
        status = error.get("StatusCode")
        text = "; ".join(map(str, errors)) if isinstance(errors, list) else str(errors)
        return f"HTTP {status}: {text}" if status else text
    if isinstance(error, list):
        return "; ".join(map(str, error))
    return str(error)
