"""The typed decoder of recorded values (msgspec structs → columns) on hand-written PI bodies.

Each expected row is written out from PI's documented value rules (docs/pi-web-api.md#the-value-object),
not from the decoder's code; the previous decoder (orjson dicts) gave the same frames."""

from __future__ import annotations

import gzip
import zlib
from datetime import UTC, datetime

import httpx
import orjson
import polars as pl
import pytest

from osipi_dagster.pi.client import PIWebAPIClient, RetryPolicy, sub_response
from osipi_dagster.pi.errors import PIInterruptedResponseError, PIMalformedResponseError
from osipi_dagster.pi.transports import BATCH_ANSWERS, StreamResult, _items, _recorded, stream_result
from osipi_dagster.pi.values import RAW_SCHEMA, RECORDED_VALUES, STREAM_SET_VALUES, StreamSetDecoder, ValueColumns

ITEMS = [
    {"Timestamp": "2026-11-20T10:00:00Z", "Value": 1.5, "Good": True, "Questionable": False},
    {"Timestamp": "2026-11-20T10:00:00Z", "Value": 7},  # an integer; every quality flag omitted
    {"Timestamp": "2026-11-20T10:00:01.8757629Z", "Value": {"Name": "Open", "Value": 1, "IsSystem": False}},
    {
        "Timestamp": "2026-11-20T10:00:02.5Z",
        "Value": {"Name": "Shutdown", "Value": 254, "IsSystem": True},
        "Good": False,
    },
    {"Timestamp": "2026-11-20T10:00:03Z", "Value": "batch 42", "Substituted": True, "Annotated": True},
    {"Timestamp": "2026-11-20T10:00:04Z", "Value": True, "Questionable": True},
    {"Timestamp": "2026-11-20T10:00:05Z", "Value": {"Errors": ["Point not found"]}, "Good": False},
    {"Timestamp": "2026-11-20T10:00:06Z", "Value": None, "Errors": [{"FieldName": "Value", "Message": ["bad", "x"]}]},
    {"Timestamp": "2026-11-20T10:00:07Z", "Value": None},
    {"Timestamp": "2026-11-20T10:00:08Z", "Value": -0.0, "Good": None},  # null flag: stays null
]


def _at(second: int, micro: int = 0) -> datetime:
    return datetime(2026, 11, 20, 10, 0, second, micro, tzinfo=UTC)


EXPECTED = pl.DataFrame(
    {
        "tag_webid": ["W"] * 10,
        "timestamp": [_at(0), _at(0), _at(1, 875762), _at(2, 500000)] + [_at(s) for s in range(3, 9)],
        "value": [1.5, 7.0, 1.0, None, None, 1.0, None, None, None, -0.0],
        "value_text": [None, None, "Open", "Shutdown", "batch 42", "True", "Error: Point not found"]
        + ["Error: bad; x", None, None],
        "good": [True, True, True, False, True, True, False, True, True, None],
        "questionable": [False, False, False, False, False, True, False, False, False, False],
        "substituted": [False, False, False, False, True, False, False, False, False, False],
        "annotated": [False, False, False, False, True, False, False, False, False, False],
    },
    schema=RAW_SCHEMA,
)


def _frame(stream_items: dict[str, list]) -> pl.DataFrame:
    columns = ValueColumns()
    for webid, items in stream_items.items():
        columns.add(webid, items)
    return columns.to_frame()


def test_every_kind_of_value_and_missing_flags_decode_as_pi_defines_them():
    body = STREAM_SET_VALUES.decode(orjson.dumps({"Items": [{"WebId": "W", "Items": ITEMS}]}))
    [stream] = body.Items
    assert stream.WebId == "W" and stream.WebException is None and stream.Errors is None
    assert _frame({"W": stream.Items}).equals(EXPECTED)


def test_plain_json_objects_give_the_same_frame():
    # Summaries and event frames hand PI's JSON objects to ValueColumns (no typed decode on that path).
    assert _frame({"W": orjson.loads(orjson.dumps(ITEMS))}).equals(EXPECTED)


