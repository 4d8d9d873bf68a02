"""How the client proves who it is and checks who the server is — from plain parameters, no Dagster.

Auth modes (:data:`AUTH_MODES`): ``anonymous``, ``basic``, ``bearer`` (a static token), ``oidc`` (OpenID
Connect client credentials: a token fetched from the identity provider, cached, refreshed before it
expires and once on a 401), ``kerberos`` (HTTP Negotiate with a Kerberos ticket from the process's ticket
cache or the keytab named by ``KRB5_CLIENT_KTNAME``; needs the ``kerberos`` extra), ``ntlm`` (needs the
``ntlm`` extra) and ``auto``, which picks one from what is configured and logs which (never a secret).

TLS (:func:`tls_verify`): the public CAs, plus a corporate CA bundle (a PEM file or a folder of them), or the
operating system's trust store (``truststore``); verification off only with a loud warning.

:func:`connection_bound_transport`: connection-bound auth (NTLM) gets one connection per thread, so a
handshake's legs stay on one connection. (An untrusted certificate fails at once in the client, naming
``PI_WEB_API_CA_BUNDLE``.)
"""

from __future__ import annotations

import base64
import logging
import os
import ssl
import threading
import time
import urllib.request
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from osipi_dagster.pi.errors import PIAuthenticationError, PIWebAPIError

log = logging.getLogger(__name__)

AUTH_MODES = ("auto", "anonymous", "basic", "bearer", "oidc", "kerberos", "ntlm")
MUTUAL_AUTH = ("required", "optional", "disabled")
# The request extension naming the configured mode, so a 401 can say what was configured.
MODE_EXTENSION = "osipi_auth_mode"
KERBEROS_PACKAGES = (
    "pip install 'osipi-dagster[kerberos]' after the system Kerberos libraries: "
    "Debian/Ubuntu `apt-get install libkrb5-dev gcc`, RHEL `dnf install krb5-devel gcc`"
)
NTLM_PACKAGES = "pip install 'osipi-dagster[ntlm]'"


@dataclass(frozen=True)
class AuthConfig:
    """What the operator configured; secrets are excluded from ``repr`` so they never reach a log."""

    mode: str = "auto"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    scope: str | None = None
    mutual_auth: str = "required"  # Kerberos: must the server prove its identity?
    kerberos_spn: str | None = None  # e.g. HTTP/pi.example.com; default HTTP/<host of the URL>


def resolve_mode(config: AuthConfig) -> tuple[str, str]:
    """(mode, why): ``auto`` becomes the mode that what is configured points to."""
    if config.mode not in AUTH_MODES:
        raise ValueError(f"Unknown PI Web API auth mode {config.mode!r}; use one of {', '.join(AUTH_MODES)}")
    if config.mode != "auto":
        return config.mode, "configured"
    if config.token:
        return "bearer", "a token is set (PI_WEB_API_TOKEN)"
    if config.client_id and config.token_url:
        return "oidc", "a client id and token URL are set (PI_WEB_API_CLIENT_ID, PI_WEB_API_TOKEN_URL)"
    if config.username:
        return "basic", "a username is set (PI_WEB_API_USERNAME)"
    for variable in ("KRB5_CLIENT_KTNAME", "KRB5CCNAME"):
        if os.getenv(variable) and _spnego_available():
            return "kerberos", f"{variable} is set and the Kerberos libraries are installed"
    return "anonymous", "no credentials are configured"


def build_auth(config: AuthConfig, base_url: str, verify: ssl.SSLContext | bool = True) -> httpx.Auth | None:
    """The httpx auth for ``config`` (None for anonymous); logs the chosen mode, never a secret."""
    mode, why = resolve_mode(config)
    log.info("PI Web API auth: %s (%s)", mode, why)
    if mode == "anonymous":
        return None
    if mode == "basic":
        _require(config.username, "basic", "a username (PI_WEB_API_USERNAME)")
        if urlsplit(base_url).scheme == "http":
            log.warning(
                "PI Web API: Basic auth over plain http sends the password readable on the network; "
                "use an https:// PI_WEB_API_URL"
            )
        return BasicAuth(config.username, config.password or "")
    if mode == "bearer":
        _require(config.token, "bearer", "a token (PI_WEB_API_TOKEN)")
        return BearerAuth(config.token)
    if mode == "oidc":
        _require(config.token_url, "oidc", "a token URL (PI_WEB_API_TOKEN_URL)")
        _require(config.client_id, "oidc", "a client id (PI_WEB_API_CLIENT_ID)")
        _require(config.client_secret, "oidc", "a client secret (PI_WEB_API_CLIENT_SECRET)")
        return ClientCredentialsAuth(
            config.token_url, config.client_id, config.client_secret, config.scope, verify=verify
        )
    if config.mutual_auth not in MUTUAL_AUTH:
        raise ValueError(f"mutual_auth must be one of {', '.join(MUTUAL_AUTH)}, not {config.mutual_auth!r}")
    service, _, host = (config.kerberos_spn or f"HTTP/{urlsplit(base_url).hostname}").partition("/")
    if mode == "kerberos":
        return SpnegoAuth("kerberos", host, service, mutual_auth=config.mutual_auth)
    _require(config.username, "ntlm", "a username (PI_WEB_API_USERNAME, DOMAIN\\user)")
    return SpnegoAuth("ntlm", host, service, username=config.username, password=config.password or "")


