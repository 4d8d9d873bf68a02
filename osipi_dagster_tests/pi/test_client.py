"""The PI Web API client against the real mock server process: paging, chunking, auth, errors, retries."""

from __future__ import annotations

import time

import httpx
import pytest

from mock_pi.process import free_port, running_mock
from mock_pi.universe import Universe
from osipi_dagster.pi.batch_controller import BatchController
from osipi_dagster.pi.client import PIWebAPIClient, RetryPolicy, shown_url
from osipi_dagster.pi.errors import (
    PIAuthenticationError,
    PIConnectionError,
    PIInterruptedResponseError,
    PIMalformedResponseError,
    PIWebAPIError,
)
from osipi_dagster.pi.transports import MAX_URL_LENGTH
from osipi_dagster_tests.helpers import MOCK_CONFIG, MOCK_NOW, MOCK_TAGS, RecordingTransport

KEY = ["tag_webid", "timestamp", "value", "value_text"]
FAST_RETRY = RetryPolicy(max_attempts=3, backoff_seconds=0.01, max_backoff_seconds=0.05)


@pytest.fixture
def client(mock_pi_url):
    with PIWebAPIClient(mock_pi_url, retry=FAST_RETRY) as client:
        yield client


@pytest.mark.integration
def test_points_are_paged_with_start_index_and_max_count(client):
    server = client.data_server()
    before = client.stats.requests
    names = [p["Name"] for p in client.points(server["WebId"], page_size=70, selected_fields="Items.Name")]
    assert sorted(names) == sorted(t.name for t in Universe(MOCK_CONFIG).tags)
    assert len(set(names)) == MOCK_TAGS
    assert client.stats.requests - before == MOCK_TAGS // 70 + 1  # full pages, then the short last one


