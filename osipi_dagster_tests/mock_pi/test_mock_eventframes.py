"""Contract tests of the mock's event frames (docs/pi-web-api.md#event-frames)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from mock_pi.app import create_app
from mock_pi.config import MockConfig
from mock_pi.eventframes import OPEN_END, search

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NOW_S = NOW.timestamp()


@pytest.fixture()
def client():
    return TestClient(create_app(MockConfig(tags=1500, now=NOW)))


def frames_url(client):
    mock = client.app.state.mock
    return f"/piwebapi/assetdatabases/{mock.af.database_webid()}/eventframes"


def test_default_search_is_overlapped_last_8h_roots_only(client):
    mock = client.app.state.mock
    got = client.get(frames_url(client)).json()["Items"]
    expected = search(mock.eventframes, "Overlapped", NOW_S - 8 * 3600, NOW_S, NOW_S)
    assert sorted(f["Name"] for f in got) == sorted(f.name for f in expected)
    assert [f["Name"].upper() for f in got] == sorted(f["Name"].upper() for f in got)
    assert not any("#" in f["Name"] for f in got)
    assert {"Batch", "High Vibration"} <= {f["TemplateName"] for f in got}
    frame = got[0]
    assert frame["RefElementWebIds"] and frame["Links"]["PrimaryReferencedElement"].endswith(
        frame["RefElementWebIds"][0]
    )


def test_search_full_hierarchy_adds_child_frames(client):
    roots = client.get(frames_url(client), params={"templateName": "Alarm"}).json()["Items"]
    everything = client.get(frames_url(client), params={"templateName": "Alarm", "searchFullHierarchy": "true"}).json()[
        "Items"
    ]
    assert roots and {f["TemplateName"] for f in roots} == {"High Vibration"}  # derived from Alarm
    assert len(everything) > len(roots) and any(f["TemplateName"] == "Alarm" for f in everything)
    parent = next(f for f in roots if f["HasChildren"])
    kids = client.get(parent["Links"]["EventFrames"]).json()["Items"]
    assert kids and all(k["Name"].startswith(parent["Name"] + " #") for k in kids)
    assert all(k["Links"]["Parent"] == parent["Links"]["Self"] for k in kids)


@pytest.mark.parametrize("mode", ["StartInclusive", "EndInclusive", "Inclusive", "Overlapped", "InProgress", "None"])
def test_window_search_modes_follow_their_definition(client, mode):
    start, end = NOW_S - 12 * 3600, NOW_S - 2 * 3600
    got = client.get(
        frames_url(client), params={"searchMode": mode, "startTime": "*-12h", "endTime": "*-2h", "maxCount": 10000}
    ).json()["Items"]

    def seconds(text):
        return float("inf") if text == OPEN_END else datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    for f in got:
        s, e = seconds(f["StartTime"]), seconds(f["EndTime"])
        ok = {
            "StartInclusive": start <= s <= end,
            "EndInclusive": start <= e <= end,
            "Inclusive": start <= s and e <= end,
            "Overlapped": s <= end and e >= start,
            "InProgress": start <= s <= end and e == float("inf"),
            "None": s <= end and e >= start,
        }[mode]
        assert ok, (mode, f["Name"], f["StartTime"], f["EndTime"])
    mock = client.app.state.mock
    assert len(got) == len([f for f in search(mock.eventframes, mode, start, end, NOW_S) if not f.child])


@pytest.mark.parametrize(
    "mode",
    [
        "BackwardFromStartTime",
        "ForwardFromStartTime",
        "BackwardFromEndTime",
        "ForwardFromEndTime",
        "BackwardInProgress",
        "ForwardInProgress",
    ],
)
def test_directional_search_modes(client, mode):
    got = client.get(frames_url(client), params={"searchMode": mode, "startTime": "*-1d", "maxCount": 20}).json()
    assert "Items" in got and len(got["Items"]) <= 20
    field = "EndTime" if "EndTime" in mode else "StartTime"
    stamps = [f[field] for f in got["Items"]]
    assert stamps == sorted(stamps, reverse=mode.startswith("Backward"))
    refused = client.get(frames_url(client), params={"searchMode": mode, "endTime": "*"})
    assert refused.status_code == 400


def test_open_frames_close_later(client):
    open_frames = client.get(
        frames_url(client), params={"searchMode": "InProgress", "startTime": "*-7d", "maxCount": 10000}
    ).json()["Items"]
    assert open_frames and all(f["EndTime"] == OPEN_END and f["AreValuesCaptured"] is False for f in open_frames)
    frame = open_frames[0]
    client.post("/admin/clock", json={"advanceSeconds": 40 * 86400})
    later = client.get(frame["Links"]["Self"]).json()
    assert later["EndTime"] != OPEN_END and later["AreValuesCaptured"] is True


def test_filters_by_referenced_element_severity_and_acknowledgement(client):
    alarms = client.get(
        frames_url(client), params={"templateName": "Alarm", "startTime": "*-3d", "maxCount": 10000}
    ).json()["Items"]
    assert {a["Severity"] for a in alarms} <= {"Warning", "Minor", "Major", "Critical"}
    assert all(a["CanBeAcknowledged"] for a in alarms)
    acked = client.get(
        frames_url(client),
        params={"templateName": "Alarm", "startTime": "*-3d", "isAcknowledged": "true", "maxCount": 10000},
    ).json()["Items"]
    assert acked and all(a["IsAcknowledged"] and a["AcknowledgedBy"] for a in acked)
    some = alarms[0]
    element_name = some["Name"].split(" ")[1]
    by_ref = client.get(
        frames_url(client), params={"referencedElementNameFilter": element_name, "startTime": "*-3d", "maxCount": 10000}
    ).json()["Items"]
    assert by_ref and all(f["Name"].split(" ")[1] == element_name for f in by_ref)
    critical = client.get(frames_url(client), params={"severity": "Critical", "startTime": "*-3d"}).json()["Items"]
    assert all(f["Severity"] == "Critical" for f in critical)


def test_event_frame_attributes_read_through_streamsets(client):
    batches = client.get(
        frames_url(client), params={"templateName": "Batch", "searchMode": "Inclusive", "startTime": "*-2d"}
    ).json()["Items"]
    frame = batches[0]
    attributes = client.get(frame["Links"]["Attributes"]).json()["Items"]
    assert {"Level", "Product", "Batch ID"} <= {a["Name"] for a in attributes}
    recorded = client.get(f"/piwebapi/streamsets/{frame['WebId']}/recorded").json()["Items"]
    level = next(s for s in recorded if s["Name"] == "Level")
    stamps = [i["Timestamp"] for i in level["Items"]]
    assert stamps and frame["StartTime"] <= stamps[0] and stamps[-1] <= frame["EndTime"]  # the EF's time context
    values = client.get(f"/piwebapi/streamsets/{frame['WebId']}/value").json()["Items"]
    product = next(v for v in values if v["Name"] == "Product")
    assert isinstance(product["Value"]["Value"], str)
    by_path = client.get("/piwebapi/eventframes", params={"path": frame["Path"]}).json()
    assert by_path["WebId"] == frame["WebId"]


def test_element_event_frames_and_paging(client):
    page1 = client.get(frames_url(client), params={"startTime": "*-2d", "maxCount": 5}).json()["Items"]
    page2 = client.get(frames_url(client), params={"startTime": "*-2d", "maxCount": 5, "startIndex": 5}).json()["Items"]
    assert len(page1) == 5 and not {f["WebId"] for f in page1} & {f["WebId"] for f in page2}
    element = client.get(page1[0]["Links"]["PrimaryReferencedElement"]).json()
    mine = client.get(element["Links"]["EventFrames"], params={"startTime": "*-2d"}).json()["Items"]
    assert page1[0]["WebId"] in [f["WebId"] for f in mine]
