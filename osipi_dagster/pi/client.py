"""A small, Dagster-free PI Web API client: auth, retries, paging, PI-shaped errors.

One ``httpx.Client`` (pooled keep-alive connections, gzip) is shared by the threads of the extraction
pool; httpx clients are thread-safe. Responses are decoded with orjson, or, for the bulk of the data (recorded values),
by a typed msgspec decoder the caller passes (:mod:`osipi_dagster.pi.values`).

Retries: timeouts, dropped connections, 429 and 502/503/504 are retried with exponential backoff and
full jitter, honouring ``Retry-After``. Every retry of the client (including the per-stream retries of the
batch controller, see :meth:`PIWebAPIClient.take_retry`) draws on one budget that grows with the work
(``RetryPolicy.budget`` plus ``budget_per_unit`` for every request asked for and every stream a
multi-stream request reads), so a sick server gets a bounded share of extra requests, never a retry
storm, while a long backfill of many tags is not starved by a fixed cap.

Nothing that retrying cannot fix is retried: 4xx answers (bad credentials, a wrong path), an unknown
host, a refused connection, an untrusted TLS certificate fail at once with a message saying what to change.

URLs in messages and logs never carry credentials (``user:password@`` is stripped, and refused in the
base URL).
"""

from __future__ import annotations

import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx
import msgspec
import orjson
from zlib_ng import zlib_ng

from osipi_dagster.pi.auth import auth_failure_summary
from osipi_dagster.pi.errors import (
    PIAuthenticationError,
    PIConnectionError,
    PIInterruptedResponseError,
    PIMalformedResponseError,
    PIWebAPIError,
    announced_limit,
)

log = logging.getLogger(__name__)


class BodyDecoder(Protocol):
    """A typed decoder of 2xx bodies: a msgspec decoder, or one that tries a faster reader first
    (``values.StreamSetDecoder``). Raises ``msgspec.DecodeError`` for a body it cannot decode; what it returns has a
    ``WebException`` attribute (PI's error while it was sending the body)."""

    def decode(self, content: bytes) -> Any: ...


# Statuses worth retrying: rate limit, overloaded/unavailable gateway or server.
RETRYABLE_STATUS = {429, 502, 503, 504}


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5  # per request, including the first
    backoff_seconds: float = 0.5  # first delay; doubles each attempt, with full jitter
    max_backoff_seconds: float = 30.0
    # Retries allowed across the whole client: ``budget`` plus ``budget_per_unit`` for each unit of work
    # asked for — a request (retries not counted), or a stream of a multi-stream request, which may need
    # a retry of its own — so the budget scales with the run and still stops retry storms.
    budget: int = 50
    budget_per_unit: float = 0.1

    def allowed_retries(self, units: int) -> int:
        return self.budget + int(self.budget_per_unit * units)

    def describe_budget(self, retries: int, units: int) -> str:
        return (
            f"the retry budget is spent: {retries} retries for {units:,} requests and streams (allowed:"
            f" {self.budget} + {self.budget_per_unit:g} per request or stream)"
        )


@dataclass
class ClientStats:
    """What the client did: requests, bytes and retries (reported as asset metadata)."""

    requests: int = 0  # HTTP requests sent, retries included
    work: int = 0  # requests asked for (retries not counted) and streams they read: the retry budget grows with it
    bytes_received: int = 0  # response bodies as sent on the wire (compressed, when the server gzips)
    bytes_sent: int = 0  # request bodies (batch POSTs)
    retries: int = 0


