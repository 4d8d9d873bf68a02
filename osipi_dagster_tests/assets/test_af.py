"""``pi_af_elements`` / ``pi_af_attributes`` loaded from the mock and compared with its universe."""

from __future__ import annotations

import polars as pl
import pytest
from dagster import DagsterInstance

from mock_pi.af import AFModel
from mock_pi.universe import Universe
from osipi_dagster_tests.helpers import MOCK_CONFIG, load_af

pytestmark = pytest.mark.integration  # every test here runs the mock server process


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
        assert (row["name"], row["path"], row["parent_webid"], row["depth"]) == (
            element.name,
            element.path,
            parent,
            element.level,
        )
        assert (row["template"], row["has_children"], row["id"]) == (
            element.template,
            bool(element.children),
            str(element.guid),
        )
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
        assert (row["element_webid"], row["element_path"], row["name"], row["path"]) == (
            owner.webid,
            owner.path,
            attribute.name,
            attribute.path,
        )
        assert row["tag_webid"] == (attribute.tag.webid if attribute.is_point else None)
        assert row["data_reference"] == ("PI Point" if attribute.is_point else "")
    points = table.filter(pl.col("data_reference") == "PI Point")
    assert points["tag_webid"].null_count() == 0
    assert points["tag_webid"].is_in(catalog["webid"].implode()).all()
    assert sorted(points["tag_webid"]) == sorted(catalog["webid"])  # each tag belongs to exactly one attribute
