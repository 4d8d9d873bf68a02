"""Fault injection: latency (per request and per value), 429/503 with Retry-After, hung responses, failing
batch sub-requests, malformed/truncated JSON, mid-body ``WebException``s (top level, or inside one
stream-set item or batch sub-response) — each counted so tests can assert what happened.

Settings come from ``MockConfig.faults`` (CLI flags / ``--faults-file``) and can be replaced at run time
with ``POST /admin/faults``. Rates are probabilities per request drawn from a seeded generator, so a
single-worker run is reproducible. Counters are per process (with ``--workers N`` each worker counts
its own requests).
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import asdict, dataclass, fields

import orjson

KINDS = (
    "latency",
    "rate_limited",
    "unavailable",
    "hang",
    "batch_item",
    "malformed",
    "truncated",
    "webexception",
    "item_webexception",
    "item_errors",
    "hang_abandoned",
    "limit_exceeded",
    "value_latency",
)
# Counted, but not injected faults: ``limit`` does not count them (``limit_exceeded``: 400s announcing the
# server's MaxReturnedItemsPerCall, see ``/admin/limits``; ``value_latency``: answers delayed per value).
NOT_FAULTS = ("latency", "hang_abandoned", "limit_exceeded", "value_latency")
ITEM_WEBEXCEPTION = {"StatusCode": 500, "Errors": ["An error occurred while reading this stream's values."]}
ITEM_ERRORS = ["The values of this stream could not be read completely from the PI Data Archive."]


@dataclass
class FaultSettings:
    latency_ms: float = 0.0  # added to every /piwebapi request
    latency_jitter_ms: float = 0.0  # plus uniform [0, jitter)
    latency_us_per_value: float = 0.0  # plus this per timed value in the answer (a server's read cost)
    rate_429: float = 0.0  # share of requests answered 429 "Rate limit was reached" + Retry-After
    rate_503: float = 0.0  # share answered 503 + Retry-After
    retry_after_s: int = 1
    hang_rate: float = 0.0  # share of requests that hang for hang_seconds before answering
    hang_seconds: float = 300.0
    batch_item_rate: float = 0.0  # share of batch sub-requests answered 500
    batch_fail_one: bool = False  # exactly one sub-request of every batch answers 500
    malformed_rate: float = 0.0  # share of 2xx bodies replaced by invalid JSON
    truncated_rate: float = 0.0  # share of 2xx bodies cut in the middle
    webexception_rate: float = 0.0  # share of 2xx collection bodies cut short with a top-level WebException
    # Share of stream-set items / 200 batch sub-responses with ``Items`` cut in half next to a WebException
    # (``item_webexception_rate``) or an ``Errors`` list (``item_errors_rate``); the outer status stays 2xx.
    item_webexception_rate: float = 0.0
    item_errors_rate: float = 0.0
    path_regex: str = ""  # only requests whose path matches (search) are affected; "" = all
    limit: int = 0  # stop injecting after this many faults in total (0 = no limit)

    @classmethod
    def from_dict(cls, data: dict) -> FaultSettings:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"Unknown fault settings: {sorted(unknown)}; known: {sorted(names)}")
        return cls(**data)


class Faults:
    """Current settings + counters; decisions are thread-safe and seeded."""

    def __init__(self, settings: dict, seed: int):
        self._lock = threading.Lock()
        self._seed = seed
        self.configure(settings)

    def configure(self, settings: dict) -> None:
        parsed = FaultSettings.from_dict(settings)
        with self._lock:
            self.settings = parsed
            self._pattern = re.compile(parsed.path_regex) if parsed.path_regex else None
            self._random = random.Random(f"faults/{self._seed}")
            self.counters = dict.fromkeys(KINDS, 0)
            self.requests = 0

    def snapshot(self) -> dict:
        with self._lock:
            return {"Settings": asdict(self.settings), "Counters": dict(self.counters), "Requests": self.requests}

    def applies(self, path: str) -> bool:
        return self._pattern is None or bool(self._pattern.search(path))

    def draw(self, kind: str, rate: float) -> bool:
        """Whether to inject ``kind`` now (and count it)."""
        if rate <= 0:
            return False
        with self._lock:
            if self._exhausted():
                return False
            if self._random.random() >= rate:
                return False
            self.counters[kind] += 1
            return True

    def _exhausted(self) -> bool:
        limit = self.settings.limit
        return bool(limit) and sum(v for k, v in self.counters.items() if k not in NOT_FAULTS) >= limit

    def count(self, kind: str) -> None:
        with self._lock:
            self.counters[kind] += 1

    def latency_s(self) -> float:
        s = self.settings
        if s.latency_ms <= 0 and s.latency_jitter_ms <= 0:
            return 0.0
        with self._lock:
            self.counters["latency"] += 1
            return (s.latency_ms + self._random.random() * s.latency_jitter_ms) / 1000.0

    def value_latency_s(self, payload: bytes) -> float:
        """The per-value cost of an answer: one timed value per ``"Timestamp"`` key in the JSON body."""
        per_value = self.settings.latency_us_per_value
        if per_value <= 0:
            return 0.0
        values = payload.count(b'"Timestamp":')
        if values:
            self.count("value_latency")
        return values * per_value / 1e6

    def damage_item(self, item: dict) -> dict:
        """``item`` (a stream-set item or a batch sub-response's Content) as a stream that failed mid-read,
        when ``item_webexception_rate`` / ``item_errors_rate`` draw it; otherwise ``item`` itself."""
        s = self.settings
        if (
            "Items" not in item
            or "WebException" in item
            or "Errors" in item
            or (s.item_webexception_rate <= 0 and s.item_errors_rate <= 0)
        ):
            return item  # nothing to cut, or already failed (e.g. an unknown WebId in a stream set)
        if self.draw("item_webexception", s.item_webexception_rate):
            return {**item, "Items": _first_half(item["Items"]), "WebException": dict(ITEM_WEBEXCEPTION)}
        if self.draw("item_errors", s.item_errors_rate):
            return {**item, "Items": _first_half(item["Items"]), "Errors": list(ITEM_ERRORS)}
        return item

    def damage_stream_items(self, body: object) -> object:
        """A stream-set collection (``Items`` of objects with their own ``Items``) with some items damaged."""
        s = self.settings
        if (
            (s.item_webexception_rate <= 0 and s.item_errors_rate <= 0)
            or not isinstance(body, dict)
            or not isinstance(body.get("Items"), list)
        ):
            return body
        items = [self.damage_item(i) if isinstance(i, dict) else i for i in body["Items"]]
        return {**body, "Items": items}

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def pick_batch_victim(self, ids: list[str]) -> str | None:
        """The sub-request of this batch that ``batch_fail_one`` makes fail."""
        if not self.settings.batch_fail_one or not ids:
            return None
        with self._lock:
            if self._exhausted():
                return None
            self.counters["batch_item"] += 1
            return self._random.choice(ids)


def corrupt(body: bytes, kind: str) -> bytes:
    """A malformed (``malformed``) or cut (``truncated``) version of a JSON body."""
    if kind == "malformed":
        return b'{"Items": [{"Timestamp": 2024-01-01T00:00:00Z, "Value": NaN,}' + body[:64]
    return body[: max(1, len(body) // 2)]


def with_webexception(body: dict) -> dict:
    """The body as a server that failed while streaming it: ``Items`` cut in half + a ``WebException``."""
    out = dict(body)
    if isinstance(out.get("Items"), list):
        out["Items"] = out["Items"][: len(out["Items"]) // 2]
    out["WebException"] = {"StatusCode": 500, "Errors": ["An error occurred while streaming the response."]}
    return out


def _first_half(items: object) -> list:
    """The first half of an ``Items`` array (a list, or JSON the renderer already produced)."""
    if isinstance(items, orjson.Fragment):
        items = orjson.loads(orjson.dumps(items))
    return list(items[: len(items) // 2]) if isinstance(items, list) else []