class PIWebAPIClient:
    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        headers: dict[str, str] | None = None,
        verify_tls: bool | ssl.SSLContext | str = True,
        timeout_seconds: float = 30.0,
        connect_timeout_seconds: float = 5.0,
        max_connections: int = 8,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        if urlsplit(base_url).username is not None or urlsplit(base_url).password is not None:
            raise ValueError(
                f"The PI Web API URL {shown_url(base_url)} carries credentials (user:password@…): "
                "remove them and set PI_WEB_API_USERNAME / PI_WEB_API_PASSWORD instead"
            )
        self.base_url = base_url.rstrip("/") + "/"
        self.retry = retry or RetryPolicy()
        self.stats = ClientStats()
        # The lowest MaxReturnedItemsPerCall the server announced (None: it has not complained yet).
        self.max_items: int | None = None
        self._lock = threading.Lock()
        self._http = httpx.Client(
            auth=auth,
            headers={"Accept": "application/json", "Accept-Encoding": "gzip", **(headers or {})},
            verify=verify_tls,
            # read = the longest silence allowed between bytes of a response (a hung server), not a
            # total: a large response that keeps flowing is never cut.
            timeout=httpx.Timeout(timeout_seconds, connect=connect_timeout_seconds),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PIWebAPIClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path.lstrip("/")

    # -- requests ---------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        params: Any = None,
        json_body: Any = None,
        decoder: BodyDecoder | None = None,
    ) -> Any:
        """Send one request, retrying timeouts, dropped connections, 429 and 5xx gateway errors.

        Returns the decoded JSON body: by ``decoder`` (:class:`BodyDecoder`) if given, else as plain JSON.
        Raises :class:`PIWebAPIError` naming the URL (without credentials), PI's errors and, when retries ran
        out, why.
        """
        url = self.url(path)
        headers = {}
        content = None
        if json_body is not None:
            content = orjson.dumps(json_body)
            # PI Web API's CSRF defence rejects POST/PUT/PATCH/DELETE without this header.
            headers = {"Content-Type": "application/json", "X-Requested-With": "osipi-dagster"}
        with self._lock:
            self.stats.work += 1
        attempt = 0
        while True:
            attempt += 1
            try:
                response, raw, encoding = self._send(method, url, params, content, headers)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                permanent = _permanent_connect_failure(exc)
                if permanent:
                    raise PIConnectionError(
                        f"Cannot connect to the PI Web API: {permanent}", url=shown_url(url), transient=False
                    ) from exc
                refusal = self._retry_refusal(attempt)
                if refusal is None:
                    self._sleep_before_retry(attempt, None, f"{type(exc).__name__} on {shown_url(url)}")
                    continue
                raise PIWebAPIError(
                    f"Cannot reach the PI Web API ({type(exc).__name__}: {exc}); {refusal}",
                    url=shown_url(url),
                    transient=True,
                ) from exc
            with self._lock:
                self.stats.requests += 1
                self.stats.bytes_received += response.num_bytes_downloaded
                self.stats.bytes_sent += len(content or b"")
            refusal = None
            if response.status_code in RETRYABLE_STATUS:
                refusal = self._retry_refusal(attempt)
                if refusal is None:
                    self._sleep_before_retry(
                        attempt, response.headers.get("Retry-After"), f"HTTP {response.status_code} on {shown_url(url)}"
                    )
                    continue
            try:
                return self._decode(
                    response, decoded_body(raw, encoding, url, response.status_code), url, refusal, decoder
                )
            except (PIMalformedResponseError, PIInterruptedResponseError) as exc:
                # A truncated body or an error while the server streamed it: asking again usually helps.
                if not exc.transient:
                    raise  # valid JSON of the wrong shape: the same answer again
                refusal = self._retry_refusal(attempt)
                if refusal is None:
                    self._sleep_before_retry(attempt, None, f"{type(exc).__name__} on {shown_url(url)}")
                    continue
                exc.args = (f"{exc}; {refusal}",)
                raise

    def batch_get(self, urls: list[str]) -> list[SubResponse]:
        """GET many resources in one ``POST batch``; each answer has its own status (HTTP 207)."""
        response = self.post("batch", batch_body(urls))
        if not isinstance(response, dict):
            raise PIMalformedResponseError("PI Web API batch response is not an object", url=self.url("batch"))
        return [sub_response(response.get(str(i))) for i in range(len(urls))]

    def get(self, path: str, params: Any = None, decoder: BodyDecoder | None = None) -> Any:
        return self.request("GET", path, params=params, decoder=decoder)

    def post(self, path: str, body: Any, decoder: BodyDecoder | None = None) -> Any:
        return self.request("POST", path, json_body=body, decoder=decoder)

    def take_retry(self) -> bool:
        """Draw one retry from the client's budget (False once it is spent)."""
        with self._lock:
            if self.stats.retries >= self.retry.allowed_retries(self.stats.work):
                return False
            self.stats.retries += 1
            return True

    def budget_spent(self) -> str:
        """Why a retry was refused: the budget, with its figures (for error messages)."""
        with self._lock:
            return self.retry.describe_budget(self.stats.retries, self.stats.work)

    def add_work(self, streams: int) -> None:
        """Count the extra streams of a multi-stream request as work (each may need a retry of its own)."""
        with self._lock:
            self.stats.work += max(0, streams - 1)

    def _retry_refusal(self, attempt: int) -> str | None:
        """Why the request may not be retried again, or None (and a retry is drawn from the budget)."""
        if attempt >= self.retry.max_attempts:
            return f"gave up after {attempt} attempts"
        return None if self.take_retry() else self.budget_spent()

    def note_limit(self, limit: int) -> None:
        """Adopt a MaxReturnedItemsPerCall the server announced (the lowest one wins)."""
        with self._lock:
            if self.max_items is None or limit < self.max_items:
                log.warning("PI Web API: the server's MaxReturnedItemsPerCall is %d; using it from now on", limit)
                self.max_items = limit

    def items_limit(self, wanted: int) -> int:
        """``wanted`` items per call, or fewer if the server announced a lower limit."""
        return min(wanted, self.max_items) if self.max_items else wanted

    def backoff_seconds(self, attempt: int, retry_after: str | None = None) -> float:
        """Exponential backoff with full jitter (concurrent workers do not retry in lockstep), but never
        sooner than the server's ``Retry-After`` (seconds or an HTTP date), capped at the maximum."""
        delay = random.uniform(0, min(self.retry.max_backoff_seconds, self.retry.backoff_seconds * 2 ** (attempt - 1)))
        wait = _retry_after_seconds(retry_after)
        return max(delay, min(wait, self.retry.max_backoff_seconds)) if wait is not None else delay

    def _send(
        self, method: str, url: str, params: Any, content: bytes | None, headers: dict
    ) -> tuple[httpx.Response, bytes, str]:
        """The response, its body and the body's ``Content-Encoding``: the client inflates gzip itself (see
        :func:`decoded_body`), so httpx is asked for the bytes as sent, unless an auth flow read (and httpx
        decoded) the body already."""
        request = self._http.build_request(method, url, params=params, content=content, headers=headers)
        response = self._http.send(request, stream=True)
        try:
            if response.is_stream_consumed:
                return response, response.content, ""
            return response, b"".join(response.iter_raw()), response.headers.get("content-encoding", "")
        finally:
            response.close()

    def _sleep_before_retry(self, attempt: int, retry_after: str | None, reason: str) -> None:
        delay = self.backoff_seconds(attempt, retry_after)
        log.warning("PI Web API: %s; retry %d in %.1fs", reason, attempt, delay)
        time.sleep(delay)

    def _decode(
        self,
        response: httpx.Response,
        content: bytes,
        url: str,
        refusal: str | None = None,
        decoder: BodyDecoder | None = None,
    ) -> Any:
        url = shown_url(url)
        status = response.status_code
        if decoder is not None and status < 400 and content:
            return _interrupted_or_body(_typed_body(decoder, content, url, status), url)
        try:
            body = orjson.loads(content) if content else None
        except orjson.JSONDecodeError as exc:
            if status < 400:
                raise PIMalformedResponseError(
                    f"PI Web API returned a body that is not valid JSON ({exc})", url=url, status=status, transient=True
                ) from exc
            body = None
        if status in (401, 403):
            message = (body or {}).get("Message") if isinstance(body, dict) else None
            raise PIAuthenticationError(
                "PI Web API refused the credentials",
                url=url,
                status=status,
                errors=([message] if message else _errors(body)) + [auth_failure_summary(response)],
            )
        if status >= 400:
            errors = _errors(body) or [content[:300].decode("utf-8", "replace")]
            limit = announced_limit(status, errors)
            if limit:
                self.note_limit(limit)
            raise PIWebAPIError(
                "PI Web API request failed", url=url, status=status, errors=errors + ([refusal] if refusal else [])
            )
        return _interrupted_or_body(body, url)

    # -- discovery --------------------------------------------------------------------------------

    def paged(self, path: str, params: dict | None = None, page_size: int = 1000) -> Iterator[dict]:
        """All ``Items`` of a collection, page by page (``startIndex`` += page size until a short page).

        A server whose MaxReturnedItemsPerCall is below the page size says so in a 400: the page is
        asked for again with the server's limit."""
        start = 0
        while True:
            page_size = self.items_limit(page_size)
            try:
                body = self.get(path, {**(params or {}), "startIndex": start, "maxCount": page_size})
            except PIWebAPIError as exc:
                if exc.announced_limit and exc.announced_limit < page_size:
                    continue  # the client noted the limit: ask again, smaller
                raise
            items = items_of(body, self.url(path))
            yield from items
            if len(items) < page_size:
                return
            start += page_size

    def data_server(self, name: str | None = None) -> dict:
        """The data server named ``name`` (or the only/first one)."""
        if name:
            return self.get("dataservers", {"name": name})
        servers = items_of(self.get("dataservers"), self.url("dataservers"))
        if not servers:
            raise PIWebAPIError("The PI Web API lists no data servers", url=self.url("dataservers"))
        return servers[0]

    def points(
        self, data_server_webid: str, name_filter: str = "*", page_size: int = 1000, selected_fields: str | None = None
    ) -> Iterator[dict]:
        params = {"nameFilter": name_filter}
        if selected_fields:
            params["selectedFields"] = selected_fields
        return self.paged(f"dataservers/{data_server_webid}/points", params, page_size)


