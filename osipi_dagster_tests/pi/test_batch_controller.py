"""The batch controller against the real mock process: every value of every tag arrives, exactly once.

Expected rows come from the mock's generator (``expected.py``), never from the connector's code.
"""

from __future__ import annotations

import math
from datetime import timedelta

import polars as pl
import pytest

from mock_pi import signals
from mock_pi.process import running_mock
from mock_pi.universe import Universe
from mock_pi.webid import point_webid
from osipi_dagster.pi.batch_controller import MAX_PLANNED_STREAMS, BatchController
from osipi_dagster.pi.client import PIWebAPIClient, RetryPolicy, sub_response
from osipi_dagster.pi.errors import PIStreamErrors
from osipi_dagster.pi.time_window import Window
from osipi_dagster.pi.transports import TRANSPORTS as TRANSPORT_CLASSES
from osipi_dagster.pi.transports import cut_into_chunks, fitting_length, stream_result
from osipi_dagster.pi.values import RAW_SCHEMA
from osipi_dagster_tests.expected import comparable_raw, expected_raw
from osipi_dagster_tests.helpers import MOCK_CONFIG, MOCK_NOW, RecordingTransport

TRANSPORTS = ["streamsets", "batch"]
START = MOCK_NOW - timedelta(hours=3)
END = START + timedelta(hours=1)
DENSE_LIMIT = 600  # the dense mock's MaxReturnedItemsPerCall
UNIVERSE = Universe(MOCK_CONFIG)


def tags_where(predicate) -> list[str]:
    return [t.webid for t in UNIVERSE.tags if predicate(t)]


DENSE = tags_where(lambda t: t.sensor.code == "VI")  # 10-second sampling: 360 values an hour
DUPLICATES = tags_where(lambda t: signals.profile(t).duplicates)  # several events at one timestamp


def extractor(url: str, transport: str, **options) -> BatchController:
    client = PIWebAPIClient(url, retry=RetryPolicy(max_attempts=3, backoff_seconds=0.01))
    return BatchController(client, transport=transport, **options)


@pytest.fixture(scope="module")
def dense_mock_url():
    """The same universe served with MaxReturnedItemsPerCall = 600, so paging is unavoidable."""
    with running_mock(
        "--tags", str(MOCK_CONFIG.tags), "--now", MOCK_NOW.isoformat(), "--max-returned-items", str(DENSE_LIMIT)
    ) as server:
        yield server.url


@pytest.mark.integration
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_value_of_every_tag_arrives(mock_pi_url, transport):
    webids = [t.webid for t in UNIVERSE.tags]
    raw = extractor(mock_pi_url, transport, streams_per_request=64).extract(webids, START, END)
    assert raw.schema == pl.Schema(RAW_SCHEMA)
    assert comparable_raw(raw).equals(expected_raw(webids, START, END))
    # Numbers, digital states, strings and system states all made it through.
    assert raw.filter(pl.col("value_text").is_not_null() & pl.col("good")).height > 0
    assert raw.filter(~pl.col("good") & pl.col("value_text").is_not_null()).height > 0


@pytest.mark.integration
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_dense_tags_are_paged_without_loss_or_duplicates(dense_mock_url, transport):
    assert DENSE and DUPLICATES
    webids = list(dict.fromkeys(DENSE[:12] + DUPLICATES[:12]))
    # 4 streams × maxCount 150 = the server's 600: a dense tag (360 values) needs a second page.
    ex = extractor(dense_mock_url, transport, streams_per_request=4, max_items_per_call=DENSE_LIMIT)
    raw = ex.extract(webids, START, END)
    assert ex.stats.paged_streams >= 12
    assert comparable_raw(raw).equals(expected_raw(webids, START, END))
    assert comparable_raw(raw)["sequence"].max() > 0  # duplicate timestamps are in the window


