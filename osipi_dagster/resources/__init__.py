"""Resources built from the environment settings (``osipi_dagster.settings``), so one code base serves the
mock and a real PI server. Secrets are passed as ``EnvVar`` (resolved at run time, never shown in the UI)."""

from __future__ import annotations

from dagster import EnvVar

from osipi_dagster.resources.delta_io_manager import WindowedDeltaLakePolarsIOManager
from osipi_dagster.resources.lakehouse import DeltaLakehouse
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.resources.storage import client_config, storage_config
from osipi_dagster.settings import Settings, get_settings


def delta_root() -> str:
    """``OSIPI_DELTA_ROOT``: a local folder (made absolute) or an ``s3://`` URI."""
    return get_settings().delta_root_uri


def pi_web_api_resource(config: Settings) -> PIWebAPIResource:
    """The PI resource for ``config``; secret variables become ``EnvVar``s, unset ones stay None."""

    def secret(name: str) -> EnvVar | None:
        return EnvVar(name) if config.has_secret(name) else None

    return PIWebAPIResource(
        base_url=config.pi_web_api_url,
        auth=config.auth,
        username=secret("PI_WEB_API_USERNAME"),
        password=secret("PI_WEB_API_PASSWORD"),
        token=secret("PI_WEB_API_TOKEN"),
        token_url=config.token_url,
        client_id=config.client_id,
        client_secret=secret("PI_WEB_API_CLIENT_SECRET"),
        token_scope=config.token_scope,
        mutual_auth=config.mutual_auth,
        kerberos_spn=config.kerberos_spn,
        verify_tls=config.verify_tls,
        ca_bundle=config.ca_bundle,
        os_trust_store=config.os_trust_store,
        connect_timeout_seconds=config.connect_timeout_seconds,
        timeout_seconds=config.read_timeout_seconds,
        data_server=config.data_server,
        tag_filter=config.tag_filter,
        af_databases=config.af_databases,
        transport=config.transport,
    )


def pi_web_api_from_env() -> PIWebAPIResource:
    return pi_web_api_resource(get_settings())


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