@dataclass(frozen=True)
class SubResponse:
    """One sub-response of ``POST batch``: its own status, headers and (decoded) content."""

    status: int
    content: Any
    headers: dict

    @property
    def items(self) -> list | None:
        """The ``Items`` of a successful, complete collection sub-request, else None.

        A 200 whose content also carries a ``WebException`` (the server failed while reading, the
        ``Items`` are cut short) or ``Errors`` is a failure, never a partial success."""
        content = self.content
        if (
            self.status == 200
            and isinstance(content, dict)
            and isinstance(content.get("Items"), list)
            and not content.get("WebException")
            and not content.get("Errors")
        ):
            return content["Items"]
        return None

    @property
    def error(self) -> str:
        content = self.content
        if self.status < 300 and isinstance(content, dict) and content.get("WebException"):
            return f"HTTP {self.status}, then failed while sending: {error_text(content['WebException'])}"
        return f"HTTP {self.status}: {error_text(content)}"

    @property
    def announced_limit(self) -> int | None:
        return announced_limit(self.status, [error_text(self.content)])


def batch_body(urls: list[str]) -> dict:
    """A ``POST batch`` body of independent GETs (they run in parallel on the server)."""
    return {str(i): {"Method": "GET", "Resource": url} for i, url in enumerate(urls)}


