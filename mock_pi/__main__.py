"""``python -m mock_pi --host 127.0.0.1 --port 8010 --tags 500`` — serve a mock PI Web API."""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import uvicorn

from mock_pi.auth import SCHEMES, configured_schemes
from mock_pi.config import ENV_VAR, Expansion, MockConfig
from mock_pi.faults import FaultSettings
from mock_pi.timeparse import TimeParseError, parse_iso


def _utc(text: str) -> datetime:
    try:
        return parse_iso(text)
    except TimeParseError as exc:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time such as 2026-11-20T12:00:00Z: {exc}") from exc


def _expansion(text: str) -> Expansion:
    at, _, tags = text.partition("=")
    if not tags:
        raise argparse.ArgumentTypeError("expected TIME=TAGS, e.g. 2026-11-20T12:00:00Z=10000")
    return Expansion(_utc(at), int(tags))


def _schemes(text: str) -> tuple[str, ...]:
    schemes = tuple(s.strip().lower() for s in text.split(",") if s.strip())
    unknown = set(schemes) - set(SCHEMES)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown scheme(s) {sorted(unknown)}; use {', '.join(SCHEMES)}")
    return schemes


def _endpoint_limit(text: str) -> tuple[str, int]:
    pattern, _, limit = text.rpartition("=")
    try:
        re.compile(pattern)
        value = int(limit)
    except (re.error, ValueError):
        value = 0
    if not pattern or value < 1:
        raise argparse.ArgumentTypeError("expected REGEX=N with a valid regex and N >= 1, e.g. '/points$=20'")
    return pattern, value


FLAG_VALUES = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _flag(text: str) -> bool:
    try:
        return FLAG_VALUES[text.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(FLAG_VALUES)}, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mock_pi", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument("--tags", type=int, default=500, help="number of PI points (default 500)")
    parser.add_argument("--seed", type=int, default=42, help="universe seed: same seed, same data")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (identical data)")
    parser.add_argument("--now", type=_utc, help="freeze the server clock at this UTC time (tests)")
    parser.add_argument(
        "--late-lag",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="values become visible up to SECONDS after their timestamp",
    )
    parser.add_argument(
        "--expansion",
        type=_expansion,
        action="append",
        default=[],
        metavar="TIME=TAGS",
        help="plant expansion: TAGS new points appear at TIME (repeatable); at run time: "
        "curl -X POST http://HOST:PORT/admin/tags -d '{\"count\": TAGS}'",
    )
    parser.add_argument("--max-returned-items", type=int, default=150_000, help="the server's MaxReturnedItemsPerCall")
    parser.add_argument(
        "--max-returned-items-for",
        type=_endpoint_limit,
        action="append",
        default=[],
        metavar="REGEX=N",
        help="a lower MaxReturnedItemsPerCall for request paths matching REGEX "
        "(case-insensitive search; first match wins; repeatable)",
    )
    parser.add_argument(
        "--awkward-tags",
        type=int,
        default=0,
        metavar="N",
        help="add N PI points with names and descriptors at PI's limits (unicode, symbols, long)",
    )
    parser.add_argument(
        "--dense-tags",
        type=int,
        default=0,
        metavar="N",
        help="add N PI points with > 150,000 values per hour, many per timestamp",
    )
    parser.add_argument("--username", help="require HTTP Basic auth with this user")
    parser.add_argument("--password", help="password for --username")
    parser.add_argument("--token", help="require this Bearer token")
    auth = parser.add_argument_group("authentication and TLS (mock_pi/auth.py)")
    auth.add_argument(
        "--auth",
        type=_schemes,
        metavar="SCHEMES",
        help="comma-separated: anonymous,basic,bearer,negotiate,ntlm (default: implied by "
        "--username/--token/--client-id, else anonymous)",
    )
    auth.add_argument("--users", metavar="FILE", help="DOMAIN:USER:PASSWORD lines (basic, ntlm)")
    auth.add_argument("--client-id", help="OpenID Connect client accepted at /identity/connect/token")
    auth.add_argument("--client-secret", help="its secret")
    auth.add_argument(
        "--token-lifetime",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="lifetime of the tokens the token endpoint issues",
    )
    auth.add_argument("--keytab", help="service keytab of the Kerberos acceptor (negotiate), e.g. HTTP/127.0.0.1")
    auth.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a certificate for 127.0.0.1/localhost signed by a generated CA",
    )
    auth.add_argument("--tls-ca-out", metavar="FILE", help="write the generated CA certificate (PEM) here")
    auth.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (PEM) ...")
    auth.add_argument("--tls-key", metavar="FILE", help="... and this private key")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=0,
        metavar="N",
        help="answer 429 above N requests per second per client IP (0 = off)",
    )
    parser.add_argument(
        "--max-request-bytes", type=int, default=4 * 1024 * 1024, help="MaxRequestContentLength: larger bodies get 413"
    )
    parser.add_argument("--no-csrf", action="store_true", help="do not require X-Requested-With on POST")
    parser.add_argument("--no-gzip", action="store_true", help="never compress responses")
    parser.add_argument("--config", metavar="FILE", help="a MockConfig JSON file (flags given explicitly win)")
    faults = parser.add_argument_group("fault injection (also POST /admin/faults)")
    faults.add_argument("--faults-file", metavar="FILE", help="JSON object of fault settings")
    for name, kind, help_text in FAULT_FLAGS:
        flag = f"fault_{name}" if name in ("limit", "path_regex") else name
        faults.add_argument(
            f"--{flag.replace('_', '-')}", dest=f"fault_{name}", type=kind, default=None, help=help_text
        )
    parser.add_argument("--log-level", default="warning")
    return parser


