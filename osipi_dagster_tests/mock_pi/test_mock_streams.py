"""Contract tests of the mock's discovery and stream endpoints (docs/pi-web-api.md#what-the-mock-reproduces)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from mock_pi import render, signals, webid
from mock_pi.app import create_app
from mock_pi.config import Expansion, MockConfig
from mock_pi.state import MockPI
from osipi_dagster.pi.transports import STREAMSET_FIELDS

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NOW_S = NOW.timestamp()
CONFIG = MockConfig(tags=500, now=NOW)


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(CONFIG))


@pytest.fixture(scope="module")
def universe(client):
    return client.app.state.mock.universe


def tag_of(universe, kind: str, **where):
    return next(
        t for t in universe.tags if t.sensor.kind == kind and all(getattr(t.sensor, k) == v for k, v in where.items())
    )


def expected_items(tag, start_s, end_s, max_count=1000, selection=None, descending=False):
    events = signals.recorded(tag, min(start_s, end_s), max(start_s, end_s), NOW_S, CONFIG.seed)
    items = render.timed_values(tag, events, render.parse_selected_fields(selection), descending=descending)
    return items[:max_count]


# -- envelopes and links (#conventions), WebIDs (#webids) ----------------------------------------------------


def test_home_and_collections_use_pascal_case_and_absolute_links(client):
    home = client.get("/piwebapi").json()
    assert home["Links"]["DataServers"] == "http://testserver/piwebapi/dataservers"
    servers = client.get("/piwebapi/dataservers").json()
    assert servers["Links"] == {} and len(servers["Items"]) == 1
    server = servers["Items"][0]
    assert set(server) >= {"WebId", "Id", "Name", "Path", "IsConnected", "ServerVersion", "ServerTime", "Links"}
    assert server["Links"]["Points"].startswith("http://testserver/piwebapi/dataservers/")
    assert client.get("/piwebapi/dataservers", params={"name": "pisrv01"}).json()["WebId"] == server["WebId"]
    assert client.get("/piwebapi/dataservers", params={"path": "\\\\PISRV01"}).json()["WebId"] == server["WebId"]


def test_points_paging_and_name_filter(client, universe):
    ds = universe.data_server_webid
    first = client.get(f"/piwebapi/dataservers/{ds}/points", params={"maxCount": 200}).json()["Items"]
    rest = client.get(f"/piwebapi/dataservers/{ds}/points", params={"startIndex": 200, "maxCount": 1000}).json()[
        "Items"
    ]
    assert len(first) == 200 and len(first) + len(rest) == 500
    assert [p["Name"] for p in first + rest] == sorted(t.name for t in universe.tags)
    flows = client.get(f"/piwebapi/dataservers/{ds}/points", params={"nameFilter": "*.fi"}).json()["Items"]
    assert flows and all(p["Name"].endswith(".FI") for p in flows)
    point = first[0]
    assert isinstance(point["Id"], int) and point["PointClass"] == "classic"
    assert point["Links"]["RecordedData"].endswith(f"/streams/{point['WebId']}/recorded")


@pytest.mark.parametrize("selection", ["Items.WebId", "Items.WebId;Items.Name", "Items.Links.Self", "Items", "Links"])
def test_point_listing_selection_is_the_generic_selection_of_the_whole_listing(client, universe, selection):
    """The point listing builds only the selected fields (no ``Links`` for a listing of WebIds): the answer is
    the generic ``render.select`` of the whole listing, for every kind of WebId."""
    ds = universe.data_server_webid
    for kind in ("Full", "IDOnly", "PathOnly"):
        params = {"startIndex": 3, "maxCount": 40, "webIdType": kind}
        whole = client.get(f"/piwebapi/dataservers/{ds}/points", params=params).json()
        served = client.get(f"/piwebapi/dataservers/{ds}/points", params={**params, "selectedFields": selection})
        assert served.json() == render.select(whole, render.parse_selected_fields(selection))
        assert len(whole["Items"]) == 40 and "Links" in whole["Items"][0]


def test_points_by_path_and_multiple_with_207(client, universe):
    tag = universe.tags[3]
    assert client.get("/piwebapi/points", params={"path": tag.path}).json()["WebId"] == tag.webid
    ok = client.get("/piwebapi/points/multiple", params=[("webId", tag.webid), ("path", universe.tags[4].path)])
    assert ok.status_code == 200 and [i["Object"]["Name"] for i in ok.json()["Items"]] == [
        tag.name,
        universe.tags[4].name,
    ]
    partial = client.get("/piwebapi/points/multiple", params=[("webId", tag.webid), ("path", "\\\\PISRV01\\NOPE")])
    assert partial.status_code == 207
    assert "Exception" in partial.json()["Items"][1] and "Object" not in partial.json()["Items"][1]


def test_webid_kinds_are_accepted_and_webidtype_is_honoured(client, universe):
    tag = universe.tags[7]
    guid = universe.data_server_guid
    for kind in ("IDOnly", "PathOnly"):
        wid = webid.point_webid(guid, tag.point_id, tag.path, kind)
        assert client.get(f"/piwebapi/points/{wid}").json()["Name"] == tag.name
    body = client.get(f"/piwebapi/points/{tag.webid}", params={"webIdType": "IDOnly"}).json()
    assert body["WebId"].startswith("I1DP") and webid.decode(body["WebId"]).point_id == tag.point_id
    bad = client.get("/piwebapi/points/NOT-A-WEBID")
    assert bad.status_code == 400 and bad.json()["Errors"][0].startswith("Unknown or invalid WebID format")
    missing = webid.point_webid(guid, 99999, "\\\\PISRV01\\NOPE")
    assert client.get(f"/piwebapi/points/{missing}").status_code == 404


def test_idonly_point_fast_path_reads_what_decode_reads(universe):
    """``webid.idonly_point_id`` (the stream-set fast path) against :func:`webid.decode`: the same point id for
    every IDOnly point WebID it accepts (negative and extreme ids, padding bits set, the ``-``/``_`` letters),
    None for whatever it leaves to ``decode`` (other servers, kinds, lengths, characters)."""
    server = webid.encode_guid(universe.data_server_guid)
    other = webid.encode_guid(universe.asset_server_guid)
    rng = np.random.default_rng(15)
    ids = [1, 7, 99999, -1, 0, 2**31 - 1, -(2**31), *rng.integers(-(2**31), 2**31, 200).tolist()]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    accepted = [webid.point_webid(universe.data_server_guid, i, "", "IDOnly") for i in ids]
    accepted += ["I1DP" + server + "".join(rng.choice(list(alphabet), 6)) for _ in range(300)]  # any padding bits
    for wid in accepted:
        assert webid.idonly_point_id(wid, server) == webid.decode(wid).point_id, wid
    good = accepted[0]
    for wid in (
        good.replace("I1DP", "F1DP", 1),
        good.replace(server, other, 1),
        good + "A",
        good[:-1],
        good[:-1] + "=",
        good[:-1] + "+",
        good[:-1] + "é",
        webid.point_webid(universe.data_server_guid, 1, universe.tags[0].path, "Full"),
    ):
        assert webid.idonly_point_id(wid, server) is None, wid
    tag = universe.tags[3]
    assert universe.find_tag(webid.point_webid(universe.data_server_guid, tag.point_id, "", "IDOnly")) is tag
    assert universe.find_tag(webid.point_webid(universe.data_server_guid, 10**6, "", "IDOnly")) is None


def test_enumeration_sets_list_digital_and_system_states(client, universe):
    sets = client.get(f"/piwebapi/dataservers/{universe.data_server_webid}/enumerationsets").json()["Items"]
    by_name = {s["Name"]: s for s in sets}
    assert {"RunStatus", "ValvePosition", "SYSTEM"} <= set(by_name)
    values = client.get(by_name["SYSTEM"]["Links"]["Values"]).json()["Items"]
    assert {"Name": "Pt Created", "Value": 253} in [{"Name": v["Name"], "Value": v["Value"]} for v in values]


# -- selectedFields (#conventions), recorded values (#recorded-values) ---------------------------------------


def test_recorded_defaults_match_the_generator(client, universe):
    tag = tag_of(universe, "analog")
    body = client.get(f"/piwebapi/streams/{tag.webid}/recorded").json()
    assert body["Items"] == expected_items(tag, NOW_S - 86400, NOW_S)  # *-1d .. *, Inside, maxCount 1000
    assert len(body["Items"]) == 1000 or body["Items"][-1]["Timestamp"] <= NOW.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_recorded_truncates_descends_and_selects(client, universe):
    tag = tag_of(universe, "analog")
    start, end = "2026-11-20T00:00:00Z", "2026-11-20T06:00:00Z"
    s, e = datetime.fromisoformat(start).timestamp(), datetime.fromisoformat(end).timestamp()
    got = client.get(
        f"/piwebapi/streams/{tag.webid}/recorded",
        params={"startTime": end, "endTime": start, "maxCount": 7, "selectedFields": "Items.Timestamp;Items.Value"},
    ).json()
    assert got == {"Items": expected_items(tag, s, e, 7, "Timestamp;Value", descending=True)}
    stamps = [i["Timestamp"] for i in got["Items"]]
    assert stamps == sorted(stamps, reverse=True)


def test_recorded_empty_range_and_limit(client, universe):
    tag = universe.tags[0]
    empty = client.get(
        f"/piwebapi/streams/{tag.webid}/recorded", params={"startTime": "2020-01-01", "endTime": "2020-01-02"}
    )
    assert empty.status_code == 200 and empty.json()["Items"] == []
    over = client.get(f"/piwebapi/streams/{tag.webid}/recorded", params={"maxCount": 150001})
    assert over.status_code == 400 and "is greater than the maximum allowed" in over.json()["Errors"][0]


def test_duplicate_timestamps_and_value_kinds(client, universe):
    dup = next(t for t in universe.tags if signals.profile(t).duplicates)
    events = signals.recorded(dup, NOW_S - 7 * 86400, NOW_S, NOW_S, CONFIG.seed)
    assert len(np.unique(events.ts)) < len(events.ts)  # several events at one timestamp…
    served = client.get(
        f"/piwebapi/streams/{dup.webid}/recorded", params={"startTime": "*-7d", "maxCount": 150000}
    ).json()["Items"]
    timestamps = [item["Timestamp"] for item in served]
    assert len(set(timestamps)) < len(timestamps)  # …and the mock serves each of them
    digital = tag_of(universe, "digital")
    items = client.get(f"/piwebapi/streams/{digital.webid}/recorded", params={"startTime": "*-3d"}).json()["Items"]
    states = [i["Value"] for i in items if i["Good"]]
    assert states and all(set(v) == {"Name", "Value", "IsSystem"} and v["IsSystem"] is False for v in states)
    string = tag_of(universe, "string")
    values = client.get(f"/piwebapi/streams/{string.webid}/recorded", params={"startTime": "*-3d"}).json()["Items"]
    assert any(isinstance(i["Value"], str) and i["Value"].startswith("BATCH-") for i in values)


def test_system_states_and_per_value_errors(client, universe):
    erring = next(t for t in universe.tags if signals.profile(t).errors)
    items = client.get(
        f"/piwebapi/streams/{erring.webid}/recorded", params={"startTime": "*-30d", "maxCount": 150000}
    ).json()["Items"]
    bad = [i for i in items if not i["Good"]]
    assert bad and all(i["Value"]["IsSystem"] for i in bad)
    errors = [i for i in bad if "Errors" in i]
    assert errors and errors[0]["Errors"][0]["FieldName"] == "Value" and errors[0]["Value"]["Name"] == "Error"
    created = client.get(
        f"/piwebapi/streams/{erring.webid}/recorded",
        params={"startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-01T00:10:00Z"},
    ).json()
    assert created["Items"][0]["Value"] == {"Name": "Pt Created", "Value": 253, "IsSystem": True}


# -- time strings (#time-strings-and-boundaries) -------------------------------------------------------------


@pytest.mark.parametrize(
    "start,end,expected",
    [
        ("*-1h", "*", (NOW_S - 3600, NOW_S)),
        (
            "t",
            "t+8h",
            (datetime(2026, 11, 20, tzinfo=UTC).timestamp(), datetime(2026, 11, 20, 8, tzinfo=UTC).timestamp()),
        ),
        (
            "y",
            "y+1h",
            (datetime(2026, 11, 19, tzinfo=UTC).timestamp(), datetime(2026, 11, 19, 1, tzinfo=UTC).timestamp()),
        ),
        ("2026-11-20T10:00:00+02:00", "2026-11-20T09:00:00Z", (NOW_S - 4 * 3600, NOW_S - 3 * 3600)),
    ],
)
def test_pi_time_strings(client, universe, start, end, expected):
    tag = tag_of(universe, "analog")
    got = client.get(f"/piwebapi/streams/{tag.webid}/recorded", params={"startTime": start, "endTime": end}).json()
    assert got["Items"] == expected_items(tag, *expected)


def test_time_zone_applies_to_zone_less_strings(client, universe):
    tag = tag_of(universe, "analog")
    got = client.get(
        f"/piwebapi/streams/{tag.webid}/recorded",
        params={"startTime": "2026-11-20T09:00:00", "endTime": "t+10h", "timeZone": "Europe/Brussels"},
    ).json()
    assert got["Items"] == expected_items(
        tag, NOW_S - 4 * 3600, datetime(2026, 11, 19, 23, tzinfo=UTC).timestamp() + 10 * 3600
    )


# -- stream sets and the other stream endpoints (#stream-sets) -----------------------------------------------


def test_streamset_recorded_ad_hoc_matches_single_streams(client, universe):
    tags = universe.tags[:25]
    params = [("webId", t.webid) for t in tags] + [("startTime", "*-2h"), ("maxCount", "50")]
    body = client.get("/piwebapi/streamsets/recorded", params=params).json()
    assert [s["Name"] for s in body["Items"]] == [t.name for t in tags]
    for tag, stream in zip(tags, body["Items"]):
        assert stream["Items"] == expected_items(tag, NOW_S - 7200, NOW_S, 50)
        assert stream["Links"]["Source"].endswith(f"/points/{tag.webid}")
    selected = client.get(
        "/piwebapi/streamsets/recorded", params=params + [("selectedFields", "Items.WebId;Items.Items.Value")]
    ).json()
    assert set(selected) == {"Items"} and set(selected["Items"][0]) == {"WebId", "Items"}
    assert set(selected["Items"][0]["Items"][0]) == {"Value"}


def test_interpolated_plot_value_end(client, universe):
    tag = tag_of(universe, "analog")
    interp = client.get(
        f"/piwebapi/streams/{tag.webid}/interpolated", params={"startTime": "*-2h", "endTime": "*", "interval": "30m"}
    ).json()["Items"]
    assert [i["Timestamp"][11:16] for i in interp] == ["10:00", "10:30", "11:00", "11:30", "12:00"]
    plot = client.get(f"/piwebapi/streams/{tag.webid}/plot", params={"startTime": "*-1d", "intervals": 10}).json()[
        "Items"
    ]
    assert 0 < len(plot) <= 50
    last = expected_items(tag, NOW_S - 3600, NOW_S)[-1]
    assert client.get(f"/piwebapi/streams/{tag.webid}/end").json() == last
    assert client.get(f"/piwebapi/streams/{tag.webid}/value").json() == last


def test_summary_types_and_duration(client, universe):
    tag = tag_of(universe, "analog")
    body = client.get(
        f"/piwebapi/streams/{tag.webid}/summary",
        params=[
            ("startTime", "*-6h"),
            ("summaryType", "Average"),
            ("summaryType", "Maximum"),
            ("summaryType", "Count"),
            ("summaryDuration", "2h"),
        ],
    ).json()
    assert [i["Type"] for i in body["Items"]] == ["Average", "Maximum", "Count"] * 3
    counts = [i["Value"]["Value"] for i in body["Items"] if i["Type"] == "Count"]
    events = signals.recorded(tag, NOW_S - 6 * 3600, NOW_S, NOW_S, CONFIG.seed)
    assert sum(counts) >= len(events) - 2  # windows share their boundary instants
    maxima = [i["Value"]["Value"] for i in body["Items"] if i["Type"] == "Maximum"]
    assert max(maxima) == float(events.value[events.good].max())


def test_streamset_summary_and_value_shapes(client, universe):
    tags = universe.tags[:3]
    params = [("webId", t.webid) for t in tags]
    summary = client.get("/piwebapi/streamsets/summary", params=params + [("summaryType", "Total")]).json()
    assert [s["Items"][0]["Type"] for s in summary["Items"]] == ["Total"] * 3
    values = client.get("/piwebapi/streamsets/value", params=params).json()
    assert all("Value" in s and "Items" not in s for s in values["Items"])


def test_unknown_stream_in_a_streamset_is_reported_in_its_item(client, universe):
    missing = webid.point_webid(universe.data_server_guid, 99999, "\\\\PISRV01\\NOPE")
    body = client.get(
        "/piwebapi/streamsets/recorded", params=[("webId", universe.tags[0].webid), ("webId", missing)]
    ).json()
    assert body["Items"][1]["WebException"]["StatusCode"] == 404


# -- evolving universe, determinism --------------------------------------------------------------------------


def test_expansion_and_late_data():
    at = datetime(2026, 11, 20, 6, tzinfo=UTC)
    expansion = Expansion(datetime(2026, 11, 20, 6, 30, tzinfo=UTC), 50)
    config = MockConfig(tags=100, now=at, expansions=(expansion,), late_lag_seconds=600)
    app = create_app(config)
    c = TestClient(app)
    ds = app.state.mock.universe.data_server_webid
    before = c.get(f"/piwebapi/dataservers/{ds}/points").json()["Items"]
    assert len(before) == 100
    c.post("/admin/clock", json={"now": "2026-11-20T07:00:00Z"})
    assert len(c.get(f"/piwebapi/dataservers/{ds}/points").json()["Items"]) == 150
    tag = app.state.mock.universe.tags[0]
    early = c.get(f"/piwebapi/streams/{tag.webid}/recorded", params={"startTime": "*-1h", "endTime": "*"}).json()[
        "Items"
    ]
    c.post("/admin/clock", json={"advanceSeconds": 900})
    later = c.get(
        f"/piwebapi/streams/{tag.webid}/recorded",
        params={"startTime": "2026-11-20T06:00:00Z", "endTime": "2026-11-20T07:00:00Z"},
    ).json()["Items"]
    assert len(later) > len(early)  # the last minutes were incomplete at first query


def test_two_app_instances_serve_identical_bytes():
    a, b = TestClient(create_app(CONFIG)), TestClient(create_app(CONFIG))
    tags = a.app.state.mock.universe.tags[:40]
    params = [("webId", t.webid) for t in tags] + [("startTime", "*-3h")]
    assert (
        a.get("/piwebapi/streamsets/recorded", params=params).content
        == b.get("/piwebapi/streamsets/recorded", params=params).content
    )


def test_gzip_when_asked(client, universe):
    response = client.get(f"/piwebapi/streams/{universe.tags[0].webid}/recorded", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip" and response.json()["Items"]
    plain = client.get(f"/piwebapi/streams/{universe.tags[0].webid}/recorded", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers


@pytest.mark.parametrize("operation", ["recorded", "interpolated", "summary", "value", "end"])
@pytest.mark.parametrize(
    "selection",
    [
        STREAMSET_FIELDS,
        "Items.WebId;Items.Items.Value",
        "Items.Name;Items.Links.Source;Items.Value.Timestamp;Items.Items.Value.Value",
        "Items.Items;Items.Value;Items.WebException",
        "Items",
        "Links",
    ],
)
def test_stream_set_selection_is_the_generic_selection_of_the_whole_answer(client, universe, operation, selection):
    """Stream sets apply ``selectedFields`` themselves (without walking what each operation rendered):
    the answer must be the generic ``render.select`` of the answer without ``selectedFields``, for every
    operation, with a missing point (a 404 item) among the streams."""
    missing = webid.point_webid(universe.data_server_guid, 99999, "", "IDOnly")
    params = [("webId", t.webid) for t in universe.tags[:12]] + [("webId", missing)]
    params += [("startTime", "*-3h"), ("endTime", "*-1h"), ("interval", "30m"), ("summaryType", "Average")]
    whole = client.get(f"/piwebapi/streamsets/{operation}", params=params).json()
    served = client.get(f"/piwebapi/streamsets/{operation}", params=params + [("selectedFields", selection)])
    assert served.status_code == 200
    assert served.json() == render.select(whole, render.parse_selected_fields(selection))
    assert any("WebException" in item for item in whole["Items"]) and len(whole["Items"]) == 13


@pytest.mark.parametrize(
    "selection",
    [None, "Timestamp;Value;Good", "Value", "Timestamp;UnitsAbbreviation;Errors", "Errors"],
)
def test_stream_set_renderer_writes_the_bytes_of_the_reference_path(selection):
    """The stream-set renderer (columns of text pieces, one join per stream) against ``timed_values`` (one dict
    per event, encoded by orjson), byte for byte: every kind of value, system states, per-value errors, dense
    bursts, names at PI's limits, units with quotes and non-ASCII text, over an hour and over two days."""
    mock = MockPI(MockConfig(tags=150, now=NOW, dense_tags=1, awkward_tags=3))
    tags = mock.universe.tags
    units = [("", "degC", 'm³/h "net"')[i % 3] for i in range(len(tags))]
    parsed = render.parse_selected_fields(selection)
    kinds, states = set(), set()
    for start, chosen in ((NOW_S - 3600, tags), (NOW_S - 2 * 86400, tags[:150])):  # dense tags: one hour
        many = mock.recorded_tags(chosen, start, NOW_S, 150_000)
        served = render.stream_values_json(chosen, many.events, many.offsets, parsed, units)
        for i, tag in enumerate(chosen):
            reference = render.timed_values(tag, many.of(i), parsed, units=units[i])
            assert orjson.dumps(served[i]) == orjson.dumps(reference), (selection, tag.name)
            kinds.add(tag.sensor.kind)
        states.update(np.unique(many.events.system_state).tolist())
    assert signals.VALUE_ERROR in states and signals.PT_CREATED not in states and len(states) > 3
    assert kinds == set(signals.KINDS)