@pytest.mark.integration
def test_streams_are_chunked_by_count_and_url_length(mock_pi_url):
    transport = RecordingTransport()
    with PIWebAPIClient(mock_pi_url, transport=transport) as client:
        webids = [p["WebId"] for p in client.points(client.data_server()["WebId"], selected_fields="Items.WebId")]
        start = MOCK_NOW.replace(hour=9)
        end = MOCK_NOW.replace(hour=10)
        by_count = BatchController(client, streams_per_request=60)
        expected = by_count.extract(webids, start, end)
        assert by_count.stats.chunks == -(-MOCK_TAGS // 60)
        transport.requests.clear()
        by_url = BatchController(client, streams_per_request=MOCK_TAGS)  # far more than one URL can carry
        frame = by_url.extract(webids, start, end)
    lengths = [len(str(r.url)) for r in transport.requests]
    assert len(lengths) == by_url.stats.chunks > 1
    assert max(lengths) <= MAX_URL_LENGTH
    assert frame.sort(KEY).equals(expected.sort(KEY)) and frame.height > MOCK_TAGS * 50


@pytest.fixture(scope="module")
def secured_mock():
    with running_mock(
        "--tags",
        "20",
        "--now",
        MOCK_NOW.isoformat(),
        "--username",
        "piuser",
        "--password",
        "s3cret",
        "--token",
        "tok-123",
    ) as server:
        yield server.url


@pytest.mark.integration
@pytest.mark.parametrize("auth", [httpx.BasicAuth("piuser", "wrong"), None])
def test_wrong_credentials_raise_an_authentication_error_naming_the_url(secured_mock, auth):
    with PIWebAPIClient(secured_mock, auth=auth, retry=FAST_RETRY) as client:
        with pytest.raises(PIAuthenticationError) as raised:
            client.data_server()
    assert raised.value.status == 401
    assert f"{secured_mock}/dataservers" in str(raised.value)
    assert "Authorization has been denied" in str(raised.value)


@pytest.mark.integration
@pytest.mark.parametrize(
    "auth, headers",
    [
        (httpx.BasicAuth("piuser", "s3cret"), None),
        (None, {"Authorization": "Bearer tok-123"}),
    ],
)
def test_right_credentials_succeed(secured_mock, auth, headers):
    with PIWebAPIClient(secured_mock, auth=auth, headers=headers) as client:
        assert client.data_server()["Name"] == MOCK_CONFIG.data_server


def test_closed_port_fails_at_once_saying_what_to_check():
    """Regression: a refused connection used to be retried like an outage (78 s to fail)."""
    url = f"http://127.0.0.1:{free_port()}/piwebapi"
    with PIWebAPIClient(url, retry=RetryPolicy(max_attempts=5, backoff_seconds=1)) as client:
        began = time.monotonic()
        with pytest.raises(
            PIConnectionError, match="connection refused; check the host and port in PI_WEB_API_URL"
        ) as raised:
            client.get("dataservers")
        assert time.monotonic() - began < 2
        assert client.stats.retries == 0
    assert f"{url}/dataservers" in str(raised.value)
    assert raised.value.transient is False


def test_unknown_host_fails_at_once():
    with PIWebAPIClient("http://no-such-pi-server.invalid/piwebapi") as client:
        with pytest.raises(PIConnectionError, match="unknown host .*check the host name in PI_WEB_API_URL"):
            client.get("dataservers")
        assert client.stats.retries == 0


def test_credentials_in_the_url_are_refused_without_echoing_them():
    with pytest.raises(ValueError, match="PI_WEB_API_USERNAME / PI_WEB_API_PASSWORD") as raised:
        PIWebAPIClient("https://svc_pi:S3cr3t-Pa55@pi.example.com/piwebapi")
    assert "S3cr3t-Pa55" not in str(raised.value) and "svc_pi" not in str(raised.value)


def test_shown_urls_never_carry_credentials():
    assert (
        shown_url("https://svc_pi:S3cr3t-Pa55@pi.example.com/piwebapi/x?a=1") == "https://pi.example.com/piwebapi/x?a=1"
    )


@pytest.mark.integration
def test_wrong_path_fails_with_the_pi_error_and_no_retries(client):
    with pytest.raises(PIWebAPIError) as raised:
        client.get("no/such/controller")
    assert raised.value.status == 404
    assert "no/such/controller" in str(raised.value)
    assert client.stats.retries == 0


# -- injected faults (the mock's /admin/faults) -------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("kind, setting", [("rate_limited", "rate_429"), ("unavailable", "rate_503")])
def test_rate_limits_and_unavailability_are_retried_honouring_retry_after(mock_pi_url, faults, kind, setting):
    faults.set(**{setting: 1, "retry_after_s": 1, "limit": 1})
    policy = RetryPolicy(max_attempts=3, backoff_seconds=0.01, max_backoff_seconds=5)
    with PIWebAPIClient(mock_pi_url, retry=policy) as client:
        began = time.monotonic()
        assert client.data_server()["Name"] == MOCK_CONFIG.data_server
        assert time.monotonic() - began >= 1  # waited as told, although the backoff alone is ~0.01 s
    assert client.stats.retries == 1 and client.stats.requests == 2
    assert faults.counters()[kind] == 1


@pytest.mark.integration
def test_retries_stop_at_max_attempts_with_the_last_pi_error(client, faults):
    faults.set(rate_503=1)
    with pytest.raises(PIWebAPIError, match="temporarily unavailable") as raised:
        client.get("dataservers")
    assert raised.value.status == 503
    assert client.stats.requests == FAST_RETRY.max_attempts


@pytest.mark.integration
def test_the_retry_budget_bounds_retries_across_requests_and_is_named(mock_pi_url, faults):
    faults.set(rate_503=1)
    policy = RetryPolicy(max_attempts=5, backoff_seconds=0.001, max_backoff_seconds=0.001, budget=6, budget_per_unit=0)
    with PIWebAPIClient(mock_pi_url, retry=policy) as client:
        for _ in range(3):
            with pytest.raises(PIWebAPIError) as raised:
                client.get("dataservers")
    assert client.stats.retries == 6
    assert client.stats.requests == 3 + 6  # first attempts + the budget, not 3 × 5
    assert raised.value.status == 503 and raised.value.transient
    assert (
        "the retry budget is spent: 6 retries for 3 requests and streams (allowed: 6 + 0 per request or stream)"
        in str(raised.value)
    )


@pytest.mark.integration
def test_the_retry_budget_grows_with_the_requests_asked_for(mock_pi_url, faults):
    """Regression: a fixed budget of 200 retries per run starved long runs whatever their size."""
    policy = RetryPolicy(
        max_attempts=2, backoff_seconds=0.001, max_backoff_seconds=0.001, budget=0, budget_per_unit=0.5
    )
    faults.set(rate_503=1, limit=10)  # the first 10 answers fail, then the server recovers
    with PIWebAPIClient(mock_pi_url, retry=policy) as client:
        failed = 0
        for _ in range(20):
            try:
                client.get("dataservers")
            except PIWebAPIError:
                failed += 1
    # 20 requests earn 10 retries: the 10 injected 503s are absorbed as the work grows (a few early
    # ones may find the budget empty), and never more than half the requests were retries.
    assert client.stats.retries <= 10 and failed + client.stats.retries == 10
    assert failed < 10


@pytest.mark.integration
@pytest.mark.parametrize(
    "setting, error, message",
    [
        ("malformed_rate", PIMalformedResponseError, "not valid JSON"),
        ("webexception_rate", PIInterruptedResponseError, "failed while sending"),
    ],
)
def test_broken_bodies_are_retried_then_reported(client, faults, setting, error, message):
    faults.set(**{setting: 1, "limit": 1})  # one broken body: the retry gets a good one
    assert client.get("dataservers")["Items"]
    assert client.stats.retries == 1
    faults.set(**{setting: 1})  # every body broken: a clear error after the bounded attempts
    with pytest.raises(error, match=message) as raised:
        client.get("dataservers")
    assert "/piwebapi/dataservers" in str(raised.value)
    assert client.stats.requests == 2 + FAST_RETRY.max_attempts
