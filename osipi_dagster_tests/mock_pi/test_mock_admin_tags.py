"""``POST /admin/tags``: tags added to a running mock (a plant expansion now), against the real process and
compared with the universe the same ``--expansion`` would give at start."""

from __future__ import annotations

import shlex
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from mock_pi import signals
from mock_pi.af import AFModel
from mock_pi.app import create_app
from mock_pi.config import Expansion, MockConfig
from mock_pi.process import running_mock
from mock_pi.universe import Universe
from osipi_dagster.demo import add_tags_command

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CONFIG = MockConfig(tags=200, now=NOW)
ADDED = 30


def points(http: httpx.Client) -> list[dict]:
    server = http.get("dataservers").json()["Items"][0]
    return http.get(server["Links"]["Points"], params={"maxCount": 1000}).json()["Items"]


def elements(http: httpx.Client) -> list[dict]:
    database = http.get("assetdatabases", params={"path": "\\\\AFSRV01\\OSIPI Plant"}).json()
    found = http.get(database["Links"]["Elements"], params={"searchFullHierarchy": "true", "maxCount": 1000})
    return found.json()["Items"]


@pytest.mark.integration
def test_added_tags_appear_with_values_and_af_elements_as_an_expansion_would():
    with running_mock("--tags", str(CONFIG.tags), "--now", NOW.isoformat()) as server:
        admin = server.url.removesuffix("/piwebapi") + "/admin/tags"
        with httpx.Client(base_url=server.url + "/", timeout=30) as http:
            before = points(http)
            assert httpx.get(admin).json() == {"Points": CONFIG.tags, "Expansions": []}
            # What osipi-demo tells the user to run (curl -X POST URL -d BODY), sent as it is.
            curl, method_flag, method, url, data_flag, data = shlex.split(add_tags_command(server.url, ADDED))
            assert (curl, method_flag, method, url, data_flag) == ("curl", "-X", "POST", admin, "-d")
            answer = httpx.post(url, content=data).json()
            # The same plant as `--expansion NOW=30` at start (the oracle), seen at the mock's clock.
            expected = Universe(replace(CONFIG, expansions=(Expansion(NOW, ADDED),)))
            new_tags = expected.tags[CONFIG.tags :]
            assert answer == {
                "Added": ADDED,
                "At": "2026-11-20T12:00:00Z",
                "Names": [t.name for t in new_tags],
                "Points": CONFIG.tags + ADDED,
                "Expansions": [{"At": "2026-11-20T12:00:00Z", "Tags": ADDED}],
            }
            after = points(http)
            assert sorted((p["Name"], p["WebId"]) for p in after) == sorted((t.name, t.webid) for t in expected.tags)
            assert {p["WebId"] for p in before} < {p["WebId"] for p in after}  # the first 200 are unchanged

            model = AFModel(expected)
            visible = [e for e in expected.elements if model.visible(e, NOW.timestamp())]
            served = elements(http)
            assert sorted(e["WebId"] for e in served) == sorted(e.webid for e in visible)
            assert len(visible) > len(Universe(CONFIG).elements)  # new equipment (and maybe units)

            # An hour later the new tags have values: exactly what the generator defines for them.
            http.post(server.url.removesuffix("/piwebapi") + "/admin/clock", json={"advanceSeconds": 3600})
            later = NOW + timedelta(hours=1)
            recorded = http.get(
                "streamsets/recorded",
                params=[("webId", t.webid) for t in new_tags] + [("startTime", NOW.isoformat()), ("endTime", "*")],
            ).json()["Items"]
            for tag, item in zip(new_tags, recorded, strict=True):
                events = signals.recorded(tag, NOW.timestamp(), later.timestamp(), later.timestamp(), CONFIG.seed)
                assert item["WebId"] == tag.webid and len(item["Items"]) == len(events.ts) > 0
            # Each new tag is a PI Point attribute of its (new) element.
            element = expected.elements[new_tags[-1].element]
            attributes = http.get(f"elements/{element.webid}/attributes").json()["Items"]
            assert new_tags[-1].webid in {a["Links"].get("Point", "").rsplit("/", 1)[-1] for a in attributes}


def test_adding_tags_is_refused_with_a_reason():
    client = TestClient(create_app(CONFIG))
    for body in ({"count": 0}, {"count": "5"}, {"count": True}, {}):
        response = client.post("/admin/tags", json=body)
        assert response.status_code == 400 and "count" in response.json()["Errors"][0]
    awkward = TestClient(create_app(replace(CONFIG, awkward_tags=5)))
    response = awkward.post("/admin/tags", json={"count": 5})
    assert response.status_code == 400 and "--awkward-tags" in response.json()["Errors"][0]
    assert client.get("/admin/tags").json()["Points"] == CONFIG.tags  # nothing was added
