"""The stream-set fast path (``_stream_set.c`` → Arrow columns) against the general decoder (msgspec structs →
``ValueColumns``), which is the reference: every body the fast path reads must give the general decoder's rows,
and every body it declines must go to the general decoder."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta

import msgspec
import orjson
import polars as pl
import pytest

from osipi_dagster.pi import transports, values
from osipi_dagster.pi.client import PIWebAPIClient
from osipi_dagster.pi.values import (
    STREAM_SET_VALUES,
    StreamSetColumns,
    StreamSetDecoder,
    StreamSetValues,
    ValueColumns,
    stream_set_columns,
)
from osipi_dagster_tests.expected import comparable_raw, expected_raw
from osipi_dagster_tests.pi.test_batch_controller import END, START, UNIVERSE, extractor
from osipi_dagster_tests.pi.test_values import ITEMS
from osipi_dagster_tests.servers import unavailable

WEBIDS = {w: f"full-{w}" for w in ("A", "B", "C")}  # the server's (IDOnly) WebId → the caller's


@pytest.fixture(autouse=True)
def parser_built():
    if not values.parser_built():
        unavailable("the C stream-set parser is not built (pip install -e . needs a C compiler)")


def general(content: bytes) -> pl.DataFrame:
    """The reference: the general decoder's rows for a body."""
    columns = ValueColumns()
    for stream in STREAM_SET_VALUES.decode(content).Items:
        columns.add(WEBIDS[stream.WebId], stream.Items or [])
    return columns.to_frame()


def fast(content: bytes, max_count: int = 1_000) -> pl.DataFrame | None:
    read = stream_set_columns(content, max_count, WEBIDS)
    return None if read is None else read.frame


def body(*streams: dict, **extra) -> bytes:
    return orjson.dumps({"Items": list(streams), **extra})


# ITEMS (test_values.py) holds one of every kind of value; the fast path declines three of them (below).
READ_ITEMS = [i for i in ITEMS if not isinstance(i["Value"], dict) or "Name" in i["Value"]]
READ_ITEMS = [i for i in READ_ITEMS if i.get("Good", True) is not None and not i.get("Errors")]


def test_every_kind_of_value_it_reads_gives_the_general_decoders_rows():
    content = body(
        {"WebId": "A", "Items": READ_ITEMS, "Links": {"Self": "https://pi/x"}, "UnitsAbbreviation": "m3/h"},
        {"WebId": "B", "Items": []},
        {"WebId": "C", "Items": None, "WebException": None, "Errors": None},
        Links={},
    )
    read = stream_set_columns(content, 1_000, WEBIDS)
    assert read is not None and read.frame.equals(general(content))
    assert read.counts == {"full-A": len(READ_ITEMS), "full-B": 0, "full-C": 0}
    assert read.frame["value_text"].drop_nulls().to_list() == ["Open", "Shutdown", "batch 42", "True"]


def test_text_with_escapes_and_any_language_reads_as_the_general_decoder_reads_it():
    texts = ['say "hi" \\ /', "Débit", "Störung", "泵 停止", "tab\tnew line\n", "nul\x00", "🚰"]
    states = [{"Name": "Défaut", "Value": 3, "IsSystem": False}]
    items = [{"Timestamp": "2026-11-20T10:00:00Z", "Value": v} for v in texts + states]
    escaped = '"\\u00e9\\ud83d\\udeb0\\/\\b\\f\\r"'  # JSON escapes, a surrogate pair among them
    content = body({"WebId": "A", "Items": items}).replace(b'"Value":"nul', f'"Value":{escaped},"X":"nul'.encode())
    read = fast(content)
    assert read is not None and read.equals(general(content))
    assert read["value_text"].to_list() == ['say "hi" \\ /', "Débit", "Störung", "泵 停止", "tab\tnew line\n"] + [
        "é🚰/\b\f\r",
        "🚰",
        "Défaut",
    ]


def test_whitespace_and_number_spellings_read_as_json_defines_them():
    # Hand-written JSON: spaces and line breaks between tokens, numbers in every form JSON allows.
    numbers = [
        "0",
        "-0",
        "7",
        "-12",
        "1.5",
        "1E+2",
        "2.5e-7",
        "-0.0001",
        "18446744073709551617",
        "0.1000000000000000055511151231257827",
        "123456789012345678901234567890e-10",
        "4.9e-324",
        "9007199254740993",
        "0.000000000000000000001",
        "123456789.123456789",
    ]
    rows = ",\n".join(
        f'  {{ "Timestamp" : "2026-11-20T10:00:{i:02d}Z" ,\t"Value" : {n} , "Good" : true }}'
        for i, n in enumerate(numbers)
    )
    content = f'{{ "Items" : [ {{ "WebId" : "A" , "Items" : [\n{rows}\n] }} ] }}\n'.encode()
    read = fast(content)
    assert read is not None and read.equals(general(content))
    assert read["value"].to_list() == [float(n) for n in numbers]