@pytest.mark.parametrize("start,end", [("2026-11-20T06:00:00Z", "2026-11-20T06:00:00Z"), ("*-3h", "*-1h")])
def test_outside_boundary_adds_the_events_around_the_range(client, universe, start, end):
    """``boundaryType=Outside`` (the edge reads of pi_metrics_hourly): every stream's events in the range plus
    the last one before it and the first one after it, checked against each tag's events over a wide window."""
    tags = universe.tags[::3]
    params = [("webId", t.webid) for t in tags] + [
        ("startTime", start),
        ("endTime", end),
        ("boundaryType", "Outside"),
        ("maxCount", 150000),
    ]
    served = client.get("/piwebapi/streamsets/recorded", params=params).json()["Items"]
    lo = client.get("/admin/clock").json()["NowSeconds"] - 3 * 3600 if start == "*-3h" else NOW_S - 6 * 3600
    hi = lo + 2 * 3600 if start == "*-3h" else lo
    for tag, item in zip(tags, served, strict=True):
        events = signals.recorded(tag, lo - 86400, min(hi + 86400, NOW_S), NOW_S, CONFIG.seed)
        rows = np.concatenate(
            [
                np.flatnonzero(events.ts < lo)[-1:],
                np.flatnonzero((events.ts >= lo) & (events.ts <= hi)),
                np.flatnonzero(events.ts > hi)[:1],
            ]
        )
        assert item["Items"] == render.timed_values(tag, events.take(rows)), tag.name
    assert sum(len(item["Items"]) for item in served) >= 2 * len(tags)
