"""Ways of asking PI for the recorded values of a chunk of streams in one request (one interface).

* ``streamsets``: ``GET streamsets/recorded?webId=…&webId=…`` — one URL carries the chunk's (IDOnly) WebIDs.
* ``batch``: the standard ``POST batch`` with one ``GET streams/{webId}/recorded`` sub-request per stream.
* ``streams``: ``GET streams/{webId}/recorded``, one request per stream — the baseline the benchmark
  compares with, and what the batch controller uses to page or retry a single stream.

Recorded values arrive as :class:`~osipi_dagster.pi.values.TimedValue` structs, decoded by msgspec straight
from the body (single streams, each successful batch sub-response's content, and stream sets the fast path
declines); a stream-set body the fast path reads arrives as one frame of columns
(:func:`~osipi_dagster.pi.values.stream_set_columns`).

A stream that PI reports as failed inside a successful answer (a sub-response or stream-set item with a
``WebException`` next to cut-short ``Items``, or with ``Errors``) comes back as an error, never as values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol
from urllib.parse import urlencode

import msgspec
import orjson
import polars as pl

from osipi_dagster.pi.client import PIWebAPIClient, SubResponse, batch_body, error_text, sub_response
from osipi_dagster.pi.errors import PIMalformedResponseError, PIWebAPIError
from osipi_dagster.pi.time_window import Window
from osipi_dagster.pi.values import (
    RECORDED_VALUES,
    VALUE_FIELDS,
    StreamSetColumns,
    StreamSetDecoder,
    TimedValue,
    parser_built,
)
from osipi_dagster.pi.webids import short_webid

log = logging.getLogger(__name__)

STREAM_FIELDS = ";".join(f"Items.{f}" for f in VALUE_FIELDS)
STREAMSET_FIELDS = ";".join(
    ["Items.WebId", "Items.WebException", "Items.Errors"] + [f"Items.Items.{f}" for f in VALUE_FIELDS]
)
# Request-line budget of a stream-set GET: HTTP front ends (HTTP.sys, proxies) commonly reject request
# lines past 8-16 KB with 400/414 (docs/pi-web-api.md#server-limits).
MAX_URL_LENGTH = 8_000
# MaxRequestContentLength: a larger POST body gets HTTP 413 (docs/pi-web-api.md#server-limits).
MAX_REQUEST_BYTES = 4_000_000


def cut_into_chunks(webids: list[str], size: int, fits: Callable[[list[str]], bool]) -> list[list[str]]:
    """Consecutive chunks of at most ``size`` WebIds, each cut to the longest start that ``fits`` one request.

    Every WebId costs about the same, so later chunks start at the size that fit (one trial per chunk)."""
    chunks, i = [], 0
    while i < len(webids):
        chunk = webids[i : i + size]
        chunk = chunk[: fitting_length(chunk, fits)]
        chunks.append(chunk)
        size = len(chunk)
        i += size
    return chunks


def fitting_length(chunk: list[str], fits: Callable[[list[str]], bool]) -> int:
    """The length of the longest start of ``chunk`` that ``fits`` one request (at least 1: a single stream is
    always sent). One trial if the whole chunk fits, else a binary search (longer never fits if shorter does
    not)."""
    if len(chunk) <= 1 or fits(chunk):
        return len(chunk)
    fitting, too_long = 1, len(chunk)
    while too_long - fitting > 1:
        middle = (fitting + too_long) // 2
        if fits(chunk[:middle]):
            fitting = middle
        else:
            too_long = middle
    return fitting


@dataclass
class Answer:
    """One request's answer: the values or error of each stream in ``streams``, except for the streams of
    ``counts``, whose values came as columns (``frame``, RAW_SCHEMA, one block per stream): a stream-set body read
    by the fast path, which holds no failed stream and none to page."""

    streams: dict[str, StreamResult] = field(default_factory=dict)
    frame: pl.DataFrame | None = None
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class StreamResult:
    """Values of one stream from one request, or the error PI reported for it."""

    items: list[TimedValue] = field(default_factory=list)
    error: str | None = None
    retry_after: str | None = None  # a failed sub-request's Retry-After header


class BatchAnswer(msgspec.Struct, gc=False):
    """One sub-response of ``POST batch``, its ``Content`` left undecoded until its status is known."""

    Status: Any = None
    Headers: Any = None
    Content: msgspec.Raw = msgspec.Raw(b"null")


BATCH_ANSWERS = msgspec.json.Decoder(dict[str, BatchAnswer])


class Transport(Protocol):
    """One way of asking PI for the recorded values of a chunk of streams in one request."""

    def fits(self, webids: list[str], window: Window, max_count: int) -> bool:
        """Whether one request for these streams stays under the server's size limits."""

    def fetch(self, webids: list[str], window: Window, max_count: int) -> Answer:
        """Values (or the error) of each stream, keyed by the WebIds as given (see :class:`Answer`)."""


