"""A small, Dagster-free PI Web API client: auth, retries, paging, PI-shaped errors.

One ``httpx.Client`` (pooled keep-alive connections, gzip) is shared by the threads of the extraction
pool; httpx clients are thread-safe. Responses are decoded with orjson.

Retries: connect errors, timeouts, 429 and 502/503/504 are retried with exponential backoff and full
jitter, honouring ``Retry-After``; every retry of the client (including the per-stream retries of the
batch controller, see :meth:`PIWebAPIClient.take_retry`) draws on one bounded budget, so a sick server
gets a bounded number of extra requests, never a retry storm.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from osipi_dagster.pi.auth import auth_failure_summary
from osipi_dagster.pi.errors import (
    PIAuthenticationError,
    PIInterruptedResponseError,
    PIMalformedResponseError,
    PIWebAPIError,
)

log = logging.getLogger(__name__)

# Statuses worth retrying: rate limit, overloaded/unavailable gateway or server.
RETRYABLE_STATUS = {429, 502, 503, 504}


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5  # per request, including the first
    backoff_seconds: float = 0.5  # first delay; doubles each attempt, with full jitter
    max_backoff_seconds: float = 30.0
    budget: int = 200  # retries allowed across the whole client (stops retry storms)


@dataclass
class ClientStats:
    """What the client did: requests, bytes and retries (reported as asset metadata)."""

    requests: int = 0
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
        verify_tls: bool = True,
        timeout_seconds: float = 60.0,
        max_connections: int = 8,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/") + "/"
        self.retry = retry or RetryPolicy()
        self.stats = ClientStats()
        self._lock = threading.Lock()
        self._http = httpx.Client(
            auth=auth,
            headers={"Accept": "application/json", "Accept-Encoding": "gzip", **(headers or {})},
            verify=verify_tls,
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0)),
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

    def request(self, method: str, path: str, params: Any = None, json_body: Any = None) -> Any:
        """Send one request, retrying connect errors, timeouts, 429 and 5xx gateway errors.

        Returns the decoded JSON body. Raises :class:`PIWebAPIError` naming the URL and PI's errors.
        """
        url = self.url(path)
        headers = {}
        content = None
        if json_body is not None:
            content = orjson.dumps(json_body)
            # PI Web API's CSRF defence rejects POST/PUT/PATCH/DELETE without this header.
            headers = {"Content-Type": "application/json", "X-Requested-With": "osipi-dagster"}
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(method, url, params=params, content=content, headers=headers)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if self._may_retry(attempt):
                    self._sleep_before_retry(attempt, None, f"{type(exc).__name__} on {shown_url(url)}")
                    continue
                raise PIWebAPIError(f"Cannot reach the PI Web API ({type(exc).__name__}: {exc})",
                                    url=shown_url(url)) from exc
            with self._lock:
                self.stats.requests += 1
                self.stats.bytes_received += response.num_bytes_downloaded
                self.stats.bytes_sent += len(content or b"")
            if response.status_code in RETRYABLE_STATUS and self._may_retry(attempt):
                self._sleep_before_retry(attempt, response.headers.get("Retry-After"),
                                         f"HTTP {response.status_code} on {shown_url(url)}")
                continue
            try:
                return self._decode(response, url)
            except (PIMalformedResponseError, PIInterruptedResponseError) as exc:
                # A truncated body or an error while the server streamed it: asking again usually helps.
                if self._may_retry(attempt):
                    self._sleep_before_retry(attempt, None, f"{type(exc).__name__} on {shown_url(url)}")
                    continue
                raise

    def batch_get(self, urls: list[str]) -> list[SubResponse]:
        """GET many resources in one ``POST batch``; each answer has its own status (HTTP 207)."""
        response = self.post("batch", batch_body(urls))
        if not isinstance(response, dict):
            raise PIMalformedResponseError("PI Web API batch response is not an object", url=self.url("batch"))
        return [_sub_response(response.get(str(i))) for i in range(len(urls))]

    def get(self, path: str, params: Any = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, json_body=body)

    def take_retry(self) -> bool:
        """Draw one retry from the client's budget (False once it is spent)."""
        with self._lock:
            if self.stats.retries >= self.retry.budget:
                return False
            self.stats.retries += 1
            return True

    def _may_retry(self, attempt: int) -> bool:
        return attempt < self.retry.max_attempts and self.take_retry()

    def backoff_seconds(self, attempt: int, retry_after: str | None = None) -> float:
        """Exponential backoff with full jitter (concurrent workers do not retry in lockstep), but never
        sooner than the server's ``Retry-After`` (seconds or an HTTP date), capped at the maximum."""
        delay = random.uniform(0, min(self.retry.max_backoff_seconds, self.retry.backoff_seconds * 2 ** (attempt - 1)))
        wait = _retry_after_seconds(retry_after)
        return max(delay, min(wait, self.retry.max_backoff_seconds)) if wait is not None else delay

    def _sleep_before_retry(self, attempt: int, retry_after: str | None, reason: str) -> None:
        delay = self.backoff_seconds(attempt, retry_after)
        log.warning("PI Web API: %s; retry %d in %.1fs", reason, attempt, delay)
        time.sleep(delay)

    @staticmethod
    def _decode(response: httpx.Response, url: str) -> Any:
        url = shown_url(url)
        status = response.status_code
        try:
            body = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError as exc:
            if status < 400:
                raise PIMalformedResponseError(
                    f"PI Web API returned a body that is not valid JSON ({exc})", url=url, status=status) from exc
            body = None
        if status in (401, 403):
            message = (body or {}).get("Message") if isinstance(body, dict) else None
            raise PIAuthenticationError(f"PI Web API refused the credentials ({auth_failure_summary(response)})",
                                        url=url, status=status, errors=[message] if message else _errors(body))
        if status >= 400:
            raise PIWebAPIError("PI Web API request failed", url=url, status=status,
                                errors=_errors(body) or [response.text[:300]])
        if isinstance(body, dict) and body.get("WebException"):
            # An error while the server was streaming the body after a 2xx status (§0).
            exc_info = body["WebException"]
            raise PIInterruptedResponseError("PI Web API failed while sending the response", url=url,
                                status=exc_info.get("StatusCode"), errors=exc_info.get("Errors"))
        return body

    # -- discovery --------------------------------------------------------------------------------

    def paged(self, path: str, params: dict | None = None, page_size: int = 1000) -> Iterator[dict]:
        """All ``Items`` of a collection, page by page (``startIndex`` += page size until a short page)."""
        start = 0
        while True:
            body = self.get(path, {**(params or {}), "startIndex": start, "maxCount": page_size})
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

    def points(self, data_server_webid: str, name_filter: str = "*", page_size: int = 1000,
               selected_fields: str | None = None) -> Iterator[dict]:
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
        """The ``Items`` of a successful collection sub-request, else None."""
        if self.status == 200 and isinstance(self.content, dict) and isinstance(self.content.get("Items"), list):
            return self.content["Items"]
        return None

    @property
    def error(self) -> str:
        return f"HTTP {self.status}: {error_text(self.content)}"


def batch_body(urls: list[str]) -> dict:
    """A ``POST batch`` body of independent GETs (they run in parallel on the server)."""
    return {str(i): {"Method": "GET", "Resource": url} for i, url in enumerate(urls)}


def _sub_response(sub: Any) -> SubResponse:
    if not isinstance(sub, dict):
        return SubResponse(0, {"Errors": ["no response for this sub-request"]}, {})
    content = sub.get("Content")
    if isinstance(content, (str, bytes)):  # the reference types Content as a (JSON) string
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
    """A URL short enough for an error message (a stream-set URL can carry hundreds of WebIds)."""
    return url if len(url) <= limit else f"{url[:limit]}… ({len(url):,} chars)"


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After: 3`` or ``Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`` → seconds (None if absent/bad)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


def _errors(body: Any) -> list[str]:
    if isinstance(body, dict):
        errors = body.get("Errors") or ([body["Message"]] if body.get("Message") else [])
        return [str(e) for e in errors]
    return []
