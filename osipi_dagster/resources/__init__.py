"""Resources built from the documented environment variables, so one code base serves the mock and a
real PI server. Secrets are passed as ``EnvVar`` (resolved at run time, never shown in the UI)."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import EnvVar

from osipi_dagster.resources.delta_io_manager import WindowedDeltaLakePolarsIOManager
from osipi_dagster.resources.lakehouse import DeltaLakehouse
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.resources.storage import client_config, storage_config

DEFAULT_PI_WEB_API_URL = "http://127.0.0.1:8010/piwebapi"  # the bundled mock's default port
DEFAULT_DELTA_ROOT = ".osipi/delta"


def _secret(name: str) -> EnvVar | None:
    """An ``EnvVar`` when the variable is set; unset optional secrets stay None (anonymous auth)."""
    return EnvVar(name) if os.getenv(name) else None


def _flag(name: str, default: bool) -> bool:
    value = os.getenv(name)
    return default if value is None else value.strip().lower() not in ("0", "false", "no", "off")


def delta_root() -> str:
    """``OSIPI_DELTA_ROOT``: a local folder (made absolute) or an object store URI (see ``resources.storage``)."""
    root = os.getenv("OSIPI_DELTA_ROOT", DEFAULT_DELTA_ROOT)
    return root if "://" in root else str(Path(root).expanduser().resolve())


def pi_web_api_from_env() -> PIWebAPIResource:
    return PIWebAPIResource(
        base_url=os.getenv("PI_WEB_API_URL", DEFAULT_PI_WEB_API_URL),
        auth=os.getenv("PI_WEB_API_AUTH", "auto"),
        username=_secret("PI_WEB_API_USERNAME"),
        password=_secret("PI_WEB_API_PASSWORD"),
        token=_secret("PI_WEB_API_TOKEN"),
        verify_tls=_flag("PI_WEB_API_VERIFY_TLS", True),
        data_server=os.getenv("PI_DATA_SERVER") or None,
        tag_filter=os.getenv("PI_TAG_FILTER", "*"),
        transport=os.getenv("PI_WEB_API_TRANSPORT", "streamsets"),
    )


def build_resources(pi: PIWebAPIResource, root: str) -> dict:
    """Every resource the definitions need, for one PI Web API and one Delta root (env, tests, benchmarks)."""
    storage = {"storage_options": storage_config(root), "client_options": client_config(root)}
    return {
        "pi": pi,
        "io_manager": WindowedDeltaLakePolarsIOManager(root_uri=root, **storage),
        "lakehouse": DeltaLakehouse(root_uri=root, **storage),
    }


def resources_from_env() -> dict:
    return build_resources(pi_web_api_from_env(), delta_root())
