"""Kerberos (HTTP Negotiate) against a real MIT KDC: a throwaway realm for the module (``k5test``), the mock
as a real GSSAPI acceptor with a service keytab for HTTP/127.0.0.1, the client with a keytab or a ticket cache.

Without the Kerberos libraries these tests skip, naming what to install; under CI (``CI=true``) they fail."""

from __future__ import annotations

import logging
import os
import random
import shutil
import socket
import time

import pytest

from mock_pi.process import running_mock
from osipi_dagster.pi.errors import PIAuthenticationError
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster_tests.auth_helpers import CONFIG, MOCK_ARGS, assert_no_secret, materialise_catalog_and_hour
from osipi_dagster_tests.servers import unavailable

pytestmark = pytest.mark.integration  # a KDC and the mock run as processes

NEEDS = (
    "the Debian packages krb5-kdc krb5-admin-server krb5-user libkrb5-dev (RHEL: krb5-server krb5-workstation "
    "krb5-devel) and pip install -e '.[test,kerberos]'"
)


def _kerberos_missing() -> str | None:
    try:
        import gssapi  # noqa: F401
        import k5test  # noqa: F401
        import spnego  # noqa: F401
    except ImportError as exc:
        return f"{exc}"
    for program in ("krb5kdc", "kadmin.local", "kdb5_util", "kinit"):
        if not (shutil.which(program) or os.path.exists(f"/usr/sbin/{program}")):
            return f"no {program} program"
    return None


def _free_port_base(span: int = 7) -> int:
    """k5test uses ports base..base+6 for the KDC and friends: find a free run of them."""
    for _ in range(50):
        base = random.randrange(20_000, 60_000)
        try:
            for port in range(base, base + span):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free ports for the test KDC")


@pytest.fixture(scope="module")
def kerberos_realm(tmp_path_factory):
    """A real MIT KDC on 127.0.0.1 with a service principal HTTP/127.0.0.1 (keytab for the mock) and the
    client principal user@KRBTEST.COM (a keytab and a ticket cache); the process environment points at it."""
    missing = _kerberos_missing()
    if missing:
        unavailable(f"Kerberos tests need {NEEDS} ({missing})")
    from k5test import K5Realm

    listen = "127.0.0.1:$port0"
    realm = K5Realm(
        portbase=_free_port_base(),
        get_creds=False,
        krb5_conf={
            "libdefaults": {"rdns": "false", "dns_canonicalize_hostname": "false"},
            "realms": {"$realm": {"kdc": listen}},
        },
        kdc_conf={"realms": {"$realm": {"kdc_listen": listen, "kdc_tcp_listen": listen}}},
    )
    service_keytab = os.path.join(realm.tmpdir, "http.keytab")
    realm.addprinc(f"HTTP/127.0.0.1@{realm.realm}")
    realm.extract_keytab(f"HTTP/127.0.0.1@{realm.realm}", service_keytab)
    realm.extract_keytab(realm.user_princ, realm.client_keytab)
    saved = {k: os.environ.get(k) for k in realm.env}
    os.environ.update({k: v for k, v in realm.env.items() if k.startswith("KRB5")})
    os.environ.pop("KRB5_KTNAME", None)  # the client has no service keys; the mock gets --keytab
    try:
        yield realm, service_keytab
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        realm.stop()
        shutil.rmtree(realm.tmpdir, ignore_errors=True)


@pytest.fixture(scope="module")
def negotiate_mock(kerberos_realm):
    _, service_keytab = kerberos_realm
    with running_mock(*MOCK_ARGS, "--auth", "negotiate", "--keytab", service_keytab) as server:
        yield server.url


def test_kerberos_keytab_materialises_exactly(kerberos_realm, negotiate_mock, tmp_path, caplog, monkeypatch):
    realm, _ = kerberos_realm
    # A service account: no ticket cache yet, only the client keytab named by KRB5_CLIENT_KTNAME.
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'fresh_ccache'}")
    caplog.set_level(logging.INFO)
    resource = PIWebAPIResource(base_url=negotiate_mock)  # auto: KRB5_CLIENT_KTNAME → kerberos
    _, events = materialise_catalog_and_hour(resource, tmp_path)
    assert "PI Web API auth: kerberos (KRB5_CLIENT_KTNAME is set" in caplog.text
    assert_no_secret(events + [caplog.text], realm.password("user"))


def test_kerberos_ticket_cache_with_mutual_auth(kerberos_realm, negotiate_mock, tmp_path, monkeypatch):
    realm, _ = kerberos_realm
    ccache = f"FILE:{tmp_path / 'ccache'}"
    realm.kinit(realm.user_princ, realm.password("user"), env={**realm.env, "KRB5CCNAME": ccache})
    monkeypatch.setenv("KRB5CCNAME", ccache)
    monkeypatch.delenv("KRB5_CLIENT_KTNAME")
    with PIWebAPIResource(base_url=negotiate_mock, auth="kerberos", mutual_auth="required").make_client() as client:
        assert client.data_server()["Name"] == CONFIG.data_server
        began = time.monotonic()
        for _ in range(5):  # later requests send a token at once (no 401 round trip)
            client.data_server()
        assert client.stats.retries == 0 and time.monotonic() - began < 5


def test_kerberos_without_credentials_fails_saying_what_to_check(kerberos_realm, negotiate_mock, tmp_path, monkeypatch):
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'empty'}")
    monkeypatch.delenv("KRB5_CLIENT_KTNAME")
    began = time.monotonic()
    with PIWebAPIResource(base_url=negotiate_mock, auth="kerberos").make_client() as client:
        with pytest.raises(PIAuthenticationError, match="KRB5_CLIENT_KTNAME"):
            client.data_server()
    assert time.monotonic() - began < 5


def test_basic_against_a_kerberos_server_names_negotiate(negotiate_mock):
    resource = PIWebAPIResource(base_url=negotiate_mock, username="u", password="p")
    with resource.make_client() as client, pytest.raises(PIAuthenticationError) as raised:
        client.data_server()
    assert "server offers Negotiate; configured: basic" in str(raised.value)
