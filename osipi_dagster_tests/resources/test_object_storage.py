"""Delta on object storage: options from the environment, and concurrent partition runs into one table on a real
S3-compatible server (moto's server) and a real Azure Blob emulator (Azurite), each a process on 127.0.0.1."""

from __future__ import annotations

import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import polars as pl
import pytest
from azure.storage.blob import BlobServiceClient
from dagster import DagsterInstance, EnvVar, materialize
from dagster_deltalake import AzureConfig, GcsConfig, LocalConfig, S3Config
from deltalake import DeltaTable

from osipi_dagster.assets import pi_tag_catalog, pi_timeseries
from osipi_dagster.resources import build_resources
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.resources.storage import client_config, object_store, storage_config, storage_options
from osipi_dagster.transforms.timeseries import KEY
from osipi_dagster_tests.expected import comparable, expected_timeseries
from osipi_dagster_tests.helpers import MOCK_CONFIG
from osipi_dagster_tests.servers import free_port, http_ok, running, unavailable, venv_tool, wait_until

CLOUD_VARIABLES = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ALLOW_HTTP",
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_STORAGE_USE_EMULATOR",
    "AZURITE_BLOB_STORAGE_URL",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
]


@pytest.fixture
def clean_env(monkeypatch):
    for name in CLOUD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_local_folder_and_file_uri(clean_env):
    assert isinstance(storage_config("/data/delta"), LocalConfig)
    assert object_store("file:///data/delta") == "local"
    assert client_config("/data/delta") is None


def test_s3_options_from_the_aws_variables(clean_env):
    clean_env.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", "secret-value")
    clean_env.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    clean_env.setenv("AWS_ENDPOINT_URL", "http://minio.local:9000")
    config = storage_config("s3://lake/osipi")
    assert isinstance(config, S3Config)
    # Secrets stay environment references (the UI shows the variable's name, not its value).
    assert isinstance(config.secret_access_key, EnvVar) and config.secret_access_key == "AWS_SECRET_ACCESS_KEY"
    assert storage_options(config, client_config("s3://lake/osipi")) == {
        "provider": "s3",
        "access_key_id": "AKIAEXAMPLE",
        "secret_access_key": "secret-value",
        "region": "eu-west-1",
        "endpoint": "http://minio.local:9000",
        "imdsv1_fallback": "False",
        "allow_http": "True",
    }
    clean_env.setenv("AWS_ENDPOINT_URL_S3", "https://s3.example.com")  # the S3-specific endpoint wins
    assert storage_config("s3a://lake").endpoint == "https://s3.example.com"
    assert client_config("s3a://lake") is None  # https: no plain-HTTP opt-in


def test_azure_account_from_variable_or_abfss_host(clean_env):
    clean_env.setenv("AZURE_STORAGE_ACCOUNT_KEY", "key==")
    config = storage_config("abfss://lake@plantdata.dfs.core.windows.net/osipi")
    assert isinstance(config, AzureConfig) and config.account_name == "plantdata"
    assert storage_options(config)["account_key"] == "key=="
    with pytest.raises(ValueError, match="AZURE_STORAGE_ACCOUNT_NAME"):
        storage_config("az://lake/osipi")
    clean_env.setenv("AZURE_STORAGE_ACCOUNT_NAME", "other")
    assert storage_config("az://lake/osipi").account_name == "other"


def test_gcs_credentials_file(clean_env):
    clean_env.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/secrets/sa.json")
    config = storage_config("gs://lake/osipi")
    assert isinstance(config, GcsConfig) and config.application_credentials == "/secrets/sa.json"


def test_unsupported_scheme_names_the_variable():
    with pytest.raises(ValueError, match=r"OSIPI_DELTA_ROOT='hdfs://nn/lake': unsupported scheme 'hdfs'"):
        storage_config("hdfs://nn/lake")


# --- real object stores ---------------------------------------------------------------------------------------

BUCKET = "osipi-lake"  # the S3 bucket, and the Azure container
FIRST_HOUR = datetime(2026, 11, 20, 6, tzinfo=UTC)
CONCURRENT_HOURS = 4


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """``moto_server`` as its own process: in-process (ThreadedMotoServer) it shares the GIL with delta-rs calls
    that block while holding it, and reads time out."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with running([venv_tool("moto_server"), "-H", "127.0.0.1", "-p", str(port)], log) as process:
        url = f"http://127.0.0.1:{port}"
        wait_until(http_ok(url), "moto_server", 30, process, log)
        yield url


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    """Credentials and endpoint the usual way; spawned writer processes inherit them."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    return f"s3://{BUCKET}/delta"


