"""The settings module: every variable parsed strictly, errors naming the variable, the value and what is
accepted; secrets only as ``EnvVar``; the README's table lists exactly the variables read; the definitions
load with nothing set and refuse to load with a wrong value."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance, EnvVar, asset, materialize
from pydantic import ValidationError

from mock_pi.universe import Universe
from osipi_dagster.assets import pi_af_elements
from osipi_dagster.resources import build_resources, pi_web_api_resource
from osipi_dagster.resources.pi_web_api import PIWebAPIResource
from osipi_dagster.settings import SECRET_VARIABLES, SettingsError, load_settings, variables
from osipi_dagster_tests.helpers import MOCK_CONFIG

README = Path(__file__).resolve().parents[1] / "README.md"
PASSWORD = "S3cr3t-Pa55"


def settings_error(environ: dict) -> str:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ)
    return str(raised.value)


# -- one wrong value: the error names the variable, repeats the value and says what is accepted -------------

WRONG_VALUES = [
    ("PI_WEB_API_VERIFY_TLS", "flase", "true / false"),
    ("PI_WEB_API_VERIFY_TLS", "2", "true / false"),
    ("OSIPI_SETTLE_HOURS", "abc", "whole number ≥ 1"),
    ("OSIPI_SETTLE_HOURS", "-5", "whole number ≥ 1"),
    ("OSIPI_SETTLE_HOURS", "0", "whole number ≥ 1"),
    ("OSIPI_SETTLE_HOURS", "2.5", "whole number ≥ 1"),
    ("OSIPI_NEW_TAG_LOOKBACK_HOURS", "0", "whole number ≥ 1"),
    ("OSIPI_NEW_TAG_LOOKBACK_HOURS", "1e3", "whole number ≥ 1"),
    ("OSIPI_OPEN_FRAMES_REFRESH_SECONDS", "0", "whole number ≥ 1"),
    ("OSIPI_TAG_FULL_CHECK_SECONDS", "-1", "whole number ≥ 0"),
    ("OSIPI_HOURLY_CRON", "5 * *", "cron expression"),
    ("OSIPI_HOURLY_CRON", "61 * * * *", "cron expression"),
    ("OSIPI_DAILY_CRON", "daily", "cron expression"),
    ("OSIPI_PARTITIONS_START", "2026-11-01", "YYYY-MM-DD-HH:00"),
    ("OSIPI_PARTITIONS_START", "2026-11-01T00:00", "YYYY-MM-DD-HH:00"),
    ("OSIPI_PARTITIONS_START", "2026-11-01-00:30", "YYYY-MM-DD-HH:00"),
    ("OSIPI_PARTITIONS_START", "2026-02-30-00:00", "YYYY-MM-DD-HH:00"),
    ("PI_WEB_API_TRANSPORT", "stream", "streamsets / batch"),
    ("PI_WEB_API_AUTH", "digest", "auto / anonymous / basic / bearer / oidc / kerberos / ntlm"),
    ("PI_WEB_API_MUTUAL_AUTH", "maybe", "required / optional / disabled"),
    ("PI_WEB_API_OS_TRUST_STORE", "sometimes", "accepted: true / false"),
    ("PI_WEB_API_CA_BUNDLE", "/no/such/ca.pem", "an existing PEM file or folder"),
    ("PI_WEB_API_CONNECT_TIMEOUT_SECONDS", "0", "number of seconds > 0"),
    ("PI_WEB_API_CONNECT_TIMEOUT_SECONDS", "inf", "number of seconds > 0"),
    ("PI_WEB_API_READ_TIMEOUT_SECONDS", "-30", "number of seconds > 0"),
    ("PI_WEB_API_READ_TIMEOUT_SECONDS", "thirty", "number of seconds > 0"),
    ("OSIPI_DELTA_ROOT", "ftp://host/lake", "a folder or s3://…, s3a://…, az://…"),
]


@pytest.mark.parametrize(("variable", "value", "accepted"), WRONG_VALUES)
def test_a_wrong_value_names_the_variable_the_value_and_what_is_accepted(variable, value, accepted):
    message = settings_error({variable: value})
    assert f"{variable}={value!r}" in message
    assert accepted in message
    assert message.count("\n  - ") == 1  # only that variable is reported


def test_every_wrong_variable_is_reported_at_once():
    message = settings_error(
        {"PI_WEB_API_VERIFY_TLS": "flase", "OSIPI_SETTLE_HOURS": "abc", "PI_WEB_API_TRANSPORT": "rest"}
    )
    for variable in ("PI_WEB_API_VERIFY_TLS", "OSIPI_SETTLE_HOURS", "PI_WEB_API_TRANSPORT"):
        assert variable in message


@pytest.mark.parametrize(
    ("text", "meaning"),
    [
        ("true", True),
        ("TRUE", True),
        (" 1 ", True),
        ("yes", True),
        ("On", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("off", False),
    ],
)
def test_booleans_accept_the_usual_spellings_only(text, meaning):
    assert load_settings({"PI_WEB_API_VERIFY_TLS": text}).verify_tls is meaning


def test_valid_values_are_parsed():
    config = load_settings(
        {
            "OSIPI_SETTLE_HOURS": "6",
            "OSIPI_TAG_FULL_CHECK_SECONDS": "0",
            "OSIPI_HOURLY_CRON": "*/10 * * * *",
            "OSIPI_DAILY_CRON": "@daily",
            "OSIPI_PARTITIONS_START": "2024-02-29-23:00",
            "PI_WEB_API_TRANSPORT": "batch",
            "PI_WEB_API_READ_TIMEOUT_SECONDS": "12.5",
            "PI_AF_DATABASES": " \\\\AF\\One ;\\\\AF\\Two;; ",
            "PI_DATA_SERVER": "PISRV01",
            "PI_TAG_FILTER": "sinusoid*",
        }
    )
    assert (config.settle_hours, config.tag_full_check_seconds, config.hourly_cron, config.daily_cron) == (
        6,
        0,
        "*/10 * * * *",
        "@daily",
    )
    assert (config.partitions_start, config.transport, config.read_timeout_seconds) == (
        "2024-02-29-23:00",
        "batch",
        12.5,
    )
    assert config.af_databases == ["\\\\AF\\One", "\\\\AF\\Two"]
    assert (config.data_server, config.tag_filter) == ("PISRV01", "sinusoid*")


def test_empty_variables_mean_unset():
    assert load_settings({name: "" for name in variables()}) == load_settings({})


def test_defaults_agree_with_the_resource_defaults():
    """With nothing set, the PI resource built from the settings has the resource's own defaults."""
    from_settings = pi_web_api_resource(load_settings({}))
    plain = PIWebAPIResource(base_url=from_settings.base_url)
    for field in (
        "auth",
        "verify_tls",
        "connect_timeout_seconds",
        "timeout_seconds",
        "data_server",
        "tag_filter",
        "af_databases",
        "transport",
        "username",
        "password",
        "token",
    ):
        assert getattr(from_settings, field) == getattr(plain, field), field


