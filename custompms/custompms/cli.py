"""The ``custompms`` console script: ``serve`` and ``seed``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8750
DEFAULT_DB = "custompms.db"


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="custompms", description="Custompms reference server.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API (each option also reads an env var)")
    serve.add_argument(
        "--host", default=env("CUSTOMPMS_HOST", DEFAULT_HOST), help="CUSTOMPMS_HOST (%(default)s)"
    )
    serve.add_argument(
        "--port",
        type=int,  # argparse converts (and reports) a string default from the env too
        default=env("CUSTOMPMS_PORT", str(DEFAULT_PORT)),
        help="CUSTOMPMS_PORT (%(default)s)",
    )
    serve.add_argument(
        "--db",
        type=Path,
        default=Path(env("CUSTOMPMS_DB", DEFAULT_DB)),
        help="SQLite file, created if missing; CUSTOMPMS_DB (%(default)s)",
    )
    # The token's default comes from the environment and is never echoed in --help.
    serve.add_argument("--token", default=env("CUSTOMPMS_TOKEN"), help="CUSTOMPMS_TOKEN (required)")
    serve.add_argument("--seed", action="store_true", help="load the sample data first")
    serve.add_argument("--log-level", default="info", help="uvicorn log level (%(default)s)")

    seed = commands.add_parser("seed", help="load the sample data (idempotent)")
    seed.add_argument(
        "--db", type=Path, default=Path(env("CUSTOMPMS_DB", DEFAULT_DB)), help="CUSTOMPMS_DB"
    )
    return parser, serve


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    parser, serve = _parser()
    args = parser.parse_args(argv)
    if args.command == "seed":
        _seed(args.db)
    elif not args.token:
        serve.error("a token is required: pass --token or set CUSTOMPMS_TOKEN")
    else:
        _serve(args)


def _seed(db: Path) -> None:
    from custompms.seed import seed
    from custompms.store import Store

    store = Store(db)
    try:
        created = seed(store)
    finally:
        store.close()
    summary = ", ".join(f"{count} {name}" for name, count in created.items())
    print(f"seeded {db}: created {summary}")


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from custompms.app import create_app
    from custompms.store import Store

    if args.seed:
        _seed(args.db)
    store = Store(args.db)
    try:
        app = create_app(store, token=args.token)
        print(f"custompms serving {args.db} on http://{args.host}:{args.port}", file=sys.stderr)
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    finally:
        store.close()
