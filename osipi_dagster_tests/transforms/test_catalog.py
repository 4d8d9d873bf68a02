"""``points_frame``: listed PI points → catalog rows, built a few thousand points at a time."""

from __future__ import annotations

import pytest

from mock_pi import render
from mock_pi.config import MockConfig
from mock_pi.universe import Universe
from osipi_dagster.transforms import catalog
from osipi_dagster.transforms.catalog import POINT_COLUMNS, points_frame


@pytest.mark.parametrize("points_per_frame", [3, 10_000])
def test_points_frame_keeps_every_point_once_across_frames(monkeypatch, points_per_frame):
    monkeypatch.setattr(catalog, "POINTS_PER_FRAME", points_per_frame)
    universe = Universe(MockConfig(tags=40))
    tags = universe.tags[:10]
    listed = [render.point(t, "http://pi/piwebapi/", universe.data_server_webid) for t in tags]
    # pages shifted while paging: two points listed again later (a later frame when frames hold 3 points)
    frame = points_frame([*listed, listed[1], listed[7]], "PISRV01")
    assert frame["webid"].to_list() == [t.webid for t in tags]
    for row, tag, point in zip(frame.iter_rows(named=True), tags, listed, strict=True):
        assert row["name"] == tag.name and row["point_id"] == tag.point_id and row["data_server"] == "PISRV01"
        assert all(row[column] == point[field] for field, (column, _) in POINT_COLUMNS.items())
    assert points_frame([], "PISRV01").height == 0