# -- auth combinations that would silently fall back to another method -------------------------------------


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"PI_WEB_API_AUTH": "basic"}, "PI_WEB_API_USERNAME"),
        ({"PI_WEB_API_AUTH": "bearer", "PI_WEB_API_USERNAME": "svc"}, "PI_WEB_API_TOKEN"),
        ({"PI_WEB_API_PASSWORD": PASSWORD}, "PI_WEB_API_USERNAME"),
        ({"PI_WEB_API_AUTH": "ntlm", "PI_WEB_API_PASSWORD": PASSWORD}, "PI_WEB_API_USERNAME"),
        (
            {"PI_WEB_API_AUTH": "oidc", "PI_WEB_API_CLIENT_ID": "c", "PI_WEB_API_CLIENT_SECRET": PASSWORD},
            "PI_WEB_API_TOKEN_URL",
        ),
    ],
)
def test_incomplete_credentials_are_refused(environ, named):
    message = settings_error(environ)
    assert named in message and PASSWORD not in message


# -- secrets ---------------------------------------------------------------------------------------------


def test_secrets_reach_the_resource_only_as_env_vars():
    environ = {"PI_WEB_API_USERNAME": "svc-osipi", "PI_WEB_API_PASSWORD": PASSWORD, "PI_WEB_API_TOKEN": "tok-XYZ"}
    config = load_settings(environ)
    assert all(secret not in repr(config) for secret in environ.values())
    resource = pi_web_api_resource(config)
    for field, variable in zip(("username", "password", "token"), SECRET_VARIABLES):
        value = getattr(resource, field)
        assert isinstance(value, EnvVar) and value.env_var_name == variable


