"""AF elements and attributes: transforms on hand-made PI Web API JSON (referenced elements, point
resolution), then ``pi_af_elements`` / ``pi_af_attributes`` loaded from the mock and compared with its
universe."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl
import pytest
from dagster import DagsterInstance, materialize

from mock_pi.af import AFModel
from mock_pi.universe import Universe
from osipi_dagster.assets import pi_af_attributes, pi_af_elements, pi_tag_catalog
from osipi_dagster.pi import af
from osipi_dagster.pi.client import PIWebAPIClient
from osipi_dagster.resources import build_resources
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.transforms.af import attributes_frame, elements_frame
from osipi_dagster_tests.conftest import MOCK_CONFIG

NOW = datetime(2026, 11, 20, tzinfo=timezone.utc)
DB = {"WebId": "D", "Path": "\\\\AF\\DB"}


def _element(webid: str, path: str, paths: list[str] | None = None, **extra) -> dict:
    return {"WebId": webid, "Id": webid.lower(), "Name": path.rsplit("\\", 1)[1], "Path": path,
            **({"Paths": paths} if paths else {}), **extra}


def test_referenced_element_has_one_row_per_path():
    """``Pump`` is referenced under two units: two positions, same webid, parents resolved by path."""
    items = [
        _element("S", "\\\\AF\\DB\\Site", TemplateName="Site", HasChildren=True),
        _element("U1", "\\\\AF\\DB\\Site\\U1"),
        _element("U2", "\\\\AF\\DB\\Site\\U2"),
        _element("P", "\\\\AF\\DB\\Site\\U1\\Pump", ["\\\\AF\\DB\\Site\\U1\\Pump", "\\\\AF\\DB\\Site\\U2\\Pump"],
                 TemplateName="Pump", CategoryNames=["Rotating"]),
        _element("M", "\\\\AF\\DB\\Site\\U1\\Pump\\Motor",
                 ["\\\\AF\\DB\\Site\\U1\\Pump\\Motor", "\\\\AF\\DB\\Site\\U2\\Pump\\Motor"]),
    ]
    frame = elements_frame(DB, items + items[-1:], NOW)  # a paging shift listed the motor twice
    assert frame.height == 7 and frame["webid"].n_unique() == 5
    rows = {r["path"]: r for r in frame.iter_rows(named=True)}
    site = rows["\\\\AF\\DB\\Site"]
    assert (site["parent_webid"], site["parent_path"], site["depth"], site["template"]) == (None, None, 0, "Site")
    second = rows["\\\\AF\\DB\\Site\\U2\\Pump"]
    assert (second["webid"], second["parent_webid"], second["depth"], second["is_primary_path"]) == ("P", "U2", 2, False)
    assert second["categories"] == ["Rotating"]
    assert rows["\\\\AF\\DB\\Site\\U2\\Pump\\Motor"]["parent_webid"] == "P"
    assert rows["\\\\AF\\DB\\Site\\U1\\Pump"]["is_primary_path"]


def test_point_attributes_resolve_by_webid_path_or_name():
    catalog = pl.DataFrame({"webid": ["F1DP-A", "F1DP-B", "F1DP-C"], "name": ["TAG.A", "TAG.B", "TAG.C"],
                            "path": ["\\\\PI\\TAG.A", "\\\\PI\\TAG.B", "\\\\PI\\TAG.C"]})

    def attribute(name: str, reference: str, config: str = "", point: str | None = None) -> dict:
        return {"WebId": f"AB-{name}", "Name": name, "Path": f"\\\\AF\\DB\\E|{name}", "DataReferencePlugIn": reference,
                "ConfigString": config, "Links": {"Point": f"http://h/piwebapi/points/{point}"} if point else {}}

    attributes = {"E": [
        attribute("ByWebId", "PI Point", "\\\\PI\\whatever", point="F1DP-A"),
        attribute("ByPath", "PI Point", "\\\\pi?1234\\tag.b?42;ReadOnly=False", point="I1DP-other-form"),
        attribute("ByName", "PI Point", "TAG.C"),
        attribute("Missing", "PI Point", "\\\\PI\\NOPE"),
        attribute("Static", "", ""),
    ]}
    frame = attributes_frame(attributes, catalog, NOW)
    got = dict(zip(frame["name"], frame["tag_webid"]))
    assert got == {"ByWebId": "F1DP-A", "ByPath": "F1DP-B", "ByName": "F1DP-C", "Missing": None, "Static": None}
    assert frame.filter(pl.col("name") == "ByPath")["point_webid"].item() == "I1DP-other-form"
    assert set(frame["element_webid"]) == {"E"} and set(frame["element_path"]) == {"\\\\AF\\DB\\E"}


# -- against the mock --------------------------------------------------------------------------------


def load_af(url: str, root, instance: DagsterInstance) -> dict:
    """Catalog and both AF tables from the mock at ``url`` into the Delta ``root``; returns the resources."""
    resources = build_resources(PIWebAPIResource(base_url=url), str(root))
    assert materialize([pi_tag_catalog, pi_af_elements, pi_af_attributes], resources=resources,
                       instance=instance).success
    return resources


@pytest.fixture(scope="module")
def loaded(mock_pi_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("delta")
    with DagsterInstance.ephemeral() as instance:
        load_af(mock_pi_url, root, instance)
    return root


def test_elements_equal_the_universe_tree(loaded):
    table = pl.read_delta(str(loaded / "bronze" / "pi_af_elements"))
    model = AFModel(Universe(MOCK_CONFIG))
    elements = model.universe.elements
    assert table.height == len(elements) and table["path"].n_unique() == table.height
    rows = {r["webid"]: r for r in table.iter_rows(named=True)}
    for element in elements:
        row = rows[element.webid]
        parent = elements[element.parent].webid if element.parent is not None else None
        assert (row["name"], row["path"], row["parent_webid"], row["depth"]) == \
            (element.name, element.path, parent, element.level)
        assert (row["template"], row["has_children"], row["id"]) == \
            (element.template, bool(element.children), str(element.guid))
        assert row["categories"] == list(model.categories(element))


def test_every_point_attribute_maps_to_its_tag(loaded):
    table = pl.read_delta(str(loaded / "silver" / "pi_af_attributes"))
    catalog = pl.read_delta(str(loaded / "bronze" / "pi_tag_catalog"))
    model = AFModel(Universe(MOCK_CONFIG))
    expected = {a.webid: a for e in model.universe.elements for a in model.attributes(e)}
    assert table.height == len(expected) and set(table["webid"]) == set(expected)
    for row in table.iter_rows(named=True):
        attribute = expected[row["webid"]]
        owner = model.universe.elements[attribute.owner]
        assert (row["element_webid"], row["element_path"], row["name"], row["path"]) == \
            (owner.webid, owner.path, attribute.name, attribute.path)
        assert row["tag_webid"] == (attribute.tag.webid if attribute.is_point else None)
        assert row["data_reference"] == ("PI Point" if attribute.is_point else "")
    points = table.filter(pl.col("data_reference") == "PI Point")
    assert points["tag_webid"].null_count() == 0
    assert points["tag_webid"].is_in(catalog["webid"].implode()).all()
    assert sorted(points["tag_webid"]) == sorted(catalog["webid"])  # each tag belongs to exactly one attribute


def test_paging_returns_the_same_objects(mock_pi_url):
    """Small pages (and per-element paging of full batch pages) give exactly the one-page results."""
    with PIWebAPIClient(mock_pi_url) as client:
        database = af.asset_databases(client)[0]["WebId"]
        elements = af.elements(client, database)
        assert [e["WebId"] for e in af.elements(client, database, page_size=7)] == [e["WebId"] for e in elements]
        webids = [e["WebId"] for e in elements]
        attributes = af.element_attributes(client, webids)
        assert af.element_attributes(client, webids, page_size=3, per_batch=16) == attributes
        start, end = datetime(2026, 11, 19, tzinfo=timezone.utc), datetime(2026, 11, 20, tzinfo=timezone.utc)
        frames = af.event_frames(client, database, start, end)
        assert len(frames) > 20 and af.event_frames(client, database, start, end, page_size=9) == frames


def test_failed_batch_items_are_fetched_again_alone(mock_pi_url, faults):
    with PIWebAPIClient(mock_pi_url) as client:
        database = af.asset_databases(client)[0]["WebId"]
        webids = [e["WebId"] for e in af.elements(client, database)]
        expected = af.element_attributes(client, webids)
        faults.set(batch_fail_one=True)
        assert af.element_attributes(client, webids, per_batch=32) == expected
        counters = faults.counters()
    assert counters["batch_item"] == -(-len(webids) // 32)  # one per batch, each recovered
