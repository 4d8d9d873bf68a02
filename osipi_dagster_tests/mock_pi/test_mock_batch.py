"""Contract tests of ``POST /piwebapi/batch`` (docs/pi-web-api.md#batch)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from fastapi.testclient import TestClient

from mock_pi.app import create_app
from mock_pi.config import MockConfig

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CSRF = {"X-Requested-With": "XmlHttpRequest"}


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(MockConfig(tags=300, now=NOW)))


@pytest.fixture(scope="module")
def tags(client):
    return client.app.state.mock.universe.tags


def post(client, body, headers=CSRF):
    return client.post("/piwebapi/batch", content=orjson.dumps(body), headers=headers)


def test_post_requires_x_requested_with(client):
    response = post(client, {"a": {"Method": "GET", "Resource": "http://h/piwebapi/"}}, headers={})
    assert response.status_code == 403 and "X-Requested-With" in response.json()["Errors"][0]


def test_independent_requests_answer_207_with_each_status(client, tags):
    body = {
        "ok": {"Method": "GET", "Resource": f"https://anyhost/piwebapi/points/{tags[0].webid}"},
        "missing": {"Method": "GET", "Resource": "https://anyhost/piwebapi/points/F1DPnope"},
        "bad": {"Method": "GET", "Resource": "https://anyhost/piwebapi/nothing/here"},
    }
    response = post(client, body)
    assert response.status_code == 207
    out = response.json()
    assert list(out) == ["ok", "missing", "bad"]
    assert out["ok"]["Status"] == 200 and out["ok"]["Content"]["Name"] == tags[0].name
    assert out["ok"]["Headers"]["Content-Type"].startswith("application/json")
    assert out["missing"]["Status"] == 400 and "Errors" in out["missing"]["Content"]
    assert out["bad"]["Status"] == 404


def test_recorded_sub_requests_equal_single_calls(client, tags):
    query = "startTime=*-2h&endTime=*&maxCount=40&selectedFields=Items.Timestamp;Items.Value;Items.Good"
    body = {
        str(i): {"Method": "GET", "Resource": f"http://h/piwebapi/streams/{t.webid}/recorded?{query}"}
        for i, t in enumerate(tags[:30])
    }
    out = post(client, body).json()
    for i, tag in enumerate(tags[:30]):
        single = client.get(f"/piwebapi/streams/{tag.webid}/recorded?{query}").json()
        assert out[str(i)] == {"Status": 200, "Headers": out[str(i)]["Headers"], "Content": single}


def test_parent_ids_parameters_and_jsonpath_resource(client, tags):
    body = {
        "point": {"Method": "GET", "Resource": f"http://h/piwebapi/points?path={tags[5].path}"},
        "data": {
            "Method": "GET",
            "ParentIds": ["point"],
            "Parameters": ["$.point.Content.Links.RecordedData"],
            "Resource": "{0}?startTime=*-10m",
        },
        "self": {"Method": "GET", "ParentIds": ["point"], "Resource": "$.point.Content.Links.Self"},
    }
    out = post(client, body).json()
    assert out["data"]["Status"] == 200 and out["data"]["Content"]["Items"]
    assert out["self"]["Content"]["WebId"] == tags[5].webid


def test_request_template_fans_out_with_inner_items(client):
    body = {
        "db": {"Method": "GET", "Resource": "http://h/piwebapi/assetdatabases?path=\\\\AFSRV01\\OSIPI Plant"},
        "elems": {
            "Method": "GET",
            "ParentIds": ["db"],
            "Parameters": ["$.db.Content.Links.Elements"],
            "Resource": "{0}?templateName=Pump&searchFullHierarchy=true&maxCount=3",
        },
        "attrs": {
            "Method": "GET",
            "ParentIds": ["elems"],
            "RequestTemplate": {"Resource": "{0}?selectedFields=Items.Name;Items.ConfigString"},
            "Parameters": ["$.elems.Content.Items[*].Links.Attributes"],
        },
    }
    out = post(client, body).json()
    assert out["elems"]["Status"] == 200 and len(out["elems"]["Content"]["Items"]) == 3
    assert out["attrs"]["Status"] == 207
    inner = out["attrs"]["Content"]["Items"]
    assert len(inner) == 3 and all(i["Status"] == 200 for i in inner)
    assert any(
        a["Name"] == "Flow" and a["ConfigString"].startswith("\\\\PISRV01\\") for a in inner[0]["Content"]["Items"]
    )


def test_failed_parent_gives_409_and_empty_jsonpath_gives_400(client):
    body = {
        "bad": {"Method": "GET", "Resource": "http://h/piwebapi/points?path=\\\\PISRV01\\NOPE"},
        "child": {
            "Method": "GET",
            "ParentIds": ["bad"],
            "Parameters": ["$.bad.Content.WebId"],
            "Resource": "http://h/piwebapi/points/{0}",
        },
        "root": {"Method": "GET", "Resource": "http://h/piwebapi/"},
        "empty": {
            "Method": "GET",
            "ParentIds": ["root"],
            "Parameters": ["$.root.Content.Links.Nope"],
            "Resource": "{0}",
        },
    }
    out = post(client, body).json()
    assert out["bad"]["Status"] == 404
    assert out["child"]["Status"] == 409
    assert out["empty"]["Status"] == 400
    assert "Some JSON paths did not select any tokens" in out["empty"]["Content"]["Errors"][0]


def test_content_must_be_a_json_string(client):
    body = {
        "a": {"Method": "POST", "Resource": "http://h/piwebapi/points", "Content": {"not": "a string"}},
        "b": {"Method": "GET", "Resource": "http://h/piwebapi/points/x", "Content": "{}"},
    }
    out = post(client, body).json()
    assert out["a"]["Status"] == 400 and "JSON-encoded string" in out["a"]["Content"]["Errors"][0]
    assert out["b"]["Status"] == 400  # a malformed WebID, not a Content problem


def test_malformed_batch_body_is_rejected_as_a_whole(client):
    response = client.post("/piwebapi/batch", content=b"{not json", headers=CSRF)
    assert response.status_code == 400 and "Errors" in response.json()