def test_seven_digit_fractions_keep_their_microseconds_among_whole_seconds():
    items = [{"Timestamp": t, "Value": 0.0} for t in ("2026-11-20T10:00:00Z", "2026-11-20T10:00:00.1234567Z")]
    body = RECORDED_VALUES.decode(orjson.dumps({"Items": items}))
    assert _frame({"W": body.Items})["timestamp"].to_list() == [_at(0), _at(0, 123456)]


def test_streams_keep_their_values_and_webids_in_order():
    body = STREAM_SET_VALUES.decode(
        orjson.dumps(
            {
                "Items": [
                    {"WebId": "A", "Items": ITEMS[:2]},
                    {"WebId": "B", "Items": []},
                    {"WebId": "C", "Items": ITEMS[2:3]},
                ]
            }
        )
    )
    frame = _frame({s.WebId: s.Items for s in body.Items})
    assert frame["tag_webid"].to_list() == ["A", "A", "C"]
    assert frame["value"].to_list() == [1.5, 7.0, 1.0]


def test_stream_errors_and_body_exceptions_are_kept_for_the_caller():
    body = STREAM_SET_VALUES.decode(
        orjson.dumps(
            {
                "Items": [
                    {"WebId": "A", "Items": ITEMS[:1], "WebException": {"StatusCode": 500, "Errors": ["cut"]}},
                    {"WebId": "B", "Items": [], "Errors": ["Point not found."]},
                ],
                "WebException": {"StatusCode": 500, "Errors": ["streaming failed"]},
            }
        )
    )
    assert body.WebException == {"StatusCode": 500, "Errors": ["streaming failed"]}
    assert body.Items[0].WebException == {"StatusCode": 500, "Errors": ["cut"]}
    assert body.Items[1].Errors == ["Point not found."]


def answering(content: bytes, headers: dict | None = None) -> PIWebAPIClient:
    """A client whose server (an in-process httpx transport) answers every request with ``content``; one
    attempt per request, so an error that would be retried is raised at once."""
    transport = httpx.MockTransport(lambda request: _response(content, headers))
    return PIWebAPIClient("http://pi.test/piwebapi", transport=transport, retry=RetryPolicy(max_attempts=1))


def _response(content: bytes, headers: dict | None = None) -> httpx.Response:
    # A body given as an iterator is streamed, as from a server: httpx would read (and inflate) bytes at once.
    return httpx.Response(200, content=iter([content]), headers=headers)


def test_a_body_exception_after_a_2xx_is_an_interrupted_response():
    content = orjson.dumps({"Items": [], "WebException": {"StatusCode": 500, "Errors": ["streaming failed"]}})
    with pytest.raises(PIInterruptedResponseError, match="streaming failed") as raised:
        answering(content).get("streamsets/recorded", decoder=STREAM_SET_VALUES)
    assert raised.value.transient


@pytest.mark.parametrize(
    "content, message, transient",
    [
        (b'{"Items": [{"Timestamp": 2024-01-01T00:00:00Z, "Value": NaN,}', "not valid JSON", True),
        (b'{"Items": [{"WebId": "A", "Items": [{"Timestamp": "2026-11-20T10:00:00Z"', "not valid JSON", True),
        (b'{"Items": {"WebId": "A"}}', "unexpected shape", False),
        # text that is not UTF-8 (msgspec raises UnicodeDecodeError for it, which escaped as such)
        (b'{"Items": [{"WebId": "A", "Items": [{"Timestamp": "2026-11-20T10:00:00Z", "Value": "D\xe9bit"}]}]}',)
        + ("not valid JSON", True),
    ],
)
@pytest.mark.parametrize("decoder", [STREAM_SET_VALUES, StreamSetDecoder(1_000, {"A": "A"})], ids=["msgspec", "both"])
def test_broken_or_misshapen_bodies_are_named(content, message, transient, decoder):
    with pytest.raises(PIMalformedResponseError, match=message) as raised:
        answering(content).get("streamsets/recorded", decoder=decoder)
    assert raised.value.transient is transient


def test_a_body_without_items_is_malformed():
    body = answering(b'{"Links": {}}').get("streamsets/recorded", decoder=STREAM_SET_VALUES)
    with pytest.raises(PIMalformedResponseError, match="no 'Items' list"):
        _items(body, "http://x/streamsets/recorded")