def sub_response(sub: Any) -> SubResponse:
    """One answer of a ``POST batch`` body (anything but a dict: the server sent none) as a :class:`SubResponse`."""
    if not isinstance(sub, dict):
        return SubResponse(0, {"Errors": ["no response for this sub-request"]}, {})
    content = sub.get("Content")
    if isinstance(content, (str, bytes)):  # a sub-request's Content may be a JSON-encoded string
        try:
            content = orjson.loads(content) if content else None
        except orjson.JSONDecodeError:
            content = {"Errors": [f"malformed content: {str(content)[:100]}"]}
    headers = sub.get("Headers") if isinstance(sub.get("Headers"), dict) else {}
    return SubResponse(int(sub.get("Status") or 0), content, headers)


def error_text(error: Any) -> str:
    """PI's error payloads (``{"Errors": [...]}``, ``{"Message": ...}``, a WebException) as one line."""
    if isinstance(error, dict):
        errors = error.get("Errors") or error.get("Message") or error
        status = error.get("StatusCode")
        text = "; ".join(map(str, errors)) if isinstance(errors, list) else str(errors)
        return f"HTTP {status}: {text}" if status else text
    if isinstance(error, list):
        return "; ".join(map(str, error))
    return str(error)


def items_of(body: Any, url: str) -> list:
    """The ``Items`` list of a collection body, or a clear error when the shape is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("Items"), list):
        raise PIMalformedResponseError("PI Web API response has no 'Items' list", url=url)
    return body["Items"]


def shown_url(url: str, limit: int = 300) -> str:
    """A URL fit for a message or a log: no credentials, and short (a stream-set URL can carry hundreds
    of WebIds)."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return url if len(url) <= limit else f"{url[:limit]}… ({len(url):,} chars)"


