"""Cheap change detection for the points of a data server (PI has no change feed for points).

Each check first *probes* the count: one request for the page at ``startIndex = count - 1`` with
``maxCount = 2`` returns exactly one item while the count is unchanged. Only when the count moved, or
when a full check is due (additions and removals can cancel out), are all WebIds listed — with
``selectedFields=Items.WebId`` so even 30,000 points are a few small pages, not the whole catalog.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from osipi_dagster.pi.client import PIWebAPIClient, items_of


@dataclass(frozen=True)
class PointsCursor:
    count: int | None = None  # points listed at the last full check
    full_check_at: float = 0.0  # epoch seconds of the last full check

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> PointsCursor:
        return cls(**json.loads(text)) if text else cls()


def count_unchanged(client: PIWebAPIClient, data_server_webid: str, name_filter: str, count: int) -> bool:
    """True when the data server still lists exactly ``count`` points (one small request)."""
    if count == 0:
        params = {"nameFilter": name_filter, "startIndex": 0, "maxCount": 1, "selectedFields": "Items.WebId"}
    else:
        params = {"nameFilter": name_filter, "startIndex": count - 1, "maxCount": 2, "selectedFields": "Items.WebId"}
    path = f"dataservers/{data_server_webid}/points"
    items = items_of(client.get(path, params), client.url(path))
    return len(items) == (0 if count == 0 else 1)


def list_webids(client: PIWebAPIClient, data_server_webid: str, name_filter: str) -> set[str]:
    return {p["WebId"] for p in client.points(data_server_webid, name_filter, selected_fields="Items.WebId")}
