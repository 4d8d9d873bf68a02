"""The PI Web API as a Dagster resource: configuration in, a ready client and batch controller out."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import Literal

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from osipi_dagster.pi.auth import AuthConfig, build_auth, build_transport, tls_verify
from osipi_dagster.pi.client import PIWebAPIClient, RetryPolicy
from osipi_dagster.pi.recorded import RecordedExtractor


class PIWebAPIResource(ConfigurableResource):
    """Connection to one PI Web API (a real server or the bundled mock).

    Auth is ``auto`` by default: a token means Bearer, a client id + token URL mean OpenID Connect client
    credentials, a username means Basic, a Kerberos keytab/ticket cache (``KRB5_CLIENT_KTNAME``/``KRB5CCNAME``)
    means Kerberos, nothing means anonymous (see ``osipi_dagster.pi.auth``). Secrets come from ``EnvVar``
    (see ``resources/__init__.py``); nothing secret is stored in run config.
    """

    base_url: str = Field(description="PI Web API root, e.g. https://pi.example.com/piwebapi")
    auth: Literal["auto", "anonymous", "basic", "bearer", "oidc", "kerberos", "ntlm"] = "auto"
    username: str | None = Field(default=None, description="Basic / NTLM user (NTLM: DOMAIN\\user)")
    password: str | None = None
    token: str | None = Field(default=None, description="Bearer (OpenID Connect) access token")
    token_url: str | None = Field(default=None, description="OpenID Connect token endpoint (client credentials)")
    client_id: str | None = None
    client_secret: str | None = None
    token_scope: str | None = Field(default=None, description="Scope requested with client credentials")
    mutual_auth: Literal["required", "optional", "disabled"] = Field(
        default="required", description="Kerberos: must the server prove its identity")
    kerberos_spn: str | None = Field(default=None, description="Service principal; default HTTP/<URL host>")
    verify_tls: bool = Field(default=True, description="false only for a test server: warns loudly")
    ca_bundle: str | None = Field(default=None, description="PEM file or folder of CAs to trust (corporate CA)")
    os_trust_store: bool = Field(default=False, description="Trust the operating system's CA store")
    timeout_seconds: float = 60.0
    data_server: str | None = Field(default=None, description="Data server name; default: the first one")
    tag_filter: str = Field(default="*", description="PI nameFilter selecting the tags to ingest")
    transport: Literal["streamsets", "batch"] = "streamsets"
    streams_per_request: int = Field(default=100, description="Tags per stream-set request / batch")
    max_concurrent_requests: int = 4
    max_items_per_call: int = Field(default=150_000, description="The server's MaxReturnedItemsPerCall")
    max_retries: int = Field(default=5, description="Attempts per request on timeouts, 429 and 5xx")

    _client: PIWebAPIClient | None = PrivateAttr(default=None)

    def make_client(self) -> PIWebAPIClient:
        """A new client; the caller closes it (``with resource.make_client() as client``)."""
        verify = tls_verify(self.verify_tls, self.ca_bundle, self.os_trust_store)
        auth = build_auth(self.auth_config(), self.base_url, verify)
        connections = max(self.max_concurrent_requests, 1)
        return PIWebAPIClient(
            self.base_url,
            auth=auth,
            timeout_seconds=self.timeout_seconds,
            retry=RetryPolicy(max_attempts=self.max_retries),
            transport=build_transport(self.base_url, verify, connections, auth),
        )

    def auth_config(self) -> AuthConfig:
        return AuthConfig(mode=self.auth, username=self.username, password=self.password, token=self.token,
                          token_url=self.token_url, client_id=self.client_id, client_secret=self.client_secret,
                          scope=self.token_scope, mutual_auth=self.mutual_auth, kerberos_spn=self.kerberos_spn)

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

    def extractor(self, progress: Callable[[str], None] | None = None) -> RecordedExtractor:
        return RecordedExtractor(
            self.client,
            transport=self.transport,
            streams_per_request=self.streams_per_request,
            max_concurrency=self.max_concurrent_requests,
            max_items_per_call=self.max_items_per_call,
            progress=progress,
        )

