"""The ``custompms`` console script: ``serve`` and ``seed``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8750
DEFAULT_DB = "custompms.db"


def _rate(text: str) -> float:
    """A share of calls, 0 to 1 (argparse reports anything else like a bad option)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text}")
    return value


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
    serve.add_argument(
        "--seed",
        nargs="?",
        const="sample",
        metavar="NAME",
        help="load a named seed first: sample (the default), demo or overlap",
    )
    # Test switches: make calls fail on purpose (see README, "Injected faults").
    serve.add_argument(
        "--fault-rate",
        type=_rate,
        default=env("CUSTOMPMS_FAULT_RATE", "0"),
        help="share of API calls that fail before running (500, 503, slow, dropped "
        "connection); CUSTOMPMS_FAULT_RATE (%(default)s)",
    )
    serve.add_argument(
        "--fault-after-write-rate",
        type=_rate,
        default=env("CUSTOMPMS_FAULT_AFTER_WRITE_RATE", "0"),
        help="share of successful writes that commit, then answer 500, 503 or a dropped "
        "connection; CUSTOMPMS_FAULT_AFTER_WRITE_RATE (%(default)s)",
    )
    serve.add_argument(
        "--fault-seed",
        type=int,
        default=env("CUSTOMPMS_FAULT_SEED"),
        help="make the injected faults reproducible; CUSTOMPMS_FAULT_SEED",
    )
    serve.add_argument(
        "--fault-slow-ms",
        type=int,
        default=env("CUSTOMPMS_FAULT_SLOW_MS", "3000"),
        help="delay of a 'slow' fault; CUSTOMPMS_FAULT_SLOW_MS (%(default)s)",
    )
    serve.add_argument("--log-level", default="info", help="uvicorn log level (%(default)s)")

    seed = commands.add_parser("seed", help="load a named seed (idempotent)")
    seed.add_argument(
        "name",
        nargs="?",
        default="sample",
        help="sample (the default), demo or overlap; see custompms/seed.py",
    )
    seed.add_argument(
        "--db", type=Path, default=Path(env("CUSTOMPMS_DB", DEFAULT_DB)), help="CUSTOMPMS_DB"
    )
    return parser, serve


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    parser, serve = _parser()
    args = parser.parse_args(argv)
    chosen = args.name if args.command == "seed" else args.seed
    if chosen is not None:
        from custompms.seed import SEEDS

        if chosen not in SEEDS:
            choices = ", ".join(sorted(SEEDS))
            parser.error(f"unknown seed {chosen!r} (choose from {choices})")
    if args.command == "seed":
        _seed(args.db, args.name)
    elif not args.token:
        serve.error("a token is required: pass --token or set CUSTOMPMS_TOKEN")
    else:
        _serve(args)


def _seed(db: Path, name: str) -> None:
    from custompms.seed import seed
    from custompms.store import Store

    store = Store(db)
    try:
        created = seed(store, name)
    finally:
        store.close()
    summary = ", ".join(f"{count} {resource}" for resource, count in created.items())
    print(f"seeded {db} ({name}): created {summary}")


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from custompms.app import create_app
    from custompms.faults import Faults, QuietDroppedConnections
    from custompms.store import Store

    if args.seed:
        _seed(args.db, args.seed)
    faults = Faults(
        rate=args.fault_rate,
        after_write_rate=args.fault_after_write_rate,
        slow_seconds=max(0, args.fault_slow_ms) / 1000,
        seed=args.fault_seed,
    )
    store = Store(args.db)
    try:
        app = create_app(store, token=args.token, faults=faults)
        print(f"custompms serving {args.db} on http://{args.host}:{args.port}", file=sys.stderr)
        if faults.enabled:
            print(
                f"custompms injecting faults: rate {faults.rate}, after-write rate "
                f"{faults.after_write_rate}, seed {faults.seed}",
                file=sys.stderr,
            )
            logging.getLogger("uvicorn.error").addFilter(QuietDroppedConnections())
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    finally:
        store.close()
