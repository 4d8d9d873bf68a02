"""Contract tests of the mock's Asset Framework endpoints (docs/pi-web-api.md#asset-framework)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from mock_pi.app import create_app
from mock_pi.config import MockConfig

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(MockConfig(tags=2000, now=NOW)))


@pytest.fixture(scope="module")
def mock(client):
    return client.app.state.mock


@pytest.fixture(scope="module")
def database(client):
    server = client.get("/piwebapi/assetservers").json()["Items"][0]
    assert server["Path"] == "\\\\AFSRV01" and server["Links"]["Databases"]
    return client.get(server["Links"]["Databases"]).json()["Items"][0]


def all_elements(client, database, page_size=1000, **params):
    out, start = [], 0
    while True:
        page = client.get(
            database["Links"]["Elements"], params={**params, "startIndex": start, "maxCount": page_size}
        ).json()
        out += page["Items"]
        if len(page["Items"]) < page_size:
            return out
        start += page_size


def test_database_by_path_and_links(client, database):
    same = client.get("/piwebapi/assetdatabases", params={"path": "\\\\AFSRV01\\OSIPI Plant"}).json()
    assert same["WebId"] == database["WebId"]
    assert set(database["Links"]) >= {"Elements", "ElementTemplates", "EventFrames", "ElementCategories"}


def test_hierarchy_roots_children_and_full_search_with_paging(client, database, mock):
    roots = client.get(database["Links"]["Elements"]).json()["Items"]
    assert [r["Name"] for r in roots] == ["Enterprise"] and roots[0]["HasChildren"]
    sites = client.get(roots[0]["Links"]["Elements"]).json()["Items"]
    assert sites and all(s["TemplateName"] == "Site" for s in sites)
    everything = all_elements(client, database, page_size=100, searchFullHierarchy="true")
    assert len(everything) == len(mock.universe.elements) > 100  # paged
    assert [e["Name"].upper() for e in everything] == sorted(e["Name"].upper() for e in everything)


def test_template_name_matches_derived_templates(client, database, mock):
    rotating = all_elements(client, database, searchFullHierarchy="true", templateName="Rotating Equipment")
    assert {e["TemplateName"] for e in rotating} == {"Pump", "Compressor", "Turbine"}
    pumps = all_elements(client, database, searchFullHierarchy="true", templateName="pump", nameFilter="P-0*")
    assert pumps and all(e["TemplateName"] == "Pump" and e["Name"].startswith("P-0") for e in pumps)
    expected = sum(1 for e in mock.universe.elements if e.template == "Pump" and e.name.startswith("P-0"))
    assert len(pumps) == expected


def test_every_tag_is_exactly_one_pi_point_attribute(client, database, mock):
    equipment = all_elements(client, database, searchFullHierarchy="true", templateName="Equipment")
    seen: dict[str, str] = {}
    for element in equipment[:60]:
        for a in client.get(element["Links"]["Attributes"]).json()["Items"]:
            if a["DataReferencePlugIn"] == "PI Point":
                point = client.get(a["Links"]["Point"]).json()
                assert a["ConfigString"] == point["Path"] and point["WebId"] not in seen
                seen[point["WebId"]] = a["Path"]
                assert a["Name"] == mock.universe.tags_by_webid[point["WebId"]].sensor.attribute
            else:
                assert "Point" not in a["Links"] and a["DataReferencePlugIn"] == ""
    assert len(seen) > 100
    # the pure-Python model agrees with the endpoint for every tag
    assert all(mock.af.attribute_of_tag(t).tag is t for t in mock.universe.tags)


def test_attribute_stream_carries_units_and_point_values(client, mock):
    tag = next(t for t in mock.universe.tags if t.sensor.units == "bar")
    attribute = mock.af.attribute_of_tag(tag)
    by_attr = client.get(f"/piwebapi/streams/{attribute.webid}/recorded", params={"startTime": "*-1h"}).json()
    by_point = client.get(f"/piwebapi/streams/{tag.webid}/recorded", params={"startTime": "*-1h"}).json()
    assert by_attr["UnitsAbbreviation"] == "bar"
    assert [i["Value"] for i in by_attr["Items"]] == [i["Value"] for i in by_point["Items"]]
    assert all(i["UnitsAbbreviation"] == "bar" for i in by_attr["Items"])
    assert client.get("/piwebapi/attributes", params={"path": attribute.path}).json()["WebId"] == attribute.webid


def test_static_attribute_value_and_element_streamset(client, mock):
    element = mock.universe.elements[mock.universe.tags[0].element]
    static = next(a for a in mock.af.attributes(element) if a.tag is None)
    value = client.get(f"/piwebapi/attributes/{static.webid}/value").json()
    assert value["Value"] == static.value and value["Good"] is True
    values = client.get(f"/piwebapi/streamsets/{element.webid}/value").json()["Items"]
    assert [v["Name"] for v in values] == [a.name for a in mock.af.attributes(element)]


def test_element_attributes_bulk_endpoint(client, database):
    items = client.get(
        f"/piwebapi/assetdatabases/{database['WebId']}/elementattributes",
        params={
            "searchFullHierarchy": "true",
            "elementTemplate": "Tank",
            "attributeNameFilter": "Level",
            "maxCount": 50,
        },
    ).json()["Items"]
    assert items and all(a["Name"] == "Level" and a["DataReferencePlugIn"] == "PI Point" for a in items)


def test_templates_attribute_templates_and_categories(client, database):
    templates = client.get(database["Links"]["ElementTemplates"]).json()["Items"]
    by_name = {t["Name"]: t for t in templates}
    assert by_name["Pump"]["BaseTemplate"] == "Rotating Equipment" and by_name["Batch"]["InstanceType"] == "EventFrame"
    own = client.get(by_name["Pump"]["Links"]["AttributeTemplates"]).json()["Items"]
    inherited = client.get(by_name["Pump"]["Links"]["AttributeTemplates"], params={"showInherited": "true"}).json()[
        "Items"
    ]
    assert {"Flow", "Run Status"} <= {a["Name"] for a in own} and len(inherited) > len(own)
    categories = client.get(database["Links"]["ElementCategories"]).json()["Items"]
    assert "Rotating Equipment" in [c["Name"] for c in categories]


def test_element_webid_kinds(client, mock):
    element = mock.universe.elements[5]
    for kind in ("IDOnly", "PathOnly"):
        wid = mock.af.element_webid(element, kind)
        assert client.get(f"/piwebapi/elements/{wid}").json()["Name"] == element.name
    assert (
        client.get(f"/piwebapi/elements/{element.webid}", params={"webIdType": "PathOnly"})
        .json()["WebId"]
        .startswith("P1Em")
    )
