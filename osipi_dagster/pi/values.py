"""PI TimedValue JSON → columnar (polars) without per-row datetime parsing.

PI ``Value`` is a number, a string, a bool, a digital-state object ``{Name, Value, IsSystem}``, or an
error object ``{"Errors": [...]}`` (shared/pi-web-api.md §2.2). We keep a numeric ``value`` where one
exists (the state code for a digital point's own states) and the original text otherwise, so nothing
becomes NULL silently: system states and errors keep their name in ``value_text`` with ``good = false``.
"""

from __future__ import annotations

import polars as pl

RAW_SCHEMA = {
    "tag_webid": pl.String,
    "timestamp": pl.Datetime("us", "UTC"),
    "value": pl.Float64,
    "value_text": pl.String,
    "good": pl.Boolean,
    "questionable": pl.Boolean,
    "substituted": pl.Boolean,
    "annotated": pl.Boolean,
}

# Fields the extraction asks for (selectedFields): everything a row needs and nothing else.
VALUE_FIELDS = ("Timestamp", "Value", "Good", "Questionable", "Substituted", "Annotated", "Errors")


class ValueColumns:
    """Accumulates the values of many streams as column lists, then builds one DataFrame."""

    def __init__(self) -> None:
        self.webid: list[str] = []
        self.ts: list[str] = []
        self.value: list[float | None] = []
        self.text: list[str | None] = []
        self.good: list[bool] = []
        self.questionable: list[bool] = []
        self.substituted: list[bool] = []
        self.annotated: list[bool] = []

    def __len__(self) -> int:
        return len(self.ts)

    def add(self, webid: str, items: list[dict]) -> None:
        n = len(items)
        if not n:
            return
        self.webid.extend([webid] * n)
        self.ts.extend([i["Timestamp"] for i in items])
        self.good.extend([i.get("Good", True) for i in items])
        self.questionable.extend([i.get("Questionable", False) for i in items])
        self.substituted.extend([i.get("Substituted", False) for i in items])
        self.annotated.extend([i.get("Annotated", False) for i in items])
        value_append, text_append = self.value.append, self.text.append
        for item in items:
            v = item.get("Value")
            if type(v) is float or type(v) is int:  # the common case first; bool is not a number here
                value_append(float(v))
                text_append(None)
            else:
                number, text = _non_numeric(v, item)
                value_append(number)
                text_append(text)

    def to_frame(self) -> pl.DataFrame:
        frame = pl.DataFrame(
            {
                "tag_webid": self.webid,
                "timestamp": self.ts,
                "value": self.value,
                "value_text": self.text,
                "good": self.good,
                "questionable": self.questionable,
                "substituted": self.substituted,
                "annotated": self.annotated,
            },
            schema={**RAW_SCHEMA, "timestamp": pl.String},
        )
        return frame.with_columns(parse_pi_timestamps(pl.col("timestamp")))


def parse_pi_timestamps(column: pl.Expr) -> pl.Expr:
    """``2026-11-20T00:00:00Z`` / ``…:08.8757629Z`` → UTC microseconds (vectorised, in Rust)."""
    return column.str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="us", time_zone="UTC")


def _non_numeric(v, item: dict) -> tuple[float | None, str | None]:
    if isinstance(v, dict):
        if "Name" in v:  # digital state: own states keep their code, system states are not numbers
            code = v.get("Value")
            return (None if v.get("IsSystem") or code is None else float(code)), str(v["Name"])
        if "Errors" in v:
            return None, "Error: " + "; ".join(map(str, v["Errors"]))
        return None, str(v)
    if isinstance(v, bool):
        return float(v), str(v)
    if v is None:
        errors = item.get("Errors")
        if errors:
            return None, "Error: " + "; ".join(str(m) for e in errors for m in e.get("Message", []))
        return None, None
    return None, str(v)