def _permanent_connect_failure(exc: BaseException) -> str | None:
    """What makes a connection fail in a way no retry fixes (with what to change), or None."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"the server's TLS certificate is not trusted ({cause.verify_message or cause}); point "
                "PI_WEB_API_CA_BUNDLE at your corporate CA's PEM file (PI_WEB_API_VERIFY_TLS=false only to test)"
            )
        if isinstance(cause, ssl.SSLError):
            return f"the TLS handshake failed ({cause}); check that PI_WEB_API_URL's scheme and port are right"
        if isinstance(cause, socket.gaierror):
            return f"unknown host ({cause}); check the host name in PI_WEB_API_URL"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused; check the host and port in PI_WEB_API_URL and that the PI Web API service runs"
        cause = cause.__cause__ or cause.__context__
    return None


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After: 3`` or ``Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`` → seconds (None if absent/bad)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def decoded_body(raw: bytes, encoding: str, url: str, status: int) -> bytes:
    """The body with its ``Content-Encoding`` undone. zlib-ng inflates gzip about twice as fast as the standard
    library's zlib, which httpx would use (an hour of a large plant is hundreds of MB of JSON). A body that does
    not inflate was cut or garbled on the way: retried."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity") or not raw:  # (an empty body stays empty, whatever its header says)
        return raw
    if encoding not in ("gzip", "deflate"):
        raise PIMalformedResponseError(
            f"PI Web API answered with Content-Encoding '{encoding}'; the client reads gzip and deflate only",
            url=shown_url(url),
            status=status,
            transient=False,
        )
    try:
        return zlib_ng.decompress(raw, 47)  # 32 + 15: a gzip or a zlib header, whichever is there
    except zlib_ng.error as exc:
        if encoding == "deflate":  # some servers send "deflate" without the zlib header
            try:
                return zlib_ng.decompress(raw, -15)
            except zlib_ng.error:
                pass
        raise PIMalformedResponseError(
            f"PI Web API sent a {encoding} body that does not inflate ({exc})",
            url=shown_url(url),
            status=status,
            transient=True,
        ) from exc


def _typed_body(decoder: BodyDecoder, content: bytes, url: str, status: int) -> Any:
    """A 2xx body decoded into the decoder's type; a clear error for invalid JSON (retried) or valid JSON
    of another shape than the PI Web API documents (not retried: it would come back the same)."""
    try:
        return decoder.decode(content)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # (msgspec raises the latter for text not in UTF-8)
        # msgspec checks types while it parses, so broken JSON can fail as a type error first: ask orjson.
        try:
            orjson.loads(content)
        except orjson.JSONDecodeError as invalid:
            raise PIMalformedResponseError(
                f"PI Web API returned a body that is not valid JSON ({invalid})", url=url, status=status, transient=True
            ) from exc
        raise PIMalformedResponseError(
            f"PI Web API returned a body of an unexpected shape ({exc})", url=url, status=status, transient=False
        ) from exc


def _interrupted_or_body(body: Any, url: str) -> Any:
    """The body, unless it reports an error while the server was streaming it after a 2xx status
    (``WebException``, docs/pi-web-api.md#errors): a plain JSON object or a typed one."""
    exc_info = body.get("WebException") if isinstance(body, dict) else getattr(body, "WebException", None)
    if exc_info:
        raise PIInterruptedResponseError(
            "PI Web API failed while sending the response",
            url=url,
            status=exc_info.get("StatusCode") if isinstance(exc_info, dict) else None,
            errors=exc_info.get("Errors") if isinstance(exc_info, dict) else [str(exc_info)],
            transient=True,
        )
    return body


def _errors(body: Any) -> list[str]:
    if isinstance(body, dict):
        errors = body.get("Errors") or ([body["Message"]] if body.get("Message") else [])
        return [str(e) for e in errors]
    return []
