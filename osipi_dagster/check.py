"""``osipi-check``: a site's first contact with its PI Web API, headless, from the same environment variables
the Dagster code location reads (``PI_WEB_API_URL``, ``PI_WEB_API_AUTH``, …).

It resolves the auth mode and TLS trust, asks the server who it thinks we are, lists the data servers and reads
the last hour of one tag, printing each step; exit code 0 when every step worked, 1 with the error (which
names what to change) otherwise. Secrets are never printed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from osipi_dagster.pi.auth import resolve_mode
from osipi_dagster.pi.client import items_of
from osipi_dagster.pi.errors import PIWebAPIError
from osipi_dagster.resources import pi_web_api_from_env
from osipi_dagster.resources.pi_web_api import PIWebAPIResource


def run_check(out=print) -> bool:
    try:
        with pi_web_api_from_env().process_config_and_initialize_cm() as resource:  # resolves EnvVar secrets
            return _check(resource, out)
    except (PIWebAPIError, ValueError, ImportError) as exc:
        out(f"FAILED      {exc}")
        return False


def _check(resource: PIWebAPIResource, out) -> bool:
    mode, why = resolve_mode(resource.auth_config())
    trust = (
        "OFF (PI_WEB_API_VERIFY_TLS=false)"
        if not resource.verify_tls
        else f"{'the OS trust store' if resource.os_trust_store else 'public CAs'}"
        f"{f' + {resource.ca_bundle}' if resource.ca_bundle else ''}"
    )
    out(f"PI Web API  {resource.base_url}")
    out(f"auth        {mode} ({why})")
    out(f"TLS trust   {trust}")
    began = time.monotonic()
    client = resource.client
    try:
        who = client.get("system/userinfo")
        out(
            f"identity    {who.get('Name') or '(none)'} ({who.get('IdentityType')}, "
            f"authenticated: {who.get('IsAuthenticated')})"
        )
    except PIWebAPIError as exc:
        if exc.status != 404:
            raise
        out("identity    (this PI Web API has no system/userinfo)")  # older releases
    servers = items_of(client.get("dataservers"), client.url("dataservers"))
    out(f"servers     {', '.join(s.get('Name', '?') for s in servers) or '(none)'}")
    server = client.data_server(resource.data_server)
    point = next(client.points(server["WebId"], resource.tag_filter, page_size=1), None)
    if point is None:
        out(f"FAILED      no tag matches PI_TAG_FILTER={resource.tag_filter!r} on {server['Name']}")
        return False
    values = client.get(f"streams/{point['WebId']}/recorded", {"startTime": "*-1h", "endTime": "*"})
    out(f"tag         {point['Name']}: {len(values.get('Items') or [])} recorded values in the last hour")
    out(f"OK          in {time.monotonic() - began:.1f}s")
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="osipi-check", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--verbose", action="store_true", help="also log what the client does (no secrets)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    sys.exit(0 if run_check() else 1)


if __name__ == "__main__":
    main()