FAULT_FLAGS = [
    ("latency_ms", float, "added latency per request (ms)"),
    ("latency_jitter_ms", float, "plus a uniform random latency up to this (ms)"),
    ("latency_us_per_value", float, "plus this per timed value in the answer (microseconds)"),
    ("rate_429", float, "share of requests answered 429 'Rate limit was reached' (0..1)"),
    ("rate_503", float, "share of requests answered 503 (0..1)"),
    ("retry_after_s", int, "Retry-After seconds on injected 429/503"),
    ("hang_rate", float, "share of requests that hang (0..1)"),
    ("hang_seconds", float, "how long a hung request hangs"),
    ("batch_item_rate", float, "share of batch sub-requests answered 500 (0..1)"),
    ("batch_fail_one", _flag, "one sub-request of every batch answers 500 (true/false)"),
    ("malformed_rate", float, "share of 2xx bodies replaced by malformed JSON (0..1)"),
    ("truncated_rate", float, "share of 2xx bodies truncated (0..1)"),
    ("webexception_rate", float, "share of 2xx collection bodies cut short with a WebException (0..1)"),
    (
        "item_webexception_rate",
        float,
        "share of stream-set items / 200 batch sub-responses with Items cut short next to a WebException (0..1)",
    ),
    ("item_errors_rate", float, "the same with an Errors list instead of a WebException (0..1)"),
    ("path_regex", str, "only requests whose path matches this regex get faults"),
    ("limit", int, "stop after this many injected faults"),
]


def config_from_args(args: argparse.Namespace) -> MockConfig:
    base = MockConfig.from_json(Path(args.config).read_text()) if args.config else MockConfig()
    faults = dict(base.faults)
    if args.faults_file:
        faults.update(json.loads(Path(args.faults_file).read_text()))
    faults.update(
        {
            name: getattr(args, f"fault_{name}")
            for name, _, _ in FAULT_FLAGS
            if getattr(args, f"fault_{name}") is not None
        }
    )
    FaultSettings.from_dict(faults)  # fail fast on unknown settings
    parser = build_parser()
    given = {k: v for k, v in vars(args).items() if v != parser.get_default(k)}

    def pick(arg: str, field: str):
        return given[arg] if arg in given else getattr(base, field)

    return replace(
        base,
        seed=pick("seed", "seed"),
        tags=pick("tags", "tags"),
        now=pick("now", "now"),
        late_lag_seconds=pick("late_lag", "late_lag_seconds"),
        expansions=tuple(args.expansion) or base.expansions,
        max_returned_items_per_call=pick("max_returned_items", "max_returned_items_per_call"),
        max_returned_items_for=tuple(args.max_returned_items_for) or base.max_returned_items_for,
        awkward_tags=pick("awkward_tags", "awkward_tags"),
        dense_tags=pick("dense_tags", "dense_tags"),
        username=pick("username", "username"),
        password=pick("password", "password"),
        bearer_token=pick("token", "bearer_token"),
        faults=faults,
        auth=pick("auth", "auth"),
        users_file=pick("users", "users_file"),
        client_id=pick("client_id", "client_id"),
        client_secret=pick("client_secret", "client_secret"),
        token_lifetime_seconds=pick("token_lifetime", "token_lifetime_seconds"),
        keytab=pick("keytab", "keytab"),
        rate_limit_per_second=pick("rate_limit", "rate_limit_per_second"),
        max_request_content_length=pick("max_request_bytes", "max_request_content_length"),
        csrf_defense=base.csrf_defense and not args.no_csrf,
        gzip=base.gzip and not args.no_gzip,
    )


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    os.environ[ENV_VAR] = config.to_json()
    tls = _tls_files(args)
    scheme = "https" if tls else "http"
    print(
        f"mock PI Web API: {scheme}://{args.host}:{args.port}/piwebapi ({config.tags} tags, seed {config.seed}, "
        f"auth {','.join(configured_schemes(config))})",
        flush=True,
    )
    uvicorn.run(
        "mock_pi.app:create_app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
        **tls,
    )


def _tls_files(args: argparse.Namespace) -> dict:
    """uvicorn's TLS arguments: the given files, or a certificate signed by a CA generated now (trustme)."""
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            raise SystemExit("--tls-cert and --tls-key go together")
        return {"ssl_certfile": args.tls_cert, "ssl_keyfile": args.tls_key}
    if not args.tls:
        return {}
    import trustme  # a test dependency: pip install -e '.[test]'

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost", "::1")
    folder = Path(tempfile.mkdtemp(prefix="mock_pi_tls_"))
    leaf.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    ca.cert_pem.write_to_path(args.tls_ca_out or str(folder / "ca.pem"))
    print(f"TLS CA certificate: {args.tls_ca_out or folder / 'ca.pem'}", flush=True)
    return {"ssl_certfile": str(folder / "server.pem")}


if __name__ == "__main__":
    main()
