"""The PI Web API as a Dagster resource: configuration in, a ready client and batch controller out."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import Literal

import httpx
from dagster import ConfigurableResource, EnvVar, InitResourceContext
from pydantic import ConfigDict, Field, PrivateAttr, field_validator

from osipi_dagster.pi.client import PIWebAPIClient, RetryPolicy
from osipi_dagster.pi.batch_controller import BatchController
from osipi_dagster.settings import pi_web_api_url_problem


class PIWebAPIResource(ConfigurableResource):
    """Connection to one PI Web API (a real server or the bundled mock).

    Auth is ``auto`` by default: a token means Bearer, a username means Basic, neither means anonymous.
    Secrets come from ``EnvVar`` (see ``resources/__init__.py``); nothing secret is stored in run config, and
    ``base_url`` refuses credentials (they would show wherever the URL is shown).
    """

    # Validation errors must not echo what was given (a URL with a password, a token in the wrong field).
    model_config = ConfigDict(hide_input_in_errors=True)

    base_url: str = Field(description="PI Web API root, e.g. https://pi.example.com/piwebapi (no user:password@)")
    auth: Literal["auto", "anonymous", "basic", "bearer"] = "auto"
    username: str | None = None
    password: str | None = None
    token: str | None = Field(default=None, description="Bearer (OpenID Connect) access token")
    verify_tls: bool = True
    connect_timeout_seconds: float = Field(default=5.0, gt=0, description="Seconds allowed to open a connection")
    timeout_seconds: float = Field(
        default=30.0, gt=0,
        description="Read timeout: seconds allowed between bytes of a response (also for sending a request)")
    data_server: str | None = Field(default=None, description="Data server name; default: the first one")
    tag_filter: str = Field(default="*", description="PI nameFilter selecting the tags to ingest")
    af_databases: list[str] = Field(
        default=[], description="AF database paths to crawl (\\\\AFSERVER\\Database); empty: every database")
    transport: Literal["streamsets", "batch"] = "streamsets"
    streams_per_request: int = Field(default=100, description="Tags per stream-set request / batch")
    max_concurrent_requests: int = 4
    max_items_per_call: int = Field(default=150_000, description="The server's MaxReturnedItemsPerCall")
    max_retries: int = Field(default=5, description="Attempts per request on timeouts, 429 and 5xx")

    _client: PIWebAPIClient | None = PrivateAttr(default=None)

    @field_validator("base_url", mode="before")
    @classmethod
    def _no_credentials_in_url(cls, url: str) -> str:
        if isinstance(url, EnvVar):  # checked when Dagster resolves it for a run
            return url
        problem = pi_web_api_url_problem(url, "base_url")
        if problem:
            raise ValueError(problem)
        return url

    def _http_auth(self) -> httpx.Auth | None:
        method = self.auth
        if method == "auto":
            method = "bearer" if self.token else "basic" if self.username else "anonymous"
        if method == "basic":
            if not self.username:
                raise ValueError("PI Web API auth 'basic' needs a username (PI_WEB_API_USERNAME)")
            return httpx.BasicAuth(self.username, self.password or "")
        if method == "bearer":
            if not self.token:
                raise ValueError("PI Web API auth 'bearer' needs a token (PI_WEB_API_TOKEN)")
            return _BearerAuth(self.token)
        return None

    def make_client(self) -> PIWebAPIClient:
        """A new client; the caller closes it (``with resource.make_client() as client``)."""
        return PIWebAPIClient(
            self.base_url,
            auth=self._http_auth(),
            verify_tls=self.verify_tls,
            timeout_seconds=self.timeout_seconds,
            connect_timeout_seconds=self.connect_timeout_seconds,
            max_connections=max(self.max_concurrent_requests, 1),
            retry=RetryPolicy(max_attempts=self.max_retries),
        )

    @contextmanager
    def yield_for_execution(self, context: InitResourceContext):
        self._client = self.make_client()
        try:
            yield self
        finally:
            self._client.close()
            self._client = None

    @property
    def client(self) -> PIWebAPIClient:
        if self._client is None:  # used outside a run (a script or a sensor without setup)
            self._client = self.make_client()
        return self._client

    def batch_controller(self, progress: Callable[[str], None] | None = None) -> BatchController:
        return BatchController(
            self.client,
            transport=self.transport,
            streams_per_request=self.streams_per_request,
            max_concurrency=self.max_concurrent_requests,
            max_items_per_call=self.max_items_per_call,
            progress=progress,
        )


class _BearerAuth(httpx.Auth):
    def __init__(self, token: str):
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request):
        request.headers["Authorization"] = self._header
        yield request
