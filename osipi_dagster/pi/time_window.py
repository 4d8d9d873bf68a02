"""Time windows as the PI Web API is asked for them: absolute UTC strings, no server time zone, no DST."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


def pi_time(value: datetime) -> str:
    """An absolute UTC time string PI parses unambiguously (docs/pi-web-api.md#time-strings-and-boundaries)."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{value.microsecond:06d}Z" if value.microsecond else f"{text}Z"


@dataclass(frozen=True)
class Window:
    """A time window as the PI time strings of its start and end."""

    start: str
    end: str

    @classmethod
    def of(cls, start: datetime, end: datetime) -> Window:
        return cls(pi_time(start), pi_time(end))

    def params(self, max_count: int, selected_fields: str, start: str | None = None) -> list[tuple[str, str | int]]:
        """Query parameters of a recorded-values call over the window (or from ``start`` to its end)."""
        return [
            ("startTime", start or self.start),
            ("endTime", self.end),
            ("maxCount", max_count),
            ("selectedFields", selected_fields),
        ]