STREAM_SET_BODY = orjson.dumps({"Items": [{"WebId": "A", "Items": ITEMS}]})


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    "encoded, encoding",
    [
        (gzip.compress(STREAM_SET_BODY), "gzip"),
        (zlib.compress(STREAM_SET_BODY), "deflate"),  # with the zlib header, as the HTTP spec says
        (_raw_deflate(STREAM_SET_BODY), "deflate"),  # without it, as some servers send it
        (STREAM_SET_BODY, "identity"),
    ],
)
def test_compressed_bodies_decode_to_the_plain_body(encoded, encoding):
    # (compressed by the standard library: the client inflates with zlib-ng)
    body = answering(encoded, {"Content-Encoding": encoding}).get("streamsets/recorded", decoder=STREAM_SET_VALUES)
    assert body == STREAM_SET_VALUES.decode(STREAM_SET_BODY)


def test_a_body_that_does_not_inflate_is_retried_and_named():
    cut = gzip.compress(STREAM_SET_BODY)[:-20]
    calls = []

    def handler(request):
        calls.append(request)
        return _response(cut if len(calls) == 1 else gzip.compress(STREAM_SET_BODY), {"Content-Encoding": "gzip"})

    retry = RetryPolicy(max_attempts=2, backoff_seconds=0)
    with PIWebAPIClient("http://pi.test/piwebapi", transport=httpx.MockTransport(handler), retry=retry) as client:
        assert client.get("streamsets/recorded", decoder=STREAM_SET_VALUES) == STREAM_SET_VALUES.decode(STREAM_SET_BODY)
    assert len(calls) == 2 and client.stats.retries == 1
    with pytest.raises(PIMalformedResponseError, match="gzip body that does not inflate") as raised:
        answering(cut, {"Content-Encoding": "gzip"}).get("streamsets/recorded")
    assert raised.value.transient


def test_an_encoding_the_client_did_not_ask_for_is_named_not_retried():
    with pytest.raises(PIMalformedResponseError, match="Content-Encoding 'br'") as raised:
        answering(b"\x00\x01", {"Content-Encoding": "br"}).get("streamsets/recorded")
    assert raised.value.transient is False


BATCH_ANSWERS_JSON = {
    "0": {"Status": 200, "Headers": {}, "Content": {"Items": ITEMS}},
    "1": {"Status": 200, "Content": orjson.dumps({"Items": ITEMS[:2]}).decode()},  # Content as a JSON string
    "2": {"Status": 200, "Content": {"Items": ITEMS[:1], "WebException": {"StatusCode": 500, "Errors": ["cut"]}}},
    "3": {"Status": 200, "Content": {"Items": [], "Errors": ["Point not found."]}},
    "4": {"Status": 503, "Headers": {"Retry-After": "2"}, "Content": {"Message": "busy"}},
    "5": {"Status": 400, "Content": {"Errors": ["Parameter 'maxCount' is greater than the maximum allowed (1000)."]}},
    # "6": missing
}


@pytest.mark.parametrize("key", [str(k) for k in range(7)])
def test_batch_answers_are_judged_as_plain_json_would_be(key):
    typed = _recorded(BATCH_ANSWERS.decode(orjson.dumps(BATCH_ANSWERS_JSON)).get(key))
    plain = sub_response(BATCH_ANSWERS_JSON.get(key))  # the judgement every batch answer gets (dicts)
    if key == "0":  # a complete 200: values decoded straight into structs
        assert isinstance(typed, StreamResult)
    else:
        assert (typed.status, typed.content, typed.headers) == (plain.status, plain.content, plain.headers)
        assert typed.announced_limit == plain.announced_limit
    got = typed if isinstance(typed, StreamResult) else stream_result(typed)
    expected = stream_result(plain)
    assert (got.error, got.retry_after) == (expected.error, expected.retry_after)
    assert _frame({"W": got.items}).equals(_frame({"W": expected.items}))


def test_an_empty_body_with_a_gzip_header_is_empty():
    assert answering(b"", {"Content-Encoding": "gzip"}).get("dataservers") is None