def test_decimal_numbers_round_as_pythons_float_does():
    # Short decimals take an exact shortcut (digits / 10^k), the others strtod: both must round as float() does.
    rng = random.Random(14)
    numbers = []
    for _ in range(5_000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 20))).lstrip("0") or "0"
        point = rng.randint(0, len(digits))
        text = digits if point == len(digits) else f"{digits[:point] or '0'}.{digits[point:]}"
        numbers.append(("-" if rng.random() < 0.3 else "") + text)
    items = ",".join(f'{{"Timestamp":"2026-11-20T10:00:00Z","Value":{n}}}' for n in numbers)
    read = fast(f'{{"Items":[{{"WebId":"A","Items":[{items}]}}]}}'.encode(), max_count=10_000)
    assert read is not None and read["value"].to_list() == [float(n) for n in numbers]


def test_timestamps_keep_their_microseconds_and_drop_finer_digits():
    stamps = [
        "2026-11-20T10:00:00Z",
        "2026-11-20T10:00:00.5Z",
        "2026-11-20T10:00:00.8757629Z",
        "2024-02-29T23:59:59.999999999Z",
        "1969-12-31T23:59:59.9999999Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ]
    content = body({"WebId": "A", "Items": [{"Timestamp": t, "Value": 1} for t in stamps]})
    read = fast(content)
    assert read is not None and read.equals(general(content))
    assert read["timestamp"][2] == datetime(2026, 11, 20, 10, 0, 0, 875762, tzinfo=UTC)


def _raw(value: bytes, key: bytes = b'"Value"') -> bytes:
    """A body of one value whose JSON is written out by hand."""
    return b'{"Items":[{"WebId":"A","Items":[{"Timestamp":"2026-11-20T10:00:00Z",' + key + b":" + value + b"}]}]}"


def _value(v):
    return {"WebId": "A", "Items": [{"Timestamp": "2026-11-20T10:00:00Z", "Value": v}]}


DECLINED = {
    "a body that reports an error": body(_value(1), WebException={"StatusCode": 500, "Errors": ["cut"]}),
    "a stream that reports an error": body({**_value(1), "WebException": {"StatusCode": 500, "Errors": ["x"]}}),
    "a stream with errors": body({"WebId": "A", "Items": [], "Errors": ["Point not found."]}),
    "a stream that may have more values (paged)": body({"WebId": "A", "Items": [ITEMS[0]] * 5}),
    "a null quality flag": body({"WebId": "A", "Items": [ITEMS[-1]]}),
    "a null value with errors": body({"WebId": "A", "Items": [ITEMS[7]]}),
    "an error object as the value": body({"WebId": "A", "Items": [ITEMS[6]]}),
    "a lone surrogate": _raw(b'"\\ud800"'),
    "an escape JSON does not have": _raw(b'"\\x41"'),
    "bytes that are not UTF-8": body(_value("Débit")).replace("é".encode(), b"\xe9"),
    "a key with an escape": _raw(b"1", key=b'"\\u0056alue"'),
    "a value given twice": _raw(b'1,"Value":2'),
    "a stream's values given twice": body({"WebId": "A", "Items": [ITEMS[0]]}).replace(b"]}]}", b'],"Items":[]}]}'),
    "a digital state of another shape": body(_value({"Name": "On", "Value": "1"})),
    "an array as the value": body(_value([1, 2])),
    "a timestamp with an offset": body({"WebId": "A", "Items": [{"Timestamp": "2026-11-20T10:00:00+01:00"}]}),
    "a date that does not exist": body({"WebId": "A", "Items": [{"Timestamp": "2026-02-29T10:00:00Z"}]}),
    "a value without a timestamp": body({"WebId": "A", "Items": [{"Value": 1}]}),
    "a number out of range": _raw(b"1e999"),
    "a WebId that was not asked for": body({"WebId": "Z", "Items": []}),
    "a WebId twice": body({"WebId": "A", "Items": []}, {"WebId": "A", "Items": []}),
    "a stream without a WebId": body({"Items": []}),
    "no Items": b'{"Links":{}}',
    "invalid JSON": b'{"Items":[{"WebId":"A","Items":[}]}',
    "a body cut short": body(_value(1))[:-3],
    "bytes after the body": body(_value(1)) + b"x",
    "nesting past 64 levels in a skipped field": body({"WebId": "A", "Deep": [[[[[[[[[[[]]]]]]]]]]] * 1}).replace(
        b"[[[[[[[[[[[]]]]]]]]]]]", b"[" * 70 + b"]" * 70
    ),
}


@pytest.mark.parametrize("content", DECLINED.values(), ids=DECLINED.keys())
def test_bodies_it_does_not_read_go_to_the_general_decoder(content):
    assert stream_set_columns(content, 5, WEBIDS) is None
    try:
        decoded = StreamSetDecoder(5, WEBIDS).decode(content)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return  # not JSON of PI's shape: the client names it (test_values.py)
    assert isinstance(decoded, StreamSetValues)


def _random_value(rng: random.Random):
    kind = rng.randrange(8)
    if kind == 0:
        return rng.choice(
            [rng.uniform(-1e6, 1e6), rng.randint(-(2**62), 2**62), rng.random() * 10 ** rng.randint(-300, 300)]
        )
    if kind == 1:
        return rng.choice(["", "batch 42", "12.5", "true", "null", "Tab\x7f", "Débit", 'a "quote" \\', "\t\n", "🚰"])
    if kind == 2:
        return rng.random() < 0.5
    if kind == 3:
        state = {"Name": rng.choice(["Open", "Shutdown", "I/O Timeout"]), "Value": rng.choice([0, 1, 254, None, 2.5])}
        if rng.random() < 0.7:
            state["IsSystem"] = rng.choice([True, False, None])
        return state
    if kind == 4:
        return None
    return round(rng.uniform(-100, 100), rng.randint(0, 9))


def _random_stamp(rng: random.Random) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(0, 4_102_444_800))
    digits = rng.choice([0, 0, 0, 1, 3, 6, 7, 9])
    fraction = "." + "".join(rng.choice("0123456789") for _ in range(digits)) if digits else ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def _random_body(rng: random.Random) -> bytes:
    streams = []
    for webid in rng.sample(sorted(WEBIDS), rng.randint(0, 3)):
        items = []
        for _ in range(rng.randint(0, 40)):
            item = {"Timestamp": _random_stamp(rng), "Value": _random_value(rng)}
            for flag in ("Good", "Questionable", "Substituted", "Annotated"):
                if rng.random() < 0.5:
                    item[flag] = rng.random() < 0.5
            if rng.random() < 0.1:
                item["Errors"] = []
            items.append(item)
        streams.append({"WebId": webid, "Items": items})
    return body(*streams)