@pytest.mark.parametrize(
    "url",
    [
        f"https://svc:{PASSWORD}@pi.example.com/piwebapi",
        f"http://svc:{PASSWORD}@127.0.0.1:8010/piwebapi",
        f"https://{PASSWORD}@pi.example.com/piwebapi",
    ],
)
def test_credentials_in_the_url_are_refused_without_echoing_them(url):
    message = settings_error({"PI_WEB_API_URL": url})
    assert "PI_WEB_API_URL" in message and "PI_WEB_API_USERNAME" in message and "PI_WEB_API_PASSWORD" in message
    assert PASSWORD not in message and "svc" not in message
    with pytest.raises(ValidationError) as raised:
        PIWebAPIResource(base_url=url)
    assert "base_url" in str(raised.value) and PASSWORD not in str(raised.value)


@pytest.mark.parametrize(
    "url", ["ftp://pi.example.com/piwebapi", "pi.example.com/piwebapi", "https://h:99999/x", "http://[::1/piwebapi"]
)
def test_a_url_that_is_not_http_is_refused(url):
    assert "PI_WEB_API_URL" in settings_error({"PI_WEB_API_URL": url})


def test_a_url_with_credentials_from_an_env_var_is_refused_at_run_time(monkeypatch):
    """``base_url=EnvVar(...)`` is resolved when a run starts: the same check applies then."""
    monkeypatch.setenv("OSIPI_TEST_PI_URL", f"https://svc:{PASSWORD}@pi.example.com/piwebapi")

    @asset
    def reads_pi(pi: PIWebAPIResource) -> str:
        return pi.base_url

    result = materialize(
        [reads_pi],
        resources={"pi": PIWebAPIResource(base_url=EnvVar("OSIPI_TEST_PI_URL"))},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    failures = [event.event_specific_data.error.to_string() for event in result.all_events if event.is_failure]
    assert any("base_url must not contain credentials" in text for text in failures)
    assert all(PASSWORD not in text for text in failures)


# -- the README documents exactly these variables --------------------------------------------------------


def test_the_readme_table_lists_exactly_the_variables_read():
    text = README.read_text()
    table = text[text.index("| variable | meaning |") :]
    table = table[: table.index("\n\n")]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    assert documented == set(variables())


# -- the AF databases are a resource field the asset reads ----------------------------------------------


@pytest.mark.integration
def test_af_databases_field_selects_the_databases(mock_pi_url, tmp_path):
    universe = Universe(MOCK_CONFIG)
    with DagsterInstance.ephemeral() as instance:
        chosen = build_resources(
            PIWebAPIResource(base_url=mock_pi_url, af_databases=[universe.database_path]), str(tmp_path / "chosen")
        )
        assert materialize([pi_af_elements], resources=chosen, instance=instance).success
        missing = build_resources(
            PIWebAPIResource(base_url=mock_pi_url, af_databases=["\\\\AFSRV\\NoSuchDB"]), str(tmp_path / "missing")
        )
        result = materialize([pi_af_elements], resources=missing, instance=instance, raise_on_error=False)
    table = pl.read_delta(str(tmp_path / "chosen" / "bronze" / "pi_af_elements"))
    assert set(table["webid"]) == {element.webid for element in universe.elements}
    assert set(table["database"]) == {universe.database_path}
    assert not result.success
    errors = [event.event_specific_data.error.to_string() for event in result.all_events if event.is_failure]
    assert any("NoSuchDB" in text for text in errors)


# -- load time --------------------------------------------------------------------------------------------


def _load_definitions(environ: dict) -> subprocess.CompletedProcess:
    """Import the definitions in a fresh process whose environment holds no project variable but ``environ``."""
    base = {k: v for k, v in os.environ.items() if k not in variables()}
    code = (
        "from osipi_dagster.definitions import defs\n"
        "pi = defs.resources['pi']\n"
        "print(pi.base_url, pi.transport, pi.timeout_seconds, pi.connect_timeout_seconds)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env={**base, **environ}, capture_output=True, text=True, timeout=120
    )


@pytest.mark.integration
def test_definitions_load_with_nothing_set():
    done = _load_definitions({})
    assert done.returncode == 0, done.stderr
    defaults = load_settings({})
    assert done.stdout.split() == [
        defaults.pi_web_api_url,
        defaults.transport,
        str(defaults.read_timeout_seconds),
        str(defaults.connect_timeout_seconds),
    ]


@pytest.mark.integration
def test_definitions_refuse_to_load_with_a_wrong_value():
    done = _load_definitions({"OSIPI_SETTLE_HOURS": "abc", "PI_WEB_API_URL": f"https://svc:{PASSWORD}@pi/piwebapi"})
    assert done.returncode != 0
    assert "SettingsError" in done.stderr and "OSIPI_SETTLE_HOURS='abc'" in done.stderr
    assert "PI_WEB_API_URL must not contain credentials" in done.stderr
    assert PASSWORD not in done.stderr + done.stdout
