"""Every environment setting of the project, read and validated in one place.

The environment is read once per process (``get_settings()``), when the definitions load; a wrong value stops
the load with one error that lists each wrong variable, the value given and what is accepted, so it shows
at ``dagster dev`` / ``dagster asset materialize`` start rather than as a surprise hours later. Unset
variables (or empty ones) take the defaults below; with nothing set the project talks to the bundled mock.

Secrets (``PI_WEB_API_USERNAME``, ``PI_WEB_API_PASSWORD``, ``PI_WEB_API_TOKEN``, ``PI_WEB_API_CLIENT_SECRET``)
are only checked for
presence here: their values reach the PI resource as Dagster ``EnvVar``s, resolved at run time, so they
never appear in run config, the UI or the event log.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Literal, get_args, get_origin
from urllib.parse import urlsplit

from dagster._utils.schedules import is_valid_cron_string
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

SECRET_VARIABLES = ("PI_WEB_API_USERNAME", "PI_WEB_API_PASSWORD", "PI_WEB_API_TOKEN", "PI_WEB_API_CLIENT_SECRET")
DEFAULT_PI_WEB_API_URL = "http://127.0.0.1:8010/piwebapi"  # the bundled mock's default port

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


class SettingsError(ValueError):
    """One or more environment variables hold values the project does not accept."""


def pi_web_api_url_problem(url: str, variable: str) -> str | None:
    """Why ``url`` is refused as the PI Web API root, or None when it is fine.

    Credentials in a URL end up in every error message and log line that shows the URL, so they are
    refused; the message never repeats the password.
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        return f"{variable} is not a valid URL ({exc}); expected e.g. https://pi.example.com/piwebapi"
    if parts.username is not None or parts.password is not None:
        return (
            f"{variable} must not contain credentials (user:password@); put them in PI_WEB_API_USERNAME "
            f"and PI_WEB_API_PASSWORD (or PI_WEB_API_TOKEN) instead"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        return f"{variable} is not a valid URL ({exc}); expected e.g. https://pi.example.com/piwebapi"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{variable}={url!r} must be an http:// or https:// URL, e.g. https://pi.example.com/piwebapi"
    return None


def _strict_bool(value: object) -> object:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError("not a boolean")
    return value


def env_flag(name: str) -> bool | None:
    """A boolean variable that is not one of ours (e.g. ``AWS_ALLOW_HTTP``), parsed as strictly as ours."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    try:
        return bool(_strict_bool(value))
    except ValueError:
        raise SettingsError(f"{name}={value!r}: accepted: true/false, 1/0, yes/no, on/off") from None


def _pi_web_api_url(value: str) -> str:
    problem = pi_web_api_url_problem(value, "PI_WEB_API_URL")
    if problem:
        raise ValueError(problem)
    return value


def _cron(value: str) -> str:
    # Dagster's own check (what its schedules and cron conditions accept); dagster is pinned in pyproject.
    if not is_valid_cron_string(value):
        raise ValueError(
            "accepted: a cron expression (minute hour day month weekday, UTC), e.g. '5 * * * *', or @hourly / @daily"
        )
    return value


def _partitions_start(value: str) -> str:
    accepted = "accepted: a UTC hour as YYYY-MM-DD-HH:00, e.g. 2026-11-01-00:00"
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{2}:00", value):
        raise ValueError(accepted)
    try:
        datetime.strptime(value, "%Y-%m-%d-%H:%M")
    except ValueError:
        raise ValueError(f"not a real date and hour; {accepted}") from None
    return value


def _delta_root(value: str) -> str:
    from osipi_dagster.resources.storage import STORE_BY_SCHEME  # the schemes the IO manager can write to

    scheme = value.partition("://")[0].lower() if "://" in value else ""
    if scheme and scheme != "file" and scheme not in STORE_BY_SCHEME:
        raise ValueError(f"accepted: a folder or {', '.join(f'{s}://…' for s in STORE_BY_SCHEME)}")
    return value


def _ca_bundle(value: str | None) -> str | None:
    if value is not None and not Path(value).expanduser().exists():
        raise ValueError("accepted: an existing PEM file or folder of .pem/.crt/.cer files")
    return value


def _pi_interval(value: str) -> str:
    if value and not re.fullmatch(r"\d+(\.\d+)?(s|m|h|d)", value):
        raise ValueError("accepted: a fixed PI interval such as 30s, 1m, 15m, 1h, or empty (no pi_interpolated)")
    return value


def _whole_number(value: object) -> object:
    if isinstance(value, str) and not re.fullmatch(r"\s*\d+\s*", value):
        raise ValueError("not a whole number")
    return value


def _af_databases(value: object) -> object:
    if isinstance(value, str):
        return [path.strip() for path in value.split(";") if path.strip()]
    return value


Bool = Annotated[bool, BeforeValidator(_strict_bool)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Cron = Annotated[str, AfterValidator(_cron)]
WholeNumber = Annotated[int, BeforeValidator(_whole_number)]


class Settings(BaseModel):
    """The project's settings; field aliases are the environment variables' names."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    # -- the PI Web API (fields of PIWebAPIResource) -----------------------------------------------
    pi_web_api_url: Annotated[str, AfterValidator(_pi_web_api_url)] = Field(
        DEFAULT_PI_WEB_API_URL, alias="PI_WEB_API_URL"
    )
    auth: Literal["auto", "anonymous", "basic", "bearer", "oidc", "kerberos", "ntlm"] = Field(
        "auto", alias="PI_WEB_API_AUTH"
    )
    token_url: str | None = Field(None, alias="PI_WEB_API_TOKEN_URL")
    client_id: str | None = Field(None, alias="PI_WEB_API_CLIENT_ID")
    token_scope: str | None = Field(None, alias="PI_WEB_API_TOKEN_SCOPE")
    mutual_auth: Literal["required", "optional", "disabled"] = Field("required", alias="PI_WEB_API_MUTUAL_AUTH")
    kerberos_spn: str | None = Field(None, alias="PI_WEB_API_KERBEROS_SPN")
    verify_tls: Bool = Field(True, alias="PI_WEB_API_VERIFY_TLS")
    ca_bundle: Annotated[str | None, AfterValidator(_ca_bundle)] = Field(None, alias="PI_WEB_API_CA_BUNDLE")
    os_trust_store: Bool = Field(False, alias="PI_WEB_API_OS_TRUST_STORE")
    transport: Literal["streamsets", "batch"] = Field("streamsets", alias="PI_WEB_API_TRANSPORT")
    connect_timeout_seconds: Seconds = Field(5.0, alias="PI_WEB_API_CONNECT_TIMEOUT_SECONDS")
    read_timeout_seconds: Seconds = Field(30.0, alias="PI_WEB_API_READ_TIMEOUT_SECONDS")
    data_server: str | None = Field(None, alias="PI_DATA_SERVER")
    tag_filter: str = Field("*", min_length=1, alias="PI_TAG_FILTER")
    af_databases: Annotated[list[str], BeforeValidator(_af_databases)] = Field([], alias="PI_AF_DATABASES")
    # Which secret variables are set (their values are never read here).
    secrets_set: frozenset[str] = frozenset()

    # -- storage, partitions, automation, sensors --------------------------------------------------
    delta_root: Annotated[str, AfterValidator(_delta_root)] = Field(".osipi/delta", alias="OSIPI_DELTA_ROOT")
    partitions_start: Annotated[str, AfterValidator(_partitions_start)] = Field(
        "2026-11-01-00:00", alias="OSIPI_PARTITIONS_START"
    )
    # 0: a backfill is one run (what `dagster asset materialize --partition-range` needs); production: 24.
    backfill_partitions_per_run: WholeNumber = Field(0, ge=0, alias="OSIPI_BACKFILL_PARTITIONS_PER_RUN")
    settle_hours: WholeNumber = Field(3, ge=1, alias="OSIPI_SETTLE_HOURS")
    hourly_cron: Cron = Field("5 * * * *", alias="OSIPI_HOURLY_CRON")
    daily_cron: Cron = Field("15 0 * * *", alias="OSIPI_DAILY_CRON")
    new_tag_lookback_hours: WholeNumber = Field(24, ge=1, alias="OSIPI_NEW_TAG_LOOKBACK_HOURS")
    open_frames_refresh_seconds: WholeNumber = Field(3600, ge=1, alias="OSIPI_OPEN_FRAMES_REFRESH_SECONDS")
    tag_full_check_seconds: WholeNumber = Field(3600, ge=0, alias="OSIPI_TAG_FULL_CHECK_SECONDS")
    interpolated_interval: Annotated[str, AfterValidator(_pi_interval)] = Field("", alias="OSIPI_INTERPOLATED_INTERVAL")

    def has_secret(self, variable: str) -> bool:
        return variable in self.secrets_set

    @property
    def delta_root_uri(self) -> str:
        """``OSIPI_DELTA_ROOT`` as the IO manager needs it: an object store URI, or a folder made absolute."""
        root = self.delta_root
        return root if "://" in root else str(Path(root).expanduser().resolve())


def variables() -> list[str]:
    """Every environment variable the project reads (the README's table lists exactly these)."""
    return [field.alias for field in Settings.model_fields.values() if field.alias] + list(SECRET_VARIABLES)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse ``environ`` (default: ``os.environ``) strictly; raise :class:`SettingsError` naming every wrong
    variable, its value and what is accepted."""
    environ = os.environ if environ is None else environ
    given = {
        name: environ[name] for name in variables() if name not in SECRET_VARIABLES and environ.get(name, "").strip()
    }
    secrets_set = frozenset(name for name in SECRET_VARIABLES if environ.get(name, "").strip())
    try:
        config = Settings.model_validate({**given, "secrets_set": secrets_set})
    except ValidationError as exc:
        raise SettingsError(_describe(exc, given)) from None
    problems = _auth_problems(config)
    if problems:
        raise SettingsError("Invalid environment settings:\n" + "\n".join(f"  - {p}" for p in problems))
    return config


def _auth_problems(config: Settings) -> list[str]:
    """Combinations that would silently fall back to another auth method."""
    problems = []
    if config.auth == "basic" and not config.has_secret("PI_WEB_API_USERNAME"):
        problems.append("PI_WEB_API_AUTH=basic needs PI_WEB_API_USERNAME (and PI_WEB_API_PASSWORD)")
    if config.auth == "bearer" and not config.has_secret("PI_WEB_API_TOKEN"):
        problems.append("PI_WEB_API_AUTH=bearer needs PI_WEB_API_TOKEN")
    if config.auth == "ntlm" and not config.has_secret("PI_WEB_API_USERNAME"):
        problems.append("PI_WEB_API_AUTH=ntlm needs PI_WEB_API_USERNAME (DOMAIN\\user) and PI_WEB_API_PASSWORD")
    if config.auth == "oidc" and not (
        config.token_url and config.client_id and config.has_secret("PI_WEB_API_CLIENT_SECRET")
    ):
        problems.append(
            "PI_WEB_API_AUTH=oidc needs PI_WEB_API_TOKEN_URL, PI_WEB_API_CLIENT_ID and PI_WEB_API_CLIENT_SECRET"
        )
    if config.has_secret("PI_WEB_API_PASSWORD") and not config.has_secret("PI_WEB_API_USERNAME"):
        problems.append("PI_WEB_API_PASSWORD is set but PI_WEB_API_USERNAME is not")
    return problems


def _describe(error: ValidationError, given: Mapping[str, str]) -> str:
    fields = {field.alias: field for field in Settings.model_fields.values()}
    lines = []
    for item in error.errors(include_url=False):
        variable = str(item["loc"][0]) if item["loc"] else "?"
        message = item["msg"].removeprefix("Value error, ")
        if variable == "PI_WEB_API_URL":  # may hold a password: never repeat the value
            lines.append(f"  - {message}")
            continue
        accepted = _accepted(fields[variable]) if variable in fields else None
        lines.append(f"  - {variable}={given.get(variable, '')!r}: {accepted or message}")
    return "Invalid environment settings:\n" + "\n".join(lines)


def _accepted(field: FieldInfo) -> str | None:
    """What a variable accepts, from its field's type and bounds (None: the validator's message says it)."""
    bounds = {type(m).__name__: m for m in field.metadata}
    if get_origin(field.annotation) is Literal:
        return "accepted: " + " / ".join(get_args(field.annotation))
    if field.annotation is bool:
        return "accepted: true / false (also 1 / 0, yes / no, on / off; any case)"
    if field.annotation is int:
        return f"accepted: a whole number ≥ {bounds['Ge'].ge}"
    if field.annotation is float:
        return f"accepted: a number of seconds > {bounds['Gt'].gt:g}"
    return None


@cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return load_settings()