def test_random_bodies_read_as_the_general_decoder_reads_them():
    rng = random.Random(15)
    read = 0
    for _ in range(300):
        content = _random_body(rng)
        frame = fast(content)
        if frame is not None:
            read += 1
            assert frame.equals(general(content)), content
    assert read == 300  # every shape generated here is one the fast path reads


def test_damaged_bodies_are_declined_or_read_exactly_as_the_general_decoder_reads_them():
    """Bytes deleted, inserted or changed at random, members repeated: the parser must never crash nor read past the
    body, and a body it still reads must be one the general decoder reads alike."""
    rng = random.Random(16)
    originals = [_random_body(rng) for _ in range(20)]
    read = 0
    for _ in range(3_000):
        content = bytearray(rng.choice(originals))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(content))
            action = rng.randrange(4)
            if action == 0:
                del content[at]
            elif action == 1:
                content.insert(at, rng.choice(b'{}[]",:0123456789.eE-+tfnul \\"AZ'))
            elif action == 2:
                content[at] = rng.randrange(256)
            else:  # a member written twice (JSON allows it; the general decoder keeps the last)
                start = content.find(b',"', at)
                end = content.find(b',"', start + 1)
                if start >= 0 and end > start:
                    content[start:start] = content[start:end]
        frame = fast(bytes(content))
        if frame is not None:
            read += 1
            assert frame.equals(general(bytes(content))), bytes(content)
    assert read > 0


def test_without_the_parser_every_body_goes_to_the_general_decoder_and_a_warning_says_so(monkeypatch, caplog):
    monkeypatch.setattr(values, "_stream_set", None)
    transports._warn_no_parser.cache_clear()
    with caplog.at_level(logging.WARNING), PIWebAPIClient("http://pi.test/piwebapi") as client:
        transports.StreamsetTransport(client)
        transports.StreamsetTransport(client)
    assert caplog.text.count("stream-set parser") == 1 and "apt-get install gcc" in caplog.text
    assert isinstance(StreamSetDecoder(1_000, WEBIDS).decode(body(_value(1.5))), StreamSetValues)


def test_the_decoder_uses_the_fast_path_for_a_body_it_reads():
    decoded = StreamSetDecoder(1_000, WEBIDS).decode(body(_value(1.5)))
    assert isinstance(decoded, StreamSetColumns) and decoded.counts == {"full-A": 1}


@pytest.mark.integration
@pytest.mark.parametrize("fast_path", [True, False], ids=["fast path", "general decoder"])
def test_every_value_of_every_tag_arrives_with_either_decoder(mock_pi_url, monkeypatch, fast_path):
    read = []

    def counting(*args):
        columns = stream_set_columns(*args)
        read.append(columns is not None)
        return columns

    monkeypatch.setattr(values, "stream_set_columns", counting if fast_path else lambda *args: None)
    webids = [t.webid for t in UNIVERSE.tags]
    raw = extractor(mock_pi_url, "streamsets", streams_per_request=64).extract(webids, START, END)
    assert comparable_raw(raw).equals(expected_raw(webids, START, END))
    assert all(read) and len(read) == -(-len(webids) // 64) if fast_path else not read
