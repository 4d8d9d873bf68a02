"""Where the Delta tables live (``OSIPI_DELTA_ROOT``) and how delta-rs reaches it.

A local folder, or an object store URI: ``s3://bucket/prefix`` (also ``s3a://``), ``az://container/prefix``,
``abfs[s]://container@account.dfs.core.windows.net/prefix``, ``gs://bucket/prefix``. The options come from each
cloud's usual environment variables; secrets are passed as ``EnvVar`` (resolved at run time, never shown in the
Dagster UI). The IO manager and ``DeltaLakehouse`` get the same options, so what one writes the other can read.

Concurrent commits: delta-rs 1.x commits to S3 with a conditional put (``If-None-Match``), so two runs committing
the same table version cannot overwrite each other's commit; AWS S3, MinIO and Cloudflare R2 support it and
nothing needs to be set (see docs/deployment.md). Azure and GCS have atomic put-if-absent natively.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

from dagster import EnvVar
from dagster_deltalake import AzureConfig, GcsConfig, LocalConfig, S3Config
from dagster_deltalake.config import ClientConfig

from osipi_dagster.settings import env_flag

StorageConfig = LocalConfig | S3Config | AzureConfig | GcsConfig

# URI scheme -> object store; anything else with "://" is refused with a clear message.
STORE_BY_SCHEME = {
    "s3": "s3",
    "s3a": "s3",
    "az": "azure",
    "azure": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "gs": "gcs",
}


def _env(*names: str) -> str | None:
    """The first of these variables that is set (plain value: for settings that are not secret)."""
    return next((os.environ[name] for name in names if os.environ.get(name)), None)


def _secret(name: str) -> EnvVar | None:
    return EnvVar(name) if os.environ.get(name) else None


def object_store(root: str) -> str:
    """``local``, ``s3``, ``azure`` or ``gcs`` for a Delta root; an unsupported scheme names the variable to fix."""
    if "://" not in root:
        return "local"
    scheme = urlparse(root).scheme.lower()
    if scheme == "file":
        return "local"
    if scheme not in STORE_BY_SCHEME:
        raise ValueError(
            f"OSIPI_DELTA_ROOT={root!r}: unsupported scheme {scheme!r}; use a local folder or one of "
            + ", ".join(f"{s}://" for s in STORE_BY_SCHEME)
        )
    return STORE_BY_SCHEME[scheme]


def _s3_endpoint() -> str | None:
    return _env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def _azure_account(root: str) -> str:
    """``AZURE_STORAGE_ACCOUNT_NAME``, else the account in ``abfss://container@ACCOUNT.dfs.core.windows.net``."""
    account = _env("AZURE_STORAGE_ACCOUNT_NAME")
    host = urlparse(root).hostname or ""
    if not account and "." in host:
        account = host.split(".")[0]
    if not account:
        raise ValueError(
            f"OSIPI_DELTA_ROOT={root!r} needs a storage account: set AZURE_STORAGE_ACCOUNT_NAME or use "
            "abfss://<container>@<account>.dfs.core.windows.net/<prefix>"
        )
    return account


def storage_config(root: str) -> StorageConfig:
    """The ``storage_options`` of the Delta IO manager (and ``DeltaLakehouse``) for a Delta root."""
    store = object_store(root)
    if store == "s3":
        return S3Config(
            access_key_id=_secret("AWS_ACCESS_KEY_ID"),
            secret_access_key=_secret("AWS_SECRET_ACCESS_KEY"),
            token=_secret("AWS_SESSION_TOKEN"),
            region=_env("AWS_REGION", "AWS_DEFAULT_REGION"),
            endpoint=_s3_endpoint(),
        )
    if store == "azure":
        return AzureConfig(
            account_name=_azure_account(root),
            account_key=_secret("AZURE_STORAGE_ACCOUNT_KEY"),
            sas_key=_secret("AZURE_STORAGE_SAS_TOKEN"),
            client_id=_env("AZURE_CLIENT_ID"),
            client_secret=_secret("AZURE_CLIENT_SECRET"),
            tenant_id=_env("AZURE_TENANT_ID"),
            federated_token_file=_env("AZURE_FEDERATED_TOKEN_FILE"),  # AKS workload identity
        )
    if store == "gcs":
        return GcsConfig(
            application_credentials=_env("GOOGLE_APPLICATION_CREDENTIALS"),
            service_account=_env("GOOGLE_SERVICE_ACCOUNT"),
            service_account_key=_secret("GOOGLE_SERVICE_ACCOUNT_KEY"),
        )
    return LocalConfig()


def client_config(root: str) -> ClientConfig | None:
    """HTTP client options: plain ``http://`` only for an S3-compatible endpoint that uses it (MinIO, tests)."""
    if object_store(root) != "s3":
        return None
    endpoint = _s3_endpoint() or ""
    allow_http = env_flag("AWS_ALLOW_HTTP") or endpoint.startswith("http://") or None
    return ClientConfig(allow_http=allow_http) if allow_http else None


def storage_options(config: StorageConfig, client: ClientConfig | None = None) -> dict[str, str]:
    """The options delta-rs gets, as the IO manager builds them (set values as strings, ``EnvVar`` resolved)."""
    options = {}
    for part in (config, client):
        for key, value in (part.model_dump() if part is not None else {}).items():
            if value is not None:
                options[key] = str(value.get_value() if isinstance(value, EnvVar) else value)
    return options
