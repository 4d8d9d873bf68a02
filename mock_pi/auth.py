"""The mock's authentication, enforced as a PI Web API server enforces it.

Schemes (``--auth``, one or more): ``anonymous``; ``basic`` (``--username/--password`` or a ``--users``
file); ``bearer`` (a fixed ``--token``, or tokens this server issues at :data:`TOKEN_PATH` to a
``--client-id/--client-secret`` for ``--token-lifetime`` seconds: OpenID Connect client credentials);
``negotiate`` (Kerberos: a real GSSAPI acceptor with the service keytab ``--keytab``); ``ntlm`` (a real
NTLM acceptor, pyspnego's server side, with the ``--users`` file). A request without acceptable credentials
gets 401 ``{"Message": ...}`` and one ``WWW-Authenticate`` header per offered scheme, as IIS sends them.

NTLM authenticates a *connection* (three legs on one TCP connection; later requests on it need no header),
as IIS does by default. Negotiate/Kerberos authenticates each request and answers with the server's
mutual-authentication token.

Users file: one ``DOMAIN:USER:PASSWORD`` per line (the format pyspnego's NTLM acceptor reads; DOMAIN may be
empty); for Basic the user name is ``DOMAIN\\USER`` (or ``USER`` with no domain).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import tempfile
import threading
import time
from urllib.parse import parse_qsl

import orjson

from mock_pi.config import MockConfig
from mock_pi.http import Ctx

TOKEN_PATH = "/identity/connect/token"  # outside /piwebapi, like an identity server next to PI Web API
SCHEMES = ("anonymous", "basic", "bearer", "negotiate", "ntlm")
DENIED = {"Message": "Authorization has been denied for this request."}

Answer = tuple[int, bytes, dict | None]


def configured_schemes(config: MockConfig) -> tuple[str, ...]:
    """``--auth`` as given, else what the credentials flags imply (Basic and/or Bearer), else anonymous."""
    if config.auth:
        unknown = set(config.auth) - set(SCHEMES)
        if unknown:
            raise ValueError(f"unknown --auth scheme(s) {sorted(unknown)}; use {', '.join(SCHEMES)}")
        return tuple(config.auth)
    implied = (("basic",) if config.username is not None else ()) + (
        ("bearer",) if config.bearer_token or config.client_id else ()
    )
    return implied or ("anonymous",)


def read_users(path: str) -> dict[str, str]:
    """{Basic user name: password} of a ``DOMAIN:USER:PASSWORD`` file."""
    users = {}
    for line in open(path, encoding="utf-8").read().splitlines():
        if line.strip() and not line.startswith("#"):
            domain, user, password = line.split(":", 2)
            users[f"{domain}\\{user}" if domain else user] = password
    return users


class MockAuth:
    """Decides, before routing, whether a request may pass (see the module docstring)."""

    def __init__(self, config: MockConfig):
        self.config = config
        self.schemes = configured_schemes(config)
        self.users = read_users(config.users_file) if config.users_file else {}
        if config.username is not None:
            self.users[config.username] = config.password or ""
        # Issued tokens are signed, not stored, so every uvicorn worker accepts every worker's tokens.
        self._key = hashlib.sha256(f"{config.seed}:{config.client_id}:{config.client_secret}".encode()).digest()
        self._ntlm_pending: dict[str, object] = {}  # connection → NTLM context between the legs
        self._ntlm_done: set[str] = set()  # authenticated connections
        self._lock = threading.Lock()
        if "negotiate" in self.schemes:
            if not config.keytab:
                raise ValueError("--auth negotiate needs --keytab (the service keytab, e.g. HTTP/127.0.0.1)")
            os.environ["KRB5_KTNAME"] = config.keytab  # the GSSAPI acceptor reads its keys from here
            import gssapi  # noqa: F401  (fail at startup, not on the first request)
        if "ntlm" in self.schemes:
            if not self.users:
                raise ValueError("--auth ntlm needs --users FILE or --username/--password")
            os.environ["NTLM_USER_FILE"] = config.users_file or _users_file(config.username, config.password)
            import spnego  # noqa: F401

    def gate(self, ctx: Ctx) -> Answer | None:
        """The answer for requests auth handles itself (the token endpoint, 401s); None lets ``ctx`` pass.
        A passing request may get headers to send back in ``ctx.reply_headers`` (Kerberos mutual auth)."""
        if ctx.path == TOKEN_PATH:
            return self._token_endpoint(ctx)
        if "anonymous" in self.schemes:
            return None
        scheme, _, credentials = ctx.headers.get("authorization", "").partition(" ")
        scheme = scheme.lower()
        if scheme == "basic" and "basic" in self.schemes and self._basic_ok(credentials):
            return None
        if scheme == "bearer" and "bearer" in self.schemes and self._bearer_ok(credentials.strip()):
            return None
        if scheme == "negotiate" and "negotiate" in self.schemes:
            server_token = self._kerberos(credentials.strip())
            if server_token is not None:
                if server_token:
                    ctx.reply_headers["WWW-Authenticate"] = f"Negotiate {server_token}"
                return None
        if "ntlm" in self.schemes:
            if ctx.connection in self._ntlm_done and not scheme:
                return None
            if scheme == "ntlm":
                return self._ntlm(ctx, credentials.strip())
        return self.denied(ctx)

    def denied(self, ctx: Ctx, ntlm_challenge: str | None = None) -> Answer:
        """401 with one ``WWW-Authenticate`` per offered scheme (PI names its host as the Basic realm); in the
        middle of an NTLM handshake only the NTLM challenge."""
        if ntlm_challenge:
            return 401, orjson.dumps(DENIED), {"WWW-Authenticate": [f"NTLM {ntlm_challenge}"]}
        realm = ctx.headers.get("host", "localhost").rsplit(":", 1)[0]
        challenge = {"negotiate": "Negotiate", "ntlm": "NTLM", "bearer": "Bearer", "basic": f'Basic realm="{realm}"'}
        return 401, orjson.dumps(DENIED), {"WWW-Authenticate": [challenge[s] for s in self.schemes if s in challenge]}

    # -- Basic and Bearer -------------------------------------------------------------------------

    def _basic_ok(self, credentials: str) -> bool:
        try:
            user, _, password = base64.b64decode(credentials).decode("utf-8").partition(":")
        except ValueError:
            return False
        expected = self.users.get(user)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    def _bearer_ok(self, token: str) -> bool:
        if self.config.bearer_token and hmac.compare_digest(token.encode(), self.config.bearer_token.encode()):
            return True
        payload, _, signature = token.rpartition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            return False
        try:
            expires = orjson.loads(base64.urlsafe_b64decode(payload))["exp"]
        except (ValueError, KeyError, TypeError):
            return False
        return time.time() < expires

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def _token_endpoint(self, ctx: Ctx) -> Answer:
        """OAuth 2.0 client credentials (RFC 6749 §4.4): the client's id/secret in the form or in Basic."""
        if ctx.method != "POST":
            return 405, orjson.dumps({"error": "invalid_request"}), None
        form = dict(parse_qsl(ctx.body.decode("utf-8", "replace")))
        scheme, _, credentials = ctx.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                form["client_id"], _, form["client_secret"] = base64.b64decode(credentials).decode().partition(":")
            except ValueError:
                pass
        if form.get("grant_type") != "client_credentials":
            return 400, orjson.dumps({"error": "unsupported_grant_type"}), None
        known = (
            self.config.client_id
            and form.get("client_id") == self.config.client_id
            and hmac.compare_digest(
                (form.get("client_secret") or "").encode(), (self.config.client_secret or "").encode()
            )
        )
        if not known:
            return (
                401,
                orjson.dumps({"error": "invalid_client", "error_description": "Unknown client or wrong secret."}),
                {"WWW-Authenticate": 'Basic realm="token"'},
            )
        lifetime = self.config.token_lifetime_seconds
        payload = base64.urlsafe_b64encode(
            orjson.dumps({"sub": form["client_id"], "exp": time.time() + lifetime, "jti": os.urandom(8).hex()})
        ).decode()
        body = {
            "access_token": f"{payload}.{self._sign(payload)}",
            "token_type": "Bearer",
            "expires_in": int(lifetime) if lifetime == int(lifetime) else lifetime,
        }
        return 200, orjson.dumps(body), {"Cache-Control": "no-store"}

    # -- Kerberos and NTLM (real acceptors) -------------------------------------------------------

    def _kerberos(self, token: str) -> str | None:
        """The server's (mutual-auth) token, '' if none, or None when the ticket is refused."""
        import gssapi

        try:
            context = gssapi.SecurityContext(usage="accept")
            out = context.step(base64.b64decode(token))
        except (gssapi.exceptions.GSSError, ValueError):
            return None
        if not context.complete:
            return None
        return base64.b64encode(out).decode() if out else ""

    def _ntlm(self, ctx: Ctx, token: str) -> Answer | None:
        import spnego

        with self._lock:
            context = self._ntlm_pending.pop(ctx.connection, None)
            try:
                if context is None:  # leg 1: NEGOTIATE → CHALLENGE
                    context = spnego.server(protocol="ntlm")
                    challenge = context.step(base64.b64decode(token))
                    self._ntlm_pending[ctx.connection] = context
                    return self.denied(ctx, base64.b64encode(challenge).decode())
                context.step(base64.b64decode(token))  # leg 2: AUTHENTICATE
            except (spnego.exceptions.SpnegoError, ValueError):
                return self.denied(ctx)
            if not context.complete:
                return self.denied(ctx)
            self._ntlm_done.add(ctx.connection)
        return None


def _users_file(username: str | None, password: str | None) -> str:
    """A users file for ``--username/--password`` (pyspnego reads NTLM credentials from a file)."""
    domain, _, user = (username or "").rpartition("\\")
    handle, path = tempfile.mkstemp(prefix="mock_pi_users_", suffix=".txt")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(f"{domain}:{user}:{password or ''}\n")
    return path
