"""Configuration of one mock PI System: everything the served universe is a pure function of."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

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
    # PI Web API server settings (shared/pi-web-api.md §2.6).
    max_returned_items_per_call: int = 150_000
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
    # More server settings (shared/pi-web-api.md §2.6, §6.2): 0 = no rate limit (PI's default is 1000/s).
    rate_limit_per_second: int = 0
    max_request_content_length: int = 4 * 1024 * 1024
    csrf_defense: bool = True
    gzip: bool = True  # compress bodies when the client sends Accept-Encoding: gzip

    @property
    def total_tags(self) -> int:
        """Tags including every scheduled expansion (visible or not yet)."""
        return self.tags + sum(e.tags for e in self.expansions)

    def to_json(self) -> str:
        data = asdict(self)
        data["now"] = self.now.isoformat() if self.now else None
        data["expansions"] = [{"at": e.at.isoformat(), "tags": e.tags} for e in self.expansions]
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> MockConfig:
        data = json.loads(text)
        data["now"] = _parse_utc(data["now"]) if data.get("now") else None
        data["expansions"] = tuple(Expansion(_parse_utc(e["at"]), int(e["tags"])) for e in data.get("expansions", []))
        data["auth"] = tuple(data.get("auth", ()))
        return cls(**data)

    @classmethod
    def from_env(cls) -> MockConfig:
        text = os.environ.get(ENV_VAR)
        return cls.from_json(text) if text else cls()


def _parse_utc(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
