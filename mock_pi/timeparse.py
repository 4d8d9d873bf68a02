"""PI time strings (docs/pi-web-api.md#time-strings-and-boundaries) → epoch seconds.

Supported: ISO 8601 with or without offset (zone-less strings are read in ``timeZone``), ``*``/empty
(now), ``t``/``today``, ``y``/``yesterday`` (local midnight in ``timeZone``), and any of those followed
by offsets such as ``*-1d``, ``t+8h``, ``y-30m``, ``*-1.5h``; a bare offset (``-1d``) is relative to
``relative_to`` (the other end of the range) or now.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 7 * 86400,
    "week": 7 * 86400,
    "weeks": 7 * 86400,
}
_OFFSET = re.compile(r"([+-])\s*(\d+(?:\.\d+)?)\s*([a-z]+)", re.IGNORECASE)
_REFERENCE = re.compile(r"^(\*|t|today|y|yesterday)?\s*((?:[+-]\s*\d+(?:\.\d+)?\s*[a-z]+\s*)*)$", re.IGNORECASE)


class TimeParseError(ValueError):
    pass


def zone(name: str | None):
    if not name:
        return UTC  # the mock PI Web API server runs in UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeParseError(f"The time zone '{name}' is not valid.") from exc


def parse_time(text: str | None, now_s: float, tz_name: str | None = None, relative_to: float | None = None) -> float:
    """Parse a PI time string into epoch seconds (float, sub-second precision kept)."""
    text = (text or "*").strip().strip("'\"")
    tz = zone(tz_name)
    match = _REFERENCE.match(text)
    if match and (match.group(1) or match.group(2)):
        word, offsets = (match.group(1) or "").lower(), match.group(2)
        if word == "":
            base = relative_to if relative_to is not None else now_s
        elif word == "*":
            base = now_s
        else:
            local_now = datetime.fromtimestamp(now_s, tz)
            midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
            if word.startswith("y"):
                midnight -= timedelta(days=1)
            base = midnight.timestamp()
        return base + _offset_seconds(offsets, text)
    return parse_iso(text, tz).timestamp()


def parse_iso(text: str, tz=UTC) -> datetime:
    """An ISO 8601 time (``Z`` or an offset; a zone-less time is read in ``tz``, UTC by default)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise TimeParseError(f"Cannot parse the time string '{text}'.") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def _offset_seconds(offsets: str, text: str) -> float:
    total = 0.0
    for sign, amount, unit in _OFFSET.findall(offsets):
        seconds = _UNITS.get(unit.lower())
        if seconds is None:
            raise TimeParseError(f"Cannot parse the time string '{text}'.")
        total += (1 if sign == "+" else -1) * float(amount) * seconds
    return total


def duration_seconds(text: str | None) -> float:
    """An AFTimeSpan such as ``1h``, ``30m``, ``1.5h``, ``2 days`` or ``01:30:00`` in seconds."""
    text = (text or "").strip()
    if re.fullmatch(r"\d+:\d{2}(:\d{2}(\.\d+)?)?", text):
        parts = [float(p) for p in text.split(":")] + [0.0]
        return parts[0] * 3600 + parts[1] * 60 + parts[2]
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]+)", text, re.IGNORECASE)
    if match is None or match.group(2).lower() not in _UNITS:
        raise TimeParseError(f"Cannot parse the time span '{text}'.")
    return float(match.group(1)) * _UNITS[match.group(2).lower()]
