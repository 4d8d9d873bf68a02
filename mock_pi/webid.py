"""PI Web API WebID 2.0 encoding and decoding.

Layout (see docs/pi-web-api.md#full-and-idonly-layouts): ``<type><version '1'><2-char marker>[owner marker]<payload>``.
Every segment is base64url *without padding* and encoded on its own: GUIDs as the 16 bytes of
.NET ``Guid.ToByteArray()`` (``uuid.bytes_le``, 22 chars), PI point ids as int32 little-endian
(6 chars), names as the UTF-8 of the upper-cased path without its leading ``\\\\``.
"""

from __future__ import annotations

import base64
import struct
import uuid
from dataclasses import dataclass
from functools import lru_cache

# Markers whose Full/IDOnly form carries an owner marker right after the 2-char marker.
_OWNER_MARKERS = {"Ab": "EF", "AT": "E", "MS": "DR", "MV": "DR"}
# How many GUIDs (or GUID + point id) precede the name payload, by marker.
_GUID_COUNT = {
    "DS": 1,
    "RS": 1,
    "RD": 2,
    "Em": 2,
    "Fm": 2,
    "ET": 2,
    "Ab": 3,
    "AT": 3,
    "MS": 2,
    "MV": 3,
    "EC": 2,
    "AC": 2,
}


class WebIdError(ValueError):
    """A string that is not a WebID this server understands."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=1024)
def encode_guid(guid: uuid.UUID) -> str:
    return _b64(guid.bytes_le)


def encode_name(path: str) -> str:
    return _b64(path.lstrip("\\").upper().encode("utf-8"))


def point_webid(server_guid: uuid.UUID, point_id: int, path: str, kind: str = "Full") -> str:
    """WebID of a PI point (marker ``DP``): data-server GUID + int32 point id + name."""
    ids = encode_guid(server_guid) + _b64(struct.pack("<i", point_id))
    return _compose("DP", "", ids, path, kind)


def object_webid(marker: str, guids: list[uuid.UUID], path: str, kind: str = "Full", owner: str = "") -> str:
    """WebID of an AF/data-server object identified by one or more GUIDs."""
    return _compose(marker, owner, "".join(encode_guid(g) for g in guids), path, kind)


def _compose(marker: str, owner: str, ids: str, path: str, kind: str) -> str:
    if kind == "Full":
        return f"F1{marker}{owner}{ids}{encode_name(path)}"
    if kind == "IDOnly":
        return f"I1{marker}{owner}{ids}"
    if kind == "PathOnly":
        return f"P1{marker}{owner}{encode_name(path)}"
    raise WebIdError(f"Unsupported webIdType '{kind}'.")


@dataclass(frozen=True)
class DecodedWebId:
    kind: str  # Full / IDOnly / PathOnly
    marker: str
    owner: str
    guids: tuple[uuid.UUID, ...]
    point_id: int | None
    path: str | None  # upper-cased, without leading backslashes


_B64URL_VALUES = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}
_IDONLY_POINT_LENGTH = 4 + 22 + 6  # I1DP, data-server GUID, int32 point id


def idonly_point_id(webid: str, server_ids: str) -> int | None:
    """The point id of an IDOnly point WebID ``I1DP<server_ids><point id>``, where ``server_ids`` is the data
    server's GUID as :func:`encode_guid` writes it: the same id :func:`decode` reads, without building UUIDs
    (a stream set names hundreds of points per request). None for any other string, left to :func:`decode`."""
    if len(webid) != _IDONLY_POINT_LENGTH or not webid.startswith("I1DP") or webid[4:26] != server_ids:
        return None
    try:
        a, b, c, d, e, f = map(_B64URL_VALUES.__getitem__, webid[26:])
    except KeyError:
        return None
    # 6 characters carry 36 bits: the 4 bytes, then 4 padding bits that base64 decoding drops too.
    return int.from_bytes(
        (a << 26 | b << 20 | c << 14 | d << 8 | e << 2 | f >> 4).to_bytes(4, "big"), "little", signed=True
    )


def decode(webid: str) -> DecodedWebId:
    """Decode a WebID 2.0 string; raises :class:`WebIdError` with the PI Web API message."""
    try:
        return _decode(webid)
    except (ValueError, struct.error, UnicodeDecodeError, IndexError) as exc:
        raise WebIdError(f"Unknown or invalid WebID format: '{webid}'.") from exc


def _decode(webid: str) -> DecodedWebId:
    kinds = {"F": "Full", "I": "IDOnly", "P": "PathOnly"}
    if len(webid) < 4 or webid[0] not in kinds or webid[1] != "1":
        raise ValueError(webid)
    kind, marker, rest = kinds[webid[0]], webid[2:4], webid[4:]
    owner = ""
    if marker in _OWNER_MARKERS:
        if not rest or rest[0] not in _OWNER_MARKERS[marker]:
            raise ValueError(webid)
        owner, rest = rest[0], rest[1:]
    guids: list[uuid.UUID] = []
    point_id = None
    if kind != "PathOnly":
        if marker == "DP":
            guids.append(uuid.UUID(bytes_le=_unb64(rest[:22])))
            point_id = struct.unpack("<i", _unb64(rest[22:28]))[0]
            rest = rest[28:]
        elif marker in _GUID_COUNT:
            for _ in range(_GUID_COUNT[marker]):
                guids.append(uuid.UUID(bytes_le=_unb64(rest[:22])))
                rest = rest[22:]
        else:
            raise ValueError(webid)
    path = _unb64(rest).decode("utf-8") if kind != "IDOnly" and rest else None
    if kind == "IDOnly" and rest:
        raise ValueError(webid)
    if kind != "IDOnly" and not path:
        raise ValueError(webid)
    return DecodedWebId(kind, marker, owner, tuple(guids), point_id, path)
