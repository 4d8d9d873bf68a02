"""PI point WebIDs as this client uses them (layout: docs/pi-web-api.md#webids)."""

from __future__ import annotations

import base64

# A Full point WebID 2.0: "F1DP" + 22 characters of data server GUID + 6 of point id, then the encoded path.
_FULL_POINT_PREFIX = "F1DP"
_FULL_POINT_IDS_END = 32


def short_webid(webid: str) -> str:
    """The IDOnly form of a Full PI point WebID 2.0 (``F1DP`` + server GUID + point id + name →
    ``I1DP`` + server GUID + point id): URLs half as long. Other WebIDs are returned unchanged."""
    if webid.startswith(_FULL_POINT_PREFIX) and len(webid) > _FULL_POINT_IDS_END:
        return "I1DP" + webid[len(_FULL_POINT_PREFIX) : _FULL_POINT_IDS_END]
    return webid


def tag_label(webid: str) -> str:
    """``NAME (webid)`` for error messages: the name is the path inside a Full point WebID, if any."""
    if webid.startswith(_FULL_POINT_PREFIX) and len(webid) > _FULL_POINT_IDS_END:
        payload = webid[_FULL_POINT_IDS_END:]
        try:
            path = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8")
            return f"{path.rpartition(chr(92))[2]} ({webid})"
        except ValueError:
            pass
    return webid
