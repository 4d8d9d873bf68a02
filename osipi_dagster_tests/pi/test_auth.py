"""Auth modes and TLS against the real mock enforcing them: Basic, OpenID Connect client credentials (tokens
expiring mid-run), 401 messages naming the offered schemes, CA bundles over a real TLS handshake. Kerberos
and NTLM: ``test_auth_kerberos.py``, ``test_auth_ntlm.py``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import httpx
import pytest

from mock_pi.process import running_mock
from mock_pi.universe import Universe
from osipi_dagster.pi.auth import (
    AuthConfig,
    ClientCredentialsAuth,
    build_auth,
    offered_challenges,
    resolve_mode,
)
from osipi_dagster.pi.client import PIWebAPIClient
from osipi_dagster.pi.errors import PIAuthenticationError, PIWebAPIError
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster_tests.auth_helpers import (
    CONFIG,
    MOCK_ARGS,
    assert_no_secret,
    materialise_catalog_and_hour,
)

PASSWORD = "pw-Zq81-secret"
CLIENT_SECRET = "cs-Xk42-secret"


# -- Basic and the 401 message ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def basic_mock():
    with running_mock(
        *MOCK_ARGS, "--auth", "basic,bearer", "--username", "piuser", "--password", PASSWORD, "--token", "static-token"
    ) as server:
        yield server.url


@pytest.mark.integration
def test_wrong_password_fails_fast_naming_the_offered_schemes(basic_mock):
    resource = PIWebAPIResource(base_url=basic_mock, auth="basic", username="piuser", password="wrong")
    began = time.monotonic()
    with resource.make_client() as client, pytest.raises(PIAuthenticationError) as raised:
        client.data_server()
    assert time.monotonic() - began < 5
    assert raised.value.status == 401
    assert "server offers Basic, Bearer; configured: basic" in str(raised.value)
    assert "wrong" not in str(raised.value)


@pytest.mark.integration
def test_anonymous_against_a_secured_server_says_so(basic_mock):
    with PIWebAPIResource(base_url=basic_mock).make_client() as client, pytest.raises(PIAuthenticationError) as raised:
        client.data_server()
    assert "configured: anonymous" in str(raised.value)


@pytest.mark.integration
def test_basic_materialises_exactly_warns_about_http_and_logs_no_password(basic_mock, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    resource = PIWebAPIResource(base_url=basic_mock, username="piuser", password=PASSWORD)  # auto → basic
    _, events = materialise_catalog_and_hour(resource, tmp_path)
    assert "PI Web API auth: basic (a username is set" in caplog.text
    assert "Basic auth over plain http" in caplog.text
    assert_no_secret(events + [caplog.text], PASSWORD)


def test_www_authenticate_lists_and_separate_headers_are_both_read():
    request = httpx.Request("GET", "https://pi/piwebapi")
    joined = httpx.Response(
        401,
        request=request,
        headers=[
            ("WWW-Authenticate", 'Basic realm="pi", charset="UTF-8", Bearer'),
            ("WWW-Authenticate", "NTLM TlRMTVNT"),
        ],
    )
    assert offered_challenges(joined) == {"basic": 'realm="pi"', "bearer": "", "ntlm": "TlRMTVNT"}


def test_auto_picks_from_what_is_configured(monkeypatch):
    monkeypatch.delenv("KRB5_CLIENT_KTNAME", raising=False)
    monkeypatch.delenv("KRB5CCNAME", raising=False)
    assert resolve_mode(AuthConfig())[0] == "anonymous"
    assert resolve_mode(AuthConfig(username="u"))[0] == "basic"
    assert resolve_mode(AuthConfig(token="t", username="u"))[0] == "bearer"
    assert resolve_mode(AuthConfig(client_id="c", token_url="https://idp/token"))[0] == "oidc"
    with pytest.raises(ValueError, match="needs a client secret"):
        build_auth(AuthConfig(mode="oidc", client_id="c", token_url="https://idp/token"), "https://pi/piwebapi")


# -- OpenID Connect client credentials ----------------------------------------------------------------


@pytest.fixture(scope="module")
def oidc_mock():
    with running_mock(
        *MOCK_ARGS,
        "--auth",
        "bearer",
        "--client-id",
        "osipi",
        "--client-secret",
        CLIENT_SECRET,
        "--token-lifetime",
        "1",
        "--latency-ms",
        "100",
    ) as server:  # runs outlive tokens
        yield server.url, server.url.removesuffix("/piwebapi") + "/identity/connect/token"


@pytest.mark.integration
def test_oidc_materialises_exactly_while_tokens_expire_mid_run(oidc_mock, tmp_path, caplog):
    url, token_url = oidc_mock
    caplog.set_level(logging.INFO)
    resource = PIWebAPIResource(
        base_url=url,
        token_url=token_url,
        client_id="osipi",
        client_secret=CLIENT_SECRET,
        streams_per_request=2,
        max_concurrent_requests=2,
    )  # auto → oidc; many requests
    _, events = materialise_catalog_and_hour(resource, tmp_path)
    # Two runs, one client each; tokens live 1 s and the hour's run (30 requests × 100 ms, 2 at a time)
    # outlives its first token, so it renewed mid-run, and the table is still exact.
    assert caplog.text.count("fetched an OpenID Connect token") >= 3
    assert "PI Web API auth: oidc" in caplog.text
    assert_no_secret(events + [caplog.text], CLIENT_SECRET)


@pytest.mark.integration
def test_oidc_refreshes_once_when_the_server_refuses_a_token(oidc_mock):
    url, token_url = oidc_mock
    # A negative early refresh: the client keeps using a token past its expiry (as with clock skew).
    auth = ClientCredentialsAuth(token_url, "osipi", CLIENT_SECRET, early_refresh_seconds=-60)
    with PIWebAPIClient(url, auth=auth) as client:
        assert client.data_server()["Name"] == CONFIG.data_server
        time.sleep(1.2)
        assert client.data_server()["Name"] == CONFIG.data_server  # 401 → new token → retried once
        # The second token can only come from the 401: with this early refresh the first was never due.
        assert auth.tokens_fetched == 2 and client.stats.retries == 0


@pytest.mark.integration
def test_oidc_wrong_secret_names_the_token_endpoint(oidc_mock):
    url, token_url = oidc_mock
    resource = PIWebAPIResource(
        base_url=url, auth="oidc", token_url=token_url, client_id="osipi", client_secret="wrong"
    )
    with resource.make_client() as client, pytest.raises(PIAuthenticationError) as raised:
        client.data_server()
    assert token_url in str(raised.value) and "invalid_client" in str(raised.value)
    assert "PI_WEB_API_CLIENT_SECRET" in str(raised.value)


# -- TLS ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_mock(tmp_path_factory):
    ca = tmp_path_factory.mktemp("ca") / "corporate-ca.pem"
    with running_mock(*MOCK_ARGS, "--tls", "--tls-ca-out", str(ca)) as server:
        assert server.url.startswith("https://")
        yield server.url, ca


@pytest.mark.integration
@pytest.mark.parametrize("as_folder", [False, True])
def test_tls_with_the_ca_bundle_works(tls_mock, as_folder):
    url, ca = tls_mock
    resource = PIWebAPIResource(base_url=url, ca_bundle=str(ca.parent if as_folder else ca))
    with resource.make_client() as client:
        assert client.data_server()["Name"] == CONFIG.data_server


@pytest.mark.integration
def test_tls_without_the_ca_fails_fast_saying_what_to_set(tls_mock):
    url, _ = tls_mock
    began = time.monotonic()
    with PIWebAPIResource(base_url=url).make_client() as client, pytest.raises(PIWebAPIError) as raised:
        client.data_server()
    assert time.monotonic() - began < 3
    assert "certificate is not trusted" in str(raised.value) and "PI_WEB_API_CA_BUNDLE" in str(raised.value)
    assert client.stats.retries == 0


@pytest.mark.integration
def test_tls_verification_off_works_and_warns(tls_mock, caplog):
    url, _ = tls_mock
    caplog.set_level(logging.WARNING)
    with PIWebAPIResource(base_url=url, verify_tls=False).make_client() as client:
        assert client.data_server()["Name"] == CONFIG.data_server
    assert "TLS CERTIFICATE VERIFICATION IS OFF" in caplog.text


# -- osipi-check --------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("password, code", [(PASSWORD, 0), ("wrong", 1)])
def test_osipi_check_reports_each_step_and_never_the_secret(basic_mock, password, code):
    env = {**os.environ, "PI_WEB_API_URL": basic_mock, "PI_WEB_API_USERNAME": "piuser", "PI_WEB_API_PASSWORD": password}
    done = subprocess.run(
        [sys.executable, "-m", "osipi_dagster.check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == code, done.stdout + done.stderr
    assert "auth        basic" in done.stdout
    assert_no_secret([done.stdout, done.stderr], password)
    if code == 0:
        tag = done.stdout.split("tag         ", 1)[1].split(":", 1)[0]
        assert tag in {t.name for t in Universe(CONFIG).tags}
        assert f"servers     {CONFIG.data_server}" in done.stdout
    else:
        assert "server offers Basic, Bearer; configured: basic" in done.stdout