class StreamsTransport:
    """``GET streams/{webId}/recorded``, one request per stream (the baseline; also used for paging)."""

    def __init__(self, client: PIWebAPIClient):
        self.client = client

    def fits(self, webids: list[str], window: Window, max_count: int) -> bool:
        return len(webids) == 1

    def fetch(self, webids: list[str], window: Window, max_count: int) -> Answer:
        return Answer({w: StreamResult(items=self.page(w, window.start, window, max_count)) for w in webids})

    def page(self, webid: str, start: str, window: Window, max_count: int) -> list[TimedValue]:
        path = f"streams/{short_webid(webid)}/recorded"
        body = self.client.get(path, window.params(max_count, STREAM_FIELDS, start), decoder=RECORDED_VALUES)
        return _items(body, self.client.url(path))


class StreamsetTransport:
    """``GET streamsets/recorded?webId=…&webId=…``: one URL carries the chunk's (IDOnly) WebIds."""

    def __init__(self, client: PIWebAPIClient):
        self.client = client
        if not parser_built():
            _warn_no_parser()

    def _url(self, webids: list[str], window: Window, max_count: int) -> str:
        query = urlencode(
            [("webId", short_webid(w)) for w in webids]
            + window.params(max_count, STREAMSET_FIELDS)
            + [("webIdType", "IDOnly")]
        )
        return f"{self.client.url('streamsets/recorded')}?{query}"

    def fits(self, webids: list[str], window: Window, max_count: int) -> bool:
        return len(self._url(webids, window, max_count)) <= MAX_URL_LENGTH

    def fetch(self, webids: list[str], window: Window, max_count: int) -> Answer:
        url = self._url(webids, window, max_count)
        # The server answers with the WebIds we sent (IDOnly) or, some servers, the Full ones.
        original = {short_webid(w): w for w in webids} | {w: w for w in webids}
        results: dict[str, StreamResult] = {}
        body = self.client.get(url, decoder=StreamSetDecoder(max_count, original))
        if isinstance(body, StreamSetColumns):
            return Answer(frame=body.frame, counts=body.counts)
        for stream in _items(body, self.client.url("streamsets/recorded")):
            webid = original.get(stream.WebId)
            if webid is None:
                continue  # not one of ours: the stream we asked for counts as missing, and is retried
            error = stream.WebException or stream.Errors
            results[webid] = StreamResult(error=error_text(error)) if error else StreamResult(items=stream.Items or [])
        return Answer(results)


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
        body = self.client.post("batch", batch_body(self._urls(webids, window, max_count)), decoder=BATCH_ANSWERS)
        answers = [_recorded(body.get(str(i))) for i in range(len(webids))]
        over_limit = [a for a in answers if isinstance(a, SubResponse) and a.announced_limit]
        if over_limit:
            # The sub-requests asked for more than the server allows per call: the whole chunk must be
            # re-cut (as for a stream-set 400), not retried stream by stream with the same sizes.
            lowest = min(over_limit, key=lambda a: a.announced_limit)
            self.client.note_limit(lowest.announced_limit)
            raise PIWebAPIError(
                "PI Web API batch sub-requests exceed the server's limit",
                url=self.client.url("batch"),
                status=400,
                errors=[error_text(lowest.content)],
            )
        return Answer({w: a if isinstance(a, StreamResult) else stream_result(a) for w, a in zip(webids, answers)})


def _recorded(answer: BatchAnswer | None) -> StreamResult | SubResponse:
    """A complete 200 sub-response as typed values; anything else (errors, a cut-short or JSON-encoded
    ``Content``) as a plain :class:`SubResponse`, judged like any batch answer."""
    if answer is None:
        return sub_response(None)
    content = memoryview(answer.Content)
    if answer.Status == 200 and content[:1] == b"{":
        try:
            values = RECORDED_VALUES.decode(content)
        except msgspec.DecodeError:
            values = None  # judged below, as plain JSON
        if values is not None and values.Items is not None and not values.WebException and not values.Errors:
            return StreamResult(items=values.Items)
    return sub_response({"Status": answer.Status, "Headers": answer.Headers, "Content": orjson.loads(content)})


def stream_result(answer: SubResponse) -> StreamResult:
    """A batch sub-response as the values of one stream, or its error (with any Retry-After)."""
    items = answer.items
    if items is not None:
        try:
            return StreamResult(items=msgspec.convert(items, list[TimedValue]))
        except msgspec.ValidationError as exc:
            return StreamResult(error=f"HTTP {answer.status}: values of an unexpected shape ({exc})")
    return StreamResult(error=answer.error, retry_after=answer.headers.get("Retry-After"))


def _items(body: msgspec.Struct, url: str) -> list:
    """The ``Items`` of a typed collection body, or a clear error when the server sent none."""
    if body is None or body.Items is None:
        raise PIMalformedResponseError("PI Web API response has no 'Items' list", url=url)
    return body.Items


@cache
def _warn_no_parser() -> None:
    log.warning(
        "The stream-set parser (osipi_dagster/pi/_stream_set.c) is not built: PI's answers are read by the general"
        " decoder, with about 3x the CPU per value. Reinstall with a C compiler on the machine (Debian: apt-get"
        " install gcc) to build it."
    )


TRANSPORTS: dict[str, Callable[[PIWebAPIClient], Transport]] = {
    "streamsets": StreamsetTransport,
    "batch": BatchTransport,
    "streams": StreamsTransport,
}