@pytest.mark.integration
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_page_ending_inside_a_group_of_equal_timestamps_loses_nothing(mock_pi_url, transport):
    webid, cut = _page_cut_inside_duplicates()
    # One stream per request and maxCount = cut: the first page ends on the first of two equal timestamps.
    ex = extractor(mock_pi_url, transport, streams_per_request=1, max_items_per_call=cut)
    raw = ex.extract([webid], START, END)
    assert ex.stats.paged_streams == 1
    assert comparable_raw(raw).equals(expected_raw([webid], START, END))


def _page_cut_inside_duplicates() -> tuple[str, int]:
    """A duplicates tag and a page size whose last value is the first event of a shared timestamp."""
    for webid in DUPLICATES:
        ts = expected_raw([webid], START, END)["timestamp"]
        for i in range(1, len(ts) - 1):
            if ts[i] == ts[i + 1] and ts[i - 1] != ts[i]:
                return webid, i + 1
    raise AssertionError("no duplicate timestamps in the window")


@pytest.mark.integration
def test_a_server_limit_lower_than_configured_is_adopted(dense_mock_url):
    webids = DENSE[:20]
    ex = extractor(dense_mock_url, "streamsets", streams_per_request=10)  # configured for 150,000
    raw = ex.extract(webids, START, END)
    assert ex.max_items_per_call == DENSE_LIMIT and ex.stats.split_chunks >= 1
    assert comparable_raw(raw).equals(expected_raw(webids, START, END))


@pytest.mark.integration
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_tag_that_keeps_failing_fails_the_window_naming_it(mock_pi_url, transport):
    ghost = point_webid(UNIVERSE.data_server_guid, 999_999, f"\\\\{MOCK_CONFIG.data_server}\\GHOST.TAG")
    webids = [t.webid for t in UNIVERSE.tags[:30]] + [ghost]
    ex = extractor(mock_pi_url, transport, streams_per_request=16)
    with pytest.raises(PIStreamErrors) as raised:
        ex.extract(webids, START, END)
    assert list(raised.value.failures) == [f"GHOST.TAG ({ghost})"]
    assert "not found" in str(raised.value) and "retried alone" in str(raised.value)
    assert ex.stats.retried_streams == 1


@pytest.mark.integration
def test_failed_batch_sub_requests_are_retried_alone_and_recover(mock_pi_url, faults):
    faults.set(batch_fail_one=True)  # one sub-request of every batch answers HTTP 500
    webids = [t.webid for t in UNIVERSE.tags[:120]]
    ex = extractor(mock_pi_url, "batch", streams_per_request=40)
    raw = ex.extract(webids, START, END)
    assert faults.counters()["batch_item"] == ex.stats.retried_streams == 3
    assert comparable_raw(raw).equals(expected_raw(webids, START, END))


@pytest.mark.integration
def test_a_sub_request_that_keeps_failing_fails_the_window_with_the_pi_errors(mock_pi_url, faults):
    # Every batch loses one sub-request, and the stream's own retries get 503 until they run out.
    faults.set(batch_fail_one=True, rate_503=1, retry_after_s=0, path_regex="/streams/")
    webids = [t.webid for t in UNIVERSE.tags[:40]]
    with pytest.raises(PIStreamErrors) as raised:
        extractor(mock_pi_url, "batch", streams_per_request=40).extract(webids, START, END)
    ((tag, message),) = raised.value.failures.items()
    assert tag.split(" ")[0] in {t.name for t in UNIVERSE.tags[:40]}
    assert "HTTP 500: Injected fault" in message and "HTTP 503" in message and "temporarily unavailable" in message


@pytest.mark.integration
def test_values_at_the_window_end_belong_to_the_next_window(mock_pi_url):
    webids = DENSE[:3]
    ex = extractor(mock_pi_url, "streamsets")
    first, second = ex.extract(webids, START, END), ex.extract(webids, END, END + timedelta(hours=1))
    assert first["timestamp"].max() < END <= second["timestamp"].min()
    both = pl.concat([first, second])
    assert comparable_raw(both).equals(expected_raw(webids, START, END + timedelta(hours=1)))


def test_an_unknown_transport_is_rejected():
    with pytest.raises(ValueError, match="Unknown transport"):
        BatchController(PIWebAPIClient("http://pi.test/piwebapi"), transport="carrier-pigeon")