# Azurite's fixed development account: public, the same in every installation (Azurite's README).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# Where .ci/run installs Azurite (npm); a developer may have it on the PATH instead.
CI_AZURITE = Path(__file__).resolve().parents[2] / ".ci" / "azurite" / "node_modules" / ".bin" / "azurite-blob"


def azurite_blob() -> str:
    found = shutil.which("azurite-blob") or (str(CI_AZURITE) if CI_AZURITE.exists() else None)
    if not found:
        unavailable("Azurite (the Azure Blob emulator) is not installed: npm install --prefix .ci/azurite azurite@3")
    return found


@pytest.fixture(scope="module")
def azurite_endpoint(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("azurite") / "azurite.log"
    args = [azurite_blob(), "--blobHost", "127.0.0.1", "--blobPort", str(port)]
    args += ["--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck"]
    with running(args, log) as process:
        url = f"http://127.0.0.1:{port}"
        wait_until(http_ok(url), "Azurite", 60, process, log)
        yield url


@pytest.fixture
def azure_env(azurite_endpoint, monkeypatch):
    """The account the usual way; delta-rs reads the emulator switch and its URL from the environment itself."""
    for name, value in {
        "AZURE_STORAGE_ACCOUNT_NAME": AZURITE_ACCOUNT,
        "AZURE_STORAGE_ACCOUNT_KEY": AZURITE_KEY,
        "AZURE_STORAGE_USE_EMULATOR": "true",
        "AZURITE_BLOB_STORAGE_URL": azurite_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={azurite_endpoint}/{AZURITE_ACCOUNT};"
    )
    BlobServiceClient.from_connection_string(connection).create_container(BUCKET)
    return f"az://{BUCKET}/delta"


def _key(hour: datetime) -> str:
    return hour.strftime("%Y-%m-%d-%H:%M")


def materialize_hour(url: str, root: str, key: str) -> bool:
    """One partition run (in a process of its own when called from the pool)."""
    resources = build_resources(PIWebAPIResource(base_url=url, streams_per_request=64), root)
    with DagsterInstance.ephemeral() as instance:
        return materialize(
            [pi_tag_catalog, pi_timeseries],
            selection=[pi_timeseries],
            partition_key=key,
            resources=resources,
            instance=instance,
            raise_on_error=False,
        ).success


@pytest.mark.integration
@pytest.mark.parametrize("store_env", ["s3_env", "azure_env"])
def test_concurrent_partition_runs_into_one_object_store_table(mock_pi_url, store_env, request):
    root = request.getfixturevalue(store_env)
    resources = build_resources(PIWebAPIResource(base_url=mock_pi_url, streams_per_request=64), root)
    with DagsterInstance.ephemeral() as instance:
        assert materialize([pi_tag_catalog], resources=resources, instance=instance).success
    # The concurrent runs start on a bucket without the table: they create it among themselves.
    hours = [FIRST_HOUR + timedelta(hours=n) for n in range(CONCURRENT_HOURS)]
    spawn = multiprocessing.get_context("spawn")  # never fork a process that has used deltalake
    with ProcessPoolExecutor(CONCURRENT_HOURS, mp_context=spawn) as pool:
        results = list(
            pool.map(materialize_hour, [mock_pi_url] * len(hours), [root] * len(hours), [_key(h) for h in hours])
        )
    assert results == [True] * len(hours)

    options = storage_options(storage_config(root), client_config(root))
    table_uri = f"{root}/bronze/pi_timeseries"
    table = DeltaTable(table_uri, storage_options=options)
    # Every commit is in the log, none lost: the empty table's creation (once, or once per run that raced to
    # create it: metadata only), then one write per concurrent run.
    history = table.history()
    operations = [entry["operation"] for entry in sorted(history, key=lambda entry: entry["version"])]
    assert sorted(entry["version"] for entry in history) == list(range(table.version() + 1))
    assert operations.count("WRITE") == CONCURRENT_HOURS
    assert set(operations[: operations.index("WRITE")]) == {"CREATE TABLE"}

    rows = pl.read_delta(table_uri, storage_options=options)
    assert rows.select(KEY).is_duplicated().sum() == 0
    last = hours[-1] + timedelta(hours=1)
    expected = expected_timeseries(MOCK_CONFIG, FIRST_HOUR, last)
    assert rows.height == expected.height > 0
    assert comparable(rows).equals(comparable(expected))
    # The sensors' reader gets the same storage options and sees the same table.
    assert resources["lakehouse"].scan("bronze", "pi_timeseries").select(pl.len()).collect().item() == rows.height
