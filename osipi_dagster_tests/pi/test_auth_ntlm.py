"""NTLM against the mock as a real NTLM acceptor (pyspnego's server side with a users file): the three-leg
handshake per connection, several extraction threads at once, and a wrong password failing fast."""

from __future__ import annotations

import time

import pytest

from mock_pi.process import running_mock
from osipi_dagster.pi.errors import PIAuthenticationError
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster_tests.auth_helpers import MOCK_ARGS, assert_no_secret, materialise_catalog_and_hour

pytestmark = pytest.mark.integration  # every test here runs the mock server process

PASSWORD = "Ntlm-Pw-77x"

pytest.importorskip("spnego", reason="NTLM tests need pip install -e '.[test]' (pyspnego)")


@pytest.fixture(scope="module")
def ntlm_mock(tmp_path_factory):
    users = tmp_path_factory.mktemp("ntlm") / "users.txt"
    users.write_text(f"PLANT:svc_pi:{PASSWORD}\n")
    with running_mock(*MOCK_ARGS, "--auth", "ntlm", "--users", str(users)) as server:
        yield server.url


def test_ntlm_materialises_exactly_with_concurrent_connections(ntlm_mock, tmp_path, caplog):
    # Fails with one shared connection pool: another thread takes the connection between two legs.
    resource = PIWebAPIResource(
        base_url=ntlm_mock,
        auth="ntlm",
        username="PLANT\\svc_pi",
        password=PASSWORD,
        streams_per_request=5,
        max_concurrent_requests=4,
    )
    _, events = materialise_catalog_and_hour(resource, tmp_path)
    assert_no_secret(events + [caplog.text], PASSWORD)


def test_ntlm_wrong_password_fails_fast_naming_the_offered_scheme(ntlm_mock):
    resource = PIWebAPIResource(base_url=ntlm_mock, auth="ntlm", username="PLANT\\svc_pi", password="wrong")
    began = time.monotonic()
    with resource.make_client() as client, pytest.raises(PIAuthenticationError) as raised:
        client.data_server()
    assert time.monotonic() - began < 5
    assert "server offers NTLM; configured: ntlm" in str(raised.value)
