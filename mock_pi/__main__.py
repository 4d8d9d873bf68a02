"""``python -m mock_pi --host 127.0.0.1 --port 8010 --tags 500`` — serve a mock PI Web API."""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timezone

import uvicorn

from mock_pi.config import ENV_VAR, Expansion, MockConfig


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _expansion(text: str) -> Expansion:
    at, _, tags = text.partition("=")
    if not tags:
        raise argparse.ArgumentTypeError("expected TIME=TAGS, e.g. 2026-11-20T12:00:00Z=10000")
    return Expansion(_utc(at), int(tags))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mock_pi", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument("--tags", type=int, default=500, help="number of PI points (default 500)")
    parser.add_argument("--seed", type=int, default=42, help="universe seed: same seed, same data")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (identical data)")
    parser.add_argument("--now", type=_utc, help="freeze the server clock at this UTC time (tests)")
    parser.add_argument("--late-lag", type=float, default=0.0, metavar="SECONDS",
                        help="values become visible up to SECONDS after their timestamp")
    parser.add_argument("--expansion", type=_expansion, action="append", default=[], metavar="TIME=TAGS",
                        help="plant expansion: TAGS new points appear at TIME (repeatable)")
    parser.add_argument("--max-returned-items", type=int, default=150_000,
                        help="the server's MaxReturnedItemsPerCall")
    parser.add_argument("--username", help="require HTTP Basic auth with this user")
    parser.add_argument("--password", help="password for --username")
    parser.add_argument("--token", help="require this Bearer token")
    parser.add_argument("--log-level", default="warning")
    return parser


def config_from_args(args: argparse.Namespace) -> MockConfig:
    return MockConfig(
        seed=args.seed, tags=args.tags, now=args.now, late_lag_seconds=args.late_lag,
        expansions=tuple(args.expansion), max_returned_items_per_call=args.max_returned_items,
        username=args.username, password=args.password, bearer_token=args.token,
    )


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    os.environ[ENV_VAR] = config.to_json()
    print(f"mock PI Web API: http://{args.host}:{args.port}/piwebapi ({config.tags} tags, seed {config.seed})",
          flush=True)
    uvicorn.run("mock_pi.app:create_app_from_env", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level=args.log_level, access_log=False)


if __name__ == "__main__":
    main()