# -- a stream that fails inside a successful answer (WebException / Errors next to cut-short Items) -------


@pytest.mark.integration
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    "setting, counter", [("item_webexception_rate", "item_webexception"), ("item_errors_rate", "item_errors")]
)
def test_streams_cut_short_inside_a_good_answer_are_read_again(mock_pi_url, faults, transport, setting, counter):
    """Regression: a 200 batch sub-response with a WebException kept its cut-short Items (rows lost, run green)."""
    faults.set(**{setting: 0.1})
    webids = [t.webid for t in UNIVERSE.tags[:200]]
    ex = extractor(mock_pi_url, transport, streams_per_request=50)
    raw = ex.extract(webids, START, END)
    injected = faults.counters()[counter]
    assert injected > 0 and ex.stats.retried_streams == injected
    assert comparable_raw(raw).equals(expected_raw(webids, START, END))


@pytest.mark.integration
def test_a_stream_cut_short_every_time_fails_the_window_naming_it(mock_pi_url, faults):
    # Every sub-response of the batch is cut short; the retries alone (GET streams/…) too, until they run out.
    faults.set(item_webexception_rate=1, webexception_rate=1, path_regex="/streams/")
    webids = [t.webid for t in UNIVERSE.tags[:2]]
    with pytest.raises(PIStreamErrors) as raised:
        extractor(mock_pi_url, "batch", streams_per_request=2).extract(webids, START, END)
    assert sorted(tag.split(" ")[0] for tag in raised.value.failures) == sorted(t.name for t in UNIVERSE.tags[:2])
    assert "An error occurred while streaming the response" in str(raised.value)
    assert "retried alone" in str(raised.value)


def test_a_sub_response_with_a_webexception_is_an_error_not_values():
    answer = sub_response(
        {
            "Status": 200,
            "Headers": {},
            "Content": {
                "Items": [{"Timestamp": "2026-11-20T09:00:00Z", "Value": 1.0}],
                "WebException": {"StatusCode": 500, "Errors": ["An error occurred while streaming the response."]},
            },
        }
    )
    assert answer.items is None
    assert stream_result(answer).error == (
        "HTTP 200, then failed while sending: HTTP 500: An error occurred while streaming the response."
    )
    with_errors = sub_response({"Status": 200, "Content": {"Items": [], "Errors": ["Point not found."]}})
    assert with_errors.items is None and "Point not found." in with_errors.error
    assert sub_response({"Status": 200, "Content": {"Items": [], "Errors": []}}).items == []


# -- planning several hours per request (no server: the plan only) -----------------------------------------

PLANNED = [t.webid for t in UNIVERSE.tags]


def _planner(**options) -> BatchController:
    return BatchController(PIWebAPIClient("http://pi.test/piwebapi"), **options)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("limit", [150_000, 20_000, 1_000])
