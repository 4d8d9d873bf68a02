"""Configuration of one mock PI System: everything the served universe is a pure function of."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime

from mock_pi.timeparse import parse_iso

ENV_VAR = "MOCK_PI_CONFIG_JSON"  # how `--workers N` hands the config to each uvicorn worker


@dataclass(frozen=True)
class Expansion:
    """A plant expansion: ``tags`` new points appear at ``at`` (UTC)."""

    at: datetime
    tags: int


@dataclass(frozen=True)
class MockConfig:
    seed: int = 42
    tags: int = 500
    data_server: str = "PISRV01"
    asset_server: str = "AFSRV01"
    asset_database: str = "OSIPI Plant"
    # Fixed clock for tests; None = wall clock.
    now: datetime | None = None
    # Late-arriving data: a value at t becomes visible between t and t + late_lag_seconds.
    late_lag_seconds: float = 0.0
    expansions: tuple[Expansion, ...] = ()
    # Opt-in PI points outside the AF tree, appended after all other tags (mock_pi.universe): names and
    # descriptors at PI's limits, and dense tags (> 150,000 values per hour, many events per timestamp).
    awkward_tags: int = 0
    dense_tags: int = 0
    # PI Web API server settings (docs/pi-web-api.md#server-limits).
    max_returned_items_per_call: int = 150_000
    # Lower limits for some endpoints: (regex searched in the request path, case-insensitive; limit). The first
    # match wins; e.g. (("/points$", 20),) makes point paging announce 20 while recorded keeps the global one.
    max_returned_items_for: tuple[tuple[str, int], ...] = ()
    # Auth: anonymous unless a username/password or token is configured.
    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None
    # More auth (mock_pi/auth.py): schemes offered (empty: implied by the credentials above), a
    # DOMAIN:USER:PASSWORD users file (Basic, NTLM), client credentials for the token endpoint and the
    # lifetime of its tokens, the Kerberos service keytab (negotiate).
    auth: tuple[str, ...] = ()
    users_file: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    token_lifetime_seconds: float = 3600.0
    keytab: str | None = None
    faults: dict = field(default_factory=dict)  # mock_pi.faults.FaultSettings fields
    # More server settings (docs/pi-web-api.md#server-limits; the CSRF header: #batch).
    # Rate limit: 0 = none (PI's default is 1000/s).
    rate_limit_per_second: int = 0
    max_request_content_length: int = 4 * 1024 * 1024
    csrf_defense: bool = True
    gzip: bool = True  # compress bodies when the client sends Accept-Encoding: gzip

    @property
    def total_tags(self) -> int:
        """Tags of the AF tree including every scheduled expansion (visible or not yet); awkward and dense
        tags come on top."""
        return self.tags + sum(e.tags for e in self.expansions)

    def to_json(self) -> str:
        data = asdict(self)
        data["now"] = self.now.isoformat() if self.now else None
        data["expansions"] = [{"at": e.at.isoformat(), "tags": e.tags} for e in self.expansions]
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> MockConfig:
        data = json.loads(text)
        data["now"] = parse_iso(data["now"]) if data.get("now") else None
        data["expansions"] = tuple(Expansion(parse_iso(e["at"]), int(e["tags"])) for e in data.get("expansions", []))
        data["max_returned_items_for"] = tuple((str(p), int(n)) for p, n in data.get("max_returned_items_for", ()))
        data["auth"] = tuple(data.get("auth", ()))
        return cls(**data)

    @classmethod
    def from_env(cls) -> MockConfig:
        text = os.environ.get(ENV_VAR)
        return cls.from_json(text) if text else cls()