def _require(value: str | None, mode: str, what: str) -> None:
    if not value:
        raise ValueError(f"PI Web API auth '{mode}' needs {what}")


class _Tagged(httpx.Auth):
    """Marks each request with the configured mode (a 401 error names it)."""

    mode = "anonymous"

    def tag(self, request: httpx.Request) -> None:
        request.extensions = {**request.extensions, MODE_EXTENSION: self.mode}


class BasicAuth(_Tagged):
    mode = "basic"

    def __init__(self, username: str, password: str):
        self._header = "Basic " + _b64(f"{username}:{password}".encode())  # RFC 7617, UTF-8

    def auth_flow(self, request):
        self.tag(request)
        request.headers["Authorization"] = self._header
        yield request


class BearerAuth(_Tagged):
    mode = "bearer"

    def __init__(self, token: str):
        self._header = f"Bearer {token}"

    def auth_flow(self, request):
        self.tag(request)
        request.headers["Authorization"] = self._header
        yield request


class ClientCredentialsAuth(_Tagged):
    """OpenID Connect / OAuth 2.0 client credentials (RFC 6749 §4.4): one cached token for all threads,
    fetched again shortly before it expires, and once when the PI Web API answers 401 (revoked, clock skew).

    ``early_refresh_seconds`` (default: a fifth of the lifetime, at most 60 s) is how long before the
    announced expiry a new token is fetched; a negative value makes the client use a token past it
    (tests of the 401 path)."""

    mode = "oidc"

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout_seconds: float = 30.0,
        early_refresh_seconds: float | None = None,
    ):
        self.token_url = token_url
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        if scope:
            self._form["scope"] = scope
        self._verify = verify
        self._timeout = timeout_seconds
        self._early = early_refresh_seconds
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.tokens_fetched = 0

    def auth_flow(self, request):
        self.tag(request)
        token = self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self.token(stale=token)}"
            yield request

    def token(self, stale: str | None = None) -> str:
        """The cached token, or a new one when it is due (or is ``stale``: refused by the server)."""
        with self._lock:
            if self._token is None or self._token == stale or time.monotonic() >= self._refresh_at:
                self._fetch()
            return self._token

    def _fetch(self) -> None:
        try:
            response = httpx.post(
                self.token_url,
                data=self._form,
                verify=self._verify,
                timeout=self._timeout,
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise PIWebAPIError(
                f"Cannot reach the OpenID Connect token endpoint ({type(exc).__name__}: {exc})", url=self.token_url
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        if response.status_code != 200 or not body.get("access_token"):
            detail = [str(body[k]) for k in ("error", "error_description") if body.get(k)]
            raise PIAuthenticationError(
                "The OpenID Connect token request failed; check PI_WEB_API_CLIENT_ID, PI_WEB_API_CLIENT_SECRET, "
                "PI_WEB_API_TOKEN_SCOPE",
                url=self.token_url,
                status=response.status_code,
                errors=detail,
            )
        lifetime = float(body.get("expires_in") or 0)
        early = self._early if self._early is not None else min(60.0, lifetime / 5)
        self._token = body["access_token"]
        self._refresh_at = time.monotonic() + lifetime - early if lifetime else float("inf")
        self.tokens_fetched += 1
        log.info("PI Web API: fetched an OpenID Connect token from %s (valid %.0fs)", self.token_url, lifetime)


class SpnegoAuth(_Tagged):
    """HTTP Negotiate with Kerberos, or NTLM (RFC 4559 style), through ``pyspnego``.

    Kerberos: after the first challenge every request carries a fresh token at once (no extra round trip);
    the server's final token proves its identity when ``mutual_auth`` asks for it. NTLM is a three-leg
    handshake bound to one connection (see :func:`connection_bound_transport`)."""

    requires_response_body = True  # read the 401 body, so the connection stays open for the next leg

    def __init__(
        self,
        mode: str,
        hostname: str,
        service: str = "HTTP",
        *,
        username: str | None = None,
        password: str | None = None,
        mutual_auth: str = "required",
    ):
        try:
            import spnego
        except ImportError as exc:
            packages = KERBEROS_PACKAGES if mode == "kerberos" else NTLM_PACKAGES
            raise ImportError(f"PI Web API auth '{mode}' needs pyspnego: {packages}") from exc
        if mode == "kerberos":
            try:
                import gssapi  # noqa: F401  (pyspnego's Kerberos backend)
            except ImportError as exc:
                raise ImportError(f"PI Web API auth 'kerberos' needs python-gssapi: {KERBEROS_PACKAGES}") from exc
        self.mode = mode
        self._spnego = spnego
        self._hostname, self._service = hostname, service
        self._username, self._password = username, password
        self._mutual = mutual_auth if mode == "kerberos" else "disabled"
        self._request_flags = spnego.ContextReq.default
        if self._mutual == "disabled":
            self._request_flags &= ~spnego.ContextReq.mutual_auth
        self._schemes = ("Negotiate",) if mode == "kerberos" else ("NTLM", "Negotiate")
        self._preemptive: str | None = None  # Kerberos: the scheme to send a token with at once

    def _context(self):
        return self._spnego.client(
            self._username,
            self._password,
            hostname=self._hostname,
            service=self._service,
            protocol=self.mode,
            context_req=self._request_flags,
        )

    def auth_flow(self, request) -> Generator[httpx.Request, httpx.Response, None]:
        self.tag(request)
        context, scheme = None, self._preemptive
        if scheme:
            context = self._context()
            request.headers["Authorization"] = f"{scheme} {_b64(self._step(context, None))}"
        response = yield request
        for _ in range(3):  # legs: NTLM needs two answers, Kerberos one
            if response.status_code != 401:
                break
            offered = offered_challenges(response)
            scheme = scheme or next((s for s in self._schemes if s.lower() in offered), None)
            if scheme is None:
                break  # the server does not offer what we speak: the 401 error says what it offers
            challenge = offered.get(scheme.lower())
            if not challenge:
                if context is not None:
                    break  # our token was refused
                context = self._context()
            request.headers["Authorization"] = f"{scheme} {_b64(self._step(context, challenge))}"
            response = yield request
        if response.status_code < 400 and context is not None:
            if self.mode == "kerberos":
                self._preemptive = scheme
            self._verify_server(context, offered_challenges(response).get((scheme or "").lower()), request)

    def _step(self, context, challenge: str | None) -> bytes:
        try:
            return context.step(base64.b64decode(challenge) if challenge else None)
        except self._spnego.exceptions.SpnegoError as exc:
            hint = (
                (
                    "check the ticket cache (klist) or KRB5_CLIENT_KTNAME and the service principal "
                    f"{self._service}/{self._hostname} (PI_WEB_API_KERBEROS_SPN)"
                )
                if self.mode == "kerberos"
                else "check PI_WEB_API_USERNAME (DOMAIN\\user) and PI_WEB_API_PASSWORD"
            )
            raise PIAuthenticationError(f"{self.mode} authentication failed: {exc}; {hint}") from exc

    def _verify_server(self, context, final_token: str | None, request: httpx.Request) -> None:
        if self._mutual == "disabled" or context.complete:
            return
        if final_token:
            self._step(context, final_token)
        if not context.complete and self._mutual == "required":
            raise PIAuthenticationError(
                "The server did not prove its identity (Kerberos mutual authentication); set "
                "PI_WEB_API_MUTUAL_AUTH=optional only if you trust the network path",
                url=str(request.url),
            )


def offered_challenges(response: httpx.Response) -> dict[str, str]:
    """``WWW-Authenticate`` challenges as {lower-case scheme: token or params ('' if none)}, in order.

    Handles one header per scheme (IIS) and comma-joined lists (RFC 9110 §11.6.1)."""
    offered: dict[str, str] = {}
    for value in response.headers.get_list("www-authenticate"):
        scheme = None
        for part in value.split(","):
            word, _, rest = part.strip().partition(" ")
            if word and "=" not in word:  # a new challenge, else a parameter of the previous one
                scheme = word.lower()
                offered.setdefault(scheme, rest.strip())
            elif scheme and not offered[scheme]:
                offered[scheme] = part.strip()
    return offered


def auth_failure_summary(response: httpx.Response) -> str:
    """ "server offers Negotiate, Basic; configured: basic" — what to change after a 401/403."""
    schemes = []
    for value in response.headers.get_list("www-authenticate"):
        for part in value.split(","):
            word = part.strip().partition(" ")[0]
            if word and "=" not in word and word not in schemes:
                schemes.append(word)
    configured = response.request.extensions.get(MODE_EXTENSION, "anonymous")
    offers = ", ".join(schemes) if schemes else "no scheme (no WWW-Authenticate header)"
    return f"server offers {offers}; configured: {configured}"


# -- TLS ----------------------------------------------------------------------------------------------


def tls_verify(
    verify_tls: bool = True, ca_bundle: str | None = None, os_trust_store: bool = False
) -> ssl.SSLContext | bool:
    """The ``verify`` for httpx: False (with a loud warning), True (the public CAs), or an SSL context trusting
    the public CAs or the OS trust store plus the PEM file, or every ``*.pem``/``*.crt``/``*.cer`` in the
    folder, ``ca_bundle``."""
    if not verify_tls:
        log.warning(
            "PI Web API: TLS CERTIFICATE VERIFICATION IS OFF (PI_WEB_API_VERIFY_TLS=false): anyone on the "
            "network path can impersonate the server and read credentials. Set PI_WEB_API_CA_BUNDLE to "
            "your CA's PEM file instead."
        )
        return False
    if not (ca_bundle or os_trust_store):
        return True  # httpx's default: certifi, or SSL_CERT_FILE / SSL_CERT_DIR when set
    if os_trust_store:
        import truststore

        context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    else:
        context = httpx.create_ssl_context()
    for pem in _ca_files(Path(ca_bundle).expanduser()) if ca_bundle else []:
        context.load_verify_locations(cafile=str(pem))
    return context


def _ca_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(p for p in path.glob("*") if p.suffix.lower() in (".pem", ".crt", ".cer")) if path.is_dir() else []
    if not files:
        raise ValueError(f"PI_WEB_API_CA_BUNDLE={path} is neither a PEM file nor a folder of .pem/.crt/.cer files")
    return files


class ConnectionPerThreadTransport(httpx.BaseTransport):
    """One keep-alive connection per thread, for auth bound to a connection (NTLM): with one shared pool,
    another thread may take the connection between two legs of a handshake, and the server rejects it.
    Proxies follow ``HTTPS_PROXY``/``NO_PROXY`` as httpx's own transport does."""

    def __init__(self, base_url: str, verify: ssl.SSLContext | bool = True):
        self._proxy = environment_proxy(base_url)
        self._verify = verify
        self._local = threading.local()
        self._all: list[httpx.HTTPTransport] = []
        self._lock = threading.Lock()

    def _transport(self) -> httpx.HTTPTransport:
        transport = getattr(self._local, "transport", None)
        if transport is None:
            transport = self._local.transport = httpx.HTTPTransport(
                verify=self._verify,
                limits=httpx.Limits(max_connections=1),
                proxy=httpx.Proxy(self._proxy) if self._proxy else None,
            )
            with self._lock:
                self._all.append(transport)
        return transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._transport().handle_request(request)

    def close(self) -> None:
        with self._lock:
            for transport in self._all:
                transport.close()


def environment_proxy(url: str) -> str | None:
    """The proxy that ``HTTPS_PROXY``/``HTTP_PROXY`` name for ``url``, unless ``NO_PROXY`` exempts its host."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies_environment().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass_environment(parts.hostname or ""):
        return None
    return proxy


def connection_bound_transport(
    base_url: str, verify: ssl.SSLContext | bool, auth: httpx.Auth | None
) -> httpx.BaseTransport | None:
    """The transport the client needs for ``auth``: None (httpx's pooled default) unless auth is bound to
    a connection (NTLM)."""
    if isinstance(auth, SpnegoAuth) and auth.mode == "ntlm":
        return ConnectionPerThreadTransport(base_url, verify)
    return None


def _b64(token: bytes) -> str:
    return base64.b64encode(token).decode()


def _spnego_available() -> bool:
    try:
        import gssapi  # noqa: F401
        import spnego  # noqa: F401
    except ImportError:
        return False
    return True
