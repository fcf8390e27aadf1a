"""``asana-sandbox serve`` and ``asana-sandbox seed``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from asana_sandbox.sandbox import Settings
from asana_sandbox.seeds.synthetic import Shape, write


def _rate(text: str) -> float:
    """A probability for argparse: 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text}")
    return value


def _seconds(text: str) -> float:
    """A duration in seconds for argparse: 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text}")
    return value


def _count(text: str) -> int:
    """A count for argparse: 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asana-sandbox", description="An offline Asana API.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API under /api/1.0")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8085)
    serve.add_argument(
        "--token", action="append", required=True, help="accepted bearer token (repeatable)"
    )
    serve.add_argument(
        "--read-only-token", action="append", default=[], help="token that gets 403 on writes"
    )
    source = serve.add_mutually_exclusive_group()
    source.add_argument(
        "--data", type=Path, help="JSON state file: loaded if it exists, saved after writes"
    )
    source.add_argument(
        "--seed",
        help="start from a named seed (demo, overlap, empty); with --data when the file is new",
    )
    serve.add_argument(
        "--seed-if-new", help="with --data: the seed to use when the file does not exist yet"
    )
    serve.add_argument("--latency-ms", type=int, default=0, help="added to every API call (async)")
    serve.add_argument(
        "--rate-limit-per-minute",
        type=int,
        default=None,
        help="per-token quota (Asana: 150 or 1500)",
    )
    serve.add_argument("--max-concurrent-reads", type=int, default=50)
    serve.add_argument("--max-concurrent-writes", type=int, default=15)
    serve.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="share of calls that fail (500, 503, slow, drop)",
    )
    serve.add_argument(
        "--fault-slow-ms", type=int, default=3000, help="extra delay of a 'slow' fault"
    )
    serve.add_argument(
        "--fault-after-write-rate",
        type=_rate,
        default=0.0,
        help="share of applied writes answered with 500, 503 or a dropped connection anyway",
    )
    serve.add_argument(
        "--fault-seed", type=int, default=None, help="make injected faults reproducible"
    )
    serve.add_argument(
        "--sync-token-max-events", type=int, default=10_000, help="events kept per subscription"
    )
    serve.add_argument("--sync-token-max-age-hours", type=float, default=24.0)
    live = serve.add_argument_group(
        "live behaviours", "off by default: the sandbox is then deterministic"
    )
    live.add_argument(
        "--event-delay-s",
        type=_seconds,
        default=0.0,
        help="events reach GET /events this many seconds after the change (live: ~1 min)",
    )
    live.add_argument(
        "--event-drop-rate",
        type=_rate,
        default=0.0,
        help="share of events never delivered (live delivery is at most once); --fault-seed",
    )
    live.add_argument(
        "--subtask-events",
        choices=("project", "none"),
        default="project",
        help="whether a subtask's field changes reach its ancestors' project streams",
    )
    live.add_argument(
        "--offset-ttl-s",
        type=_seconds,
        default=None,
        help="pagination offsets older than this answer 400 (default: never expire)",
    )
    live.add_argument(
        "--large-domain-projects",
        type=_count,
        default=None,
        metavar="N",
        help="workspace-wide project lists answer 504 beyond N projects (per team works)",
    )
    live.add_argument(
        "--batch-order",
        choices=("listed", "shuffled"),
        default="listed",
        help="the order /batch runs its actions in (live: in parallel, no guaranteed order); "
        "shuffled is seeded by --fault-seed",
    )
    serve.add_argument("--log-level", default="warning")

    seed = commands.add_parser(
        "seed", help="write a deterministic synthetic workspace to a data file"
    )
    seed.add_argument("--out", type=Path, required=True)
    seed.add_argument("--projects", type=int, default=10)
    seed.add_argument(
        "--tasks", type=int, default=100, help="top-level tasks, spread over projects"
    )
    seed.add_argument("--subtasks", type=int, default=50, help="subtasks, spread over tasks")
    seed.add_argument("--workspaces", type=int, default=1)
    seed.add_argument("--teams", type=int, default=3)
    seed.add_argument("--users", type=int, default=10)
    seed.add_argument("--seed-value", type=int, default=1)
    return parser


class _QuietDroppedConnections(logging.Filter):
    """Drop uvicorn's error line for the connections the fault injector cuts on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing response."


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from asana_sandbox.app import create_app

    settings = Settings(
        tokens=tuple(args.token),
        read_only_tokens=tuple(args.read_only_token),
        data_file=args.data,
        seed=args.seed or args.seed_if_new,
        latency_ms=args.latency_ms,
        rate_limit_per_minute=args.rate_limit_per_minute,
        max_concurrent_reads=args.max_concurrent_reads,
        max_concurrent_writes=args.max_concurrent_writes,
        fault_rate=args.fault_rate,
        fault_slow_ms=args.fault_slow_ms,
        fault_seed=args.fault_seed,
        fault_after_write_rate=args.fault_after_write_rate,
        sync_token_max_events=args.sync_token_max_events,
        sync_token_max_age_hours=args.sync_token_max_age_hours,
        event_delay_s=args.event_delay_s,
        event_drop_rate=args.event_drop_rate,
        subtask_events=args.subtask_events,
        offset_ttl_s=args.offset_ttl_s,
        large_domain_projects=args.large_domain_projects,
        batch_order=args.batch_order,
    )
    app = create_app(settings)
    logging.getLogger("uvicorn.error").addFilter(_QuietDroppedConnections())
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)


def _seed(args: argparse.Namespace) -> None:
    shape = Shape(
        workspaces=args.workspaces,
        teams=args.teams,
        users=args.users,
        projects=args.projects,
        tasks=args.tasks,
        subtasks=args.subtasks,
        seed_value=args.seed_value,
    )
    started = time.perf_counter()
    counts = write(args.out, shape)
    elapsed = time.perf_counter() - started
    size = args.out.stat().st_size
    summary = ", ".join(f"{count} {name}" for name, count in counts.items())
    print(f"wrote {args.out} ({size / 1e6:.1f} MB) in {elapsed:.1f}s: {summary}")


def main(argv: Sequence[str] | None = None) -> None:
    """Console script entry point."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.command == "serve":
        _serve(args)
    else:
        _seed(args)


if __name__ == "__main__":
    main()
