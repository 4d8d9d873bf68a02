"""AF transforms on hand-made PI Web API JSON: referenced elements (one row per path) and the resolution of
PI Point attributes to tags."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from osipi_dagster.transforms.af import attributes_frame, elements_frame

NOW = datetime(2026, 11, 20, tzinfo=UTC)
DB = {"WebId": "D", "Path": "\\\\AF\\DB"}


def _element(webid: str, path: str, paths: list[str] | None = None, **extra) -> dict:
    return {
        "WebId": webid,
        "Id": webid.lower(),
        "Name": path.rsplit("\\", 1)[1],
        "Path": path,
        **({"Paths": paths} if paths else {}),
        **extra,
    }


def test_referenced_element_has_one_row_per_path():
    """``Pump`` is referenced under two units: two positions, same webid, parents resolved by path."""
    items = [
        _element("S", "\\\\AF\\DB\\Site", TemplateName="Site", HasChildren=True),
        _element("U1", "\\\\AF\\DB\\Site\\U1"),
        _element("U2", "\\\\AF\\DB\\Site\\U2"),
        _element(
            "P",
            "\\\\AF\\DB\\Site\\U1\\Pump",
            ["\\\\AF\\DB\\Site\\U1\\Pump", "\\\\AF\\DB\\Site\\U2\\Pump"],
            TemplateName="Pump",
            CategoryNames=["Rotating"],
        ),
        _element(
            "M",
            "\\\\AF\\DB\\Site\\U1\\Pump\\Motor",
            ["\\\\AF\\DB\\Site\\U1\\Pump\\Motor", "\\\\AF\\DB\\Site\\U2\\Pump\\Motor"],
        ),
    ]
    frame = elements_frame(DB, items + items[-1:], NOW)  # a paging shift listed the motor twice
    assert frame.height == 7 and frame["webid"].n_unique() == 5
    rows = {r["path"]: r for r in frame.iter_rows(named=True)}
    site = rows["\\\\AF\\DB\\Site"]
    assert (site["parent_webid"], site["parent_path"], site["depth"], site["template"]) == (None, None, 0, "Site")
    second = rows["\\\\AF\\DB\\Site\\U2\\Pump"]
    assert (second["webid"], second["parent_webid"], second["depth"], second["is_primary_path"]) == (
        "P",
        "U2",
        2,
        False,
    )
    assert second["categories"] == ["Rotating"]
    assert rows["\\\\AF\\DB\\Site\\U2\\Pump\\Motor"]["parent_webid"] == "P"
    assert rows["\\\\AF\\DB\\Site\\U1\\Pump"]["is_primary_path"]


def test_point_attributes_resolve_by_webid_path_or_name():
    catalog = pl.DataFrame(
        {
            "webid": ["F1DP-A", "F1DP-B", "F1DP-C"],
            "name": ["TAG.A", "TAG.B", "TAG.C"],
            "path": ["\\\\PI\\TAG.A", "\\\\PI\\TAG.B", "\\\\PI\\TAG.C"],
        }
    )

    def attribute(name: str, reference: str, config: str = "", point: str | None = None) -> dict:
        return {
            "WebId": f"AB-{name}",
            "Name": name,
            "Path": f"\\\\AF\\DB\\E|{name}",
            "DataReferencePlugIn": reference,
            "ConfigString": config,
            "Links": {"Point": f"http://h/piwebapi/points/{point}"} if point else {},
        }

    attributes = {
        "E": [
            attribute("ByWebId", "PI Point", "\\\\PI\\whatever", point="F1DP-A"),
            attribute("ByPath", "PI Point", "\\\\pi?1234\\tag.b?42;ReadOnly=False", point="I1DP-other-form"),
            attribute("ByName", "PI Point", "TAG.C"),
            attribute("Missing", "PI Point", "\\\\PI\\NOPE"),
            attribute("Static", "", ""),
        ]
    }
    frame = attributes_frame(attributes, catalog, NOW)
    got = dict(zip(frame["name"], frame["tag_webid"]))
    assert got == {"ByWebId": "F1DP-A", "ByPath": "F1DP-B", "ByName": "F1DP-C", "Missing": None, "Static": None}
    assert frame.filter(pl.col("name") == "ByPath")["point_webid"].item() == "I1DP-other-form"
    assert set(frame["element_webid"]) == {"E"} and set(frame["element_path"]) == {"\\\\AF\\DB\\E"}