def test_planned_chunks_cover_every_stream_once_and_fit_the_servers_limit(limit, transport):
    controller = _planner(max_items_per_call=limit, transport=transport)
    # Streams of many rates per hour: silent, slow, 10-second and a few dense ones (more than a request's worth).
    rates = [0, 12, 60, 360]
    controller.remember_rates({w: 200_000 if i % 97 == 0 else rates[i % 4] for i, w in enumerate(PLANNED)}, 1.0)
    hours = controller.span_hours(PLANNED, 24)
    expected = controller.expected_values(PLANNED, hours)
    window = Window.of(START, START + timedelta(hours=hours))
    chunks = controller.chunks(PLANNED, window, expected)
    assert sorted(w for chunk in chunks for w in chunk) == sorted(PLANNED)
    assert 1 <= hours <= 24 and len(chunks) < len(PLANNED) / 2
    fits = TRANSPORT_CLASSES[transport](controller.client).fits  # e.g. a stream-set URL's length
    for chunk in chunks:
        assert len(chunk) <= MAX_PLANNED_STREAMS and fits(chunk, window, limit // len(chunk))
        if len(chunk) > 1:  # a stream alone in its request may be paged; in company, none is planned to be
            assert max(expected[w] for w in chunk) <= limit // len(chunk)  # the request's maxCount
            assert sum(expected[w] for w in chunk) <= min(limit, controller.values_per_request)


def test_the_first_window_is_one_hour_and_later_ones_grow_up_to_the_budget():
    controller = _planner()
    assert controller.span_hours(PLANNED, 24) == 1  # no stream read yet: rates unknown
    controller.remember_rates(dict.fromkeys(PLANNED, 60), 1.0)
    hours = controller.span_hours(PLANNED, 24)
    budget = 5 * controller.values_per_request  # 500 streams need 5 requests of 100 at least
    planned = [sum(controller.expected_values(PLANNED, h).values()) for h in (hours, hours + 1)]
    assert 1 < hours < 24 and planned[0] <= budget < planned[1]
    assert controller.span_hours(PLANNED, 2) == 2  # never past the range
    low = _planner(max_items_per_call=20_000)  # a lower limit: smaller requests, so shorter windows
    low.remember_rates(dict.fromkeys(PLANNED, 60), 1.0)
    assert low.span_hours(PLANNED, 24) < hours


@pytest.mark.parametrize("size, longest", [(10, 10), (10, 7), (10, 1), (1, 1), (1_000, 433), (1_000, 999)])
def test_a_chunk_is_cut_to_the_longest_start_that_fits_in_few_trials(size, longest):
    tried = []

    def fits(chunk: list) -> bool:
        tried.append(len(chunk))
        return len(chunk) <= longest

    assert fitting_length(list(range(size)), fits) == min(size, longest)
    assert len(tried) <= 1 + math.ceil(math.log2(size))  # one trial, then a binary search


def test_blind_chunks_are_consecutive_and_cut_to_fit():
    webids = [f"W{n:04d}" for n in range(1_000)]
    chunks = cut_into_chunks(webids, 100, lambda chunk: sum(map(len, chunk)) <= 5 * 70)  # 70 WebIds fit
    assert [w for chunk in chunks for w in chunk] == webids
    assert {len(chunk) for chunk in chunks[:-1]} == {70}


def _streams_per_stream_set_request(transport: RecordingTransport) -> list[int]:
    return [str(r.url).count("webId=") for r in transport.requests if r.url.path.endswith("/streamsets/recorded")]


@pytest.mark.integration
def test_blind_chunks_widen_once_the_streams_read_show_a_plant_of_slow_tags(mock_pi_url):
    """Rates unknown: chunks of ``streams_per_request`` first; once 200 streams came back, none near a wide chunk's
    maxCount, the rest go in chunks as wide as the URL takes. Fewer requests, the same values."""
    webids = [t.webid for t in UNIVERSE.tags]
    recording = RecordingTransport()
    client = PIWebAPIClient(mock_pi_url, transport=recording)
    controller = BatchController(client, streams_per_request=20, max_concurrency=1)
    raw = controller.extract(webids, START, END)
    assert comparable_raw(raw).equals(expected_raw(webids, START, END))
    sizes = _streams_per_stream_set_request(recording)
    assert sizes[:10] == [20] * 10 and max(sizes) > 100 and sum(sizes) == len(webids)
    assert len(sizes) < len(webids) / 20 and controller.stats.paged_streams == 0


@pytest.mark.integration
def test_blind_chunks_stay_narrow_where_streams_return_more_than_a_wide_chunk_allows(dense_mock_url):
    """MaxReturnedItemsPerCall = 600: a wide chunk's maxCount (600 / ~195 streams) would cut most streams short, so
    chunks stay narrow, and the values are exact."""
    webids = [t.webid for t in UNIVERSE.tags]
    recording = RecordingTransport()
    client = PIWebAPIClient(dense_mock_url, transport=recording, retry=RetryPolicy(max_attempts=3, backoff_seconds=0))
    controller = BatchController(client, streams_per_request=20, max_concurrency=1)
    raw = controller.extract(webids, START, END)
    assert comparable_raw(raw).equals(expected_raw(webids, START, END))
    assert max(_streams_per_stream_set_request(recording)) <= 20
