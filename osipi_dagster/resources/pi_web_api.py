"""The PI Web API as a Dagster resource: configuration in, a ready client and batch controller out."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import Literal

from dagster import ConfigurableResource, EnvVar, InitResourceContext
from pydantic import ConfigDict, Field, PrivateAttr, field_validator

from osipi_dagster.pi.auth import AuthConfig, build_auth, connection_bound_transport, tls_verify
from osipi_dagster.pi.batch_controller import VALUES_PER_REQUEST, BatchController
from osipi_dagster.pi.client import PIWebAPIClient, RetryPolicy
from osipi_dagster.settings import pi_web_api_url_problem


class PIWebAPIResource(ConfigurableResource):
    """Connection to one PI Web API (a real server or the bundled mock).

    Auth is ``auto`` by default: a token means Bearer, a client id + token URL mean OpenID Connect client
    credentials, a username means Basic, a Kerberos keytab/ticket cache (``KRB5_CLIENT_KTNAME``/``KRB5CCNAME``)
    means Kerberos, nothing means anonymous (see ``osipi_dagster.pi.auth``). Secrets come from ``EnvVar``
    (see ``resources/__init__.py``); nothing secret is stored in run config, and ``base_url`` refuses
    credentials (they would show wherever the URL is shown).
    """

    # Validation errors must not echo what was given (a URL with a password, a token in the wrong field).
    model_config = ConfigDict(hide_input_in_errors=True)

    base_url: str = Field(description="PI Web API root, e.g. https://pi.example.com/piwebapi (no user:password@)")
    auth: Literal["auto", "anonymous", "basic", "bearer", "oidc", "kerberos", "ntlm"] = "auto"
    username: str | None = Field(default=None, description="Basic / NTLM user (NTLM: DOMAIN\\user)")
    password: str | None = None
    token: str | None = Field(default=None, description="Bearer (OpenID Connect) access token")
    token_url: str | None = Field(default=None, description="OpenID Connect token endpoint (client credentials)")
    client_id: str | None = None
    client_secret: str | None = None
    token_scope: str | None = Field(default=None, description="Scope requested with client credentials")
    mutual_auth: Literal["required", "optional", "disabled"] = Field(
        default="required", description="Kerberos: must the server prove its identity"
    )
    kerberos_spn: str | None = Field(default=None, description="Service principal; default HTTP/<URL host>")
    verify_tls: bool = Field(default=True, description="false only for a test server: warns loudly")
    ca_bundle: str | None = Field(default=None, description="PEM file or folder of CAs to trust (corporate CA)")
    os_trust_store: bool = Field(default=False, description="Trust the operating system's CA store")
    connect_timeout_seconds: float = Field(default=5.0, gt=0, description="Seconds allowed to open a connection")
    timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Read timeout: seconds allowed between bytes of a response (also for sending a request)",
    )
    data_server: str | None = Field(default=None, description="Data server name; default: the first one")
    tag_filter: str = Field(default="*", description="PI nameFilter selecting the tags to ingest")
    af_databases: list[str] = Field(
        default=[], description="AF database paths to crawl (\\\\AFSERVER\\Database); empty: every database"
    )
    transport: Literal["streamsets", "batch"] = "streamsets"
    streams_per_request: int = Field(
        default=100,
        description="Tags per stream-set request / batch while their rates are unknown (wider once the first answers"
        " show no busy tags; planned from the rates after the first hour of a range run)",
    )
    max_concurrent_requests: int = 4
    max_items_per_call: int = Field(default=150_000, description="The server's MaxReturnedItemsPerCall")
    values_per_request: int = Field(
        default=VALUES_PER_REQUEST,
        gt=0,
        description="Values a recorded-values request is planned to return when a range run reads several "
        "hours per request (fewer: less memory per request in flight, more requests)",
    )
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

    def make_client(self) -> PIWebAPIClient:
        """A new client; the caller closes it (``with resource.make_client() as client``)."""
        verify = tls_verify(self.verify_tls, self.ca_bundle, self.os_trust_store)
        auth = build_auth(self.auth_config(), self.base_url, verify)
        return PIWebAPIClient(
            self.base_url,
            auth=auth,
            verify_tls=verify,
            timeout_seconds=self.timeout_seconds,
            connect_timeout_seconds=self.connect_timeout_seconds,
            max_connections=max(self.max_concurrent_requests, 1),
            retry=RetryPolicy(max_attempts=self.max_retries),
            transport=connection_bound_transport(self.base_url, verify, auth),
        )

    def auth_config(self) -> AuthConfig:
        return AuthConfig(
            mode=self.auth,
            username=self.username,
            password=self.password,
            token=self.token,
            token_url=self.token_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            scope=self.token_scope,
            mutual_auth=self.mutual_auth,
            kerberos_spn=self.kerberos_spn,
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
            values_per_request=self.values_per_request,
            progress=progress,
        )
