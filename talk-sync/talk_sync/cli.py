"""The ``talk-sync`` command: the sync job's lock, and the records a person must act on.

The ``sync`` job in meltano.yml runs ``talk-sync lock`` first and ``talk-sync unlock`` last
(a Meltano utility plugin), so that its two blocks run as one:

``talk-sync lock``
    Takes the link store's sync lock for the ``meltano`` process running the job (the
    targets of both blocks keep it renewed). Exits 1 with one line, before any block
    writes, when another sync holds it or one of the sync's pipelines still runs. A lock
    left by a sync that died is taken over, and that sync's pipeline runs are marked failed
    in Meltano's system database, so that this sync runs whole at once.
``talk-sync unlock``
    Releases the lock; exits 1 when a block reported stuck records (``fail_on_stuck``),
    listing them, or records refused and not written (``fail_on_rejects``).
``talk-sync stuck``
    Lists the stuck records and their causes (the README says how to clear each).
``talk-sync links ...``, ``talk-sync rejects ...``
    Manage links and kept records by hand (:mod:`talk_sync.links_cli`).
``talk-sync report [--html] [--output FILE] [--runs N]``
    The recent runs from the report directory: one line each, or with ``--html`` one
    self-contained page (:mod:`talk_sync.report_html`), by default ``report.html`` in the
    report directory (``--output -``: standard output).

Settings come from the environment (Meltano exports the utility's settings so):
``TALK_SYNC_LINK_STORE_URL``, ``TALK_SYNC_PIPELINES`` (the job's pipelines, comma-separated,
as ``<tap>-to-<target>``), ``TALK_SYNC_LEASE_SECONDS``, ``TALK_SYNC_REPORT_DIR``; and from
Meltano itself ``MELTANO_DATABASE_URI``, ``MELTANO_ENVIRONMENT``, ``MELTANO_RUN_STATE_ID_SUFFIX``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from talk_sync.leases import Lease, LeaseHeldError, Process, new_holder_id, sync_lock_name
from talk_sync.links_cli import add_commands
from talk_sync.linkstore import DEFAULT_PATH, LinkStore
from talk_sync.linkstore.database import sqlite_file
from talk_sync.meltano_runs import MeltanoRuns, state_ids
from talk_sync.report import one_line
from talk_sync.report_files import recent_runs, report_dir, summary_line
from talk_sync.report_html import LinkedPairs, render_html
from talk_sync.run_lease import lease_ttl, lock_scope
from talk_sync.timestamps import format_clock, format_timestamp, utcnow

#: The sync job's pipelines (meltano.yml), whose Meltano runs the lock looks after.
DEFAULT_PIPELINES = "tap-custompms-to-target-asana-talk,tap-asana-talk-to-target-custompms"
#: Stuck records listed by ``unlock`` before "and N more".
LISTED = 20


def _say(message: str) -> None:
    print(f"talk-sync: {message}", file=sys.stderr, flush=True)


def _store(args: argparse.Namespace) -> LinkStore:
    return LinkStore(args.link_store_url)


def lock(args: argparse.Namespace) -> int:
    """``talk-sync lock``: see the module docstring."""
    store = _store(args)
    name = sync_lock_name(lock_scope())
    try:
        try:
            acquired = store.leases.acquire(
                name, new_holder_id(), Process.parent(), ttl=lease_ttl()
            )
        except LeaseHeldError as held:
            expires = format_clock(held.lease.expires_at)
            _say(
                f"another sync holds the lock ({held.lease.describe()}); this sync wrote "
                f"nothing. Run it again when that one ends (if it died, its lock expires at "
                f"{expires})"
            )
            return 1
        if acquired.replaced is not None:
            _say(f"took over the lock of a sync that died ({acquired.replaced.describe()})")
        busy = _settle_meltano_runs(args.pipelines, acquired.replaced)
        if busy:
            store.leases.release(name, acquired.lease.holder)
            _say(busy)
            return 1
        _say(f"sync lock taken ({acquired.lease.describe()})")
        return 0
    finally:
        store.close()


def _settle_meltano_runs(pipelines: str, dead: Lease | None) -> str | None:
    """Fail the dead sync's pipeline runs; the message when a pipeline still runs."""
    uri, environment = os.environ.get("MELTANO_DATABASE_URI"), os.environ.get("MELTANO_ENVIRONMENT")
    if not uri or not environment:
        return None  # not run by Meltano: no pipeline guard to settle
    names = [name.strip() for name in pipelines.split(",") if name.strip()]
    ids = state_ids(environment, names, lock_scope())
    runs = MeltanoRuns(uri)
    try:
        if dead is not None:
            theirs = [run for run in runs.running(ids) if run.started_at >= dead.acquired_at]
            if theirs:
                reason = f"its sync ({dead.process}) died; marked failed by talk-sync lock"
                runs.fail(theirs, reason)
                _say(f"marked {len(theirs)} pipeline runs of the dead sync failed in Meltano")
        now = utcnow()
        for run in runs.running(ids):
            if run.valid_until > now:
                started = format_clock(run.started_at)
                return (
                    f"pipeline {run.state_id} is still running (started {started}); "
                    "this sync wrote nothing. Run it again when that one ends (if it died, "
                    f"Meltano gives up on it at {format_clock(run.valid_until)})"
                )
        return None
    finally:
        runs.close()


def unlock(args: argparse.Namespace) -> int:
    """``talk-sync unlock``: see the module docstring."""
    store = _store(args)
    name = sync_lock_name(lock_scope())
    try:
        lease = store.leases.get(name)
        if lease is None or not lease.process.same_as(Process.parent()):
            _say("this sync did not hold the lock at its end (it expired, or was taken over)")
            notes: dict[str, object] = {}
        else:
            notes = dict(lease.info)
            store.leases.release(name, lease.holder)
            _say("sync lock released")
        stuck, refused = _noted(notes, "stuck"), _noted(notes, "rejects")
        if refused:
            _say(
                f"the sync left records refused and not written ({refused}; fail_on_rejects): "
                "see the run reports, or talk-sync rejects list"
            )
        if stuck:
            _say(f"the sync left stuck records ({stuck}); a person must act:")
            _list_stuck(store)
        return 1 if stuck or refused else 0
    finally:
        store.close()


def _noted(notes: dict[str, object], what: str) -> str:
    """The counts the sync's blocks noted on the lock, e.g. ``1 in custompms-to-asana``."""
    counts = {key.partition(":")[2]: n for key, n in notes.items() if key.startswith(f"{what}:")}
    return ", ".join(f"{n} in {direction}" for direction, n in sorted(counts.items()))


def _list_stuck(store: LinkStore, limit: int | None = LISTED) -> int:
    records = store.rejects(stuck=True)
    for reject in records[:limit]:
        where = f" field {reject.field}" if reject.field else ""
        print(
            f"  stuck {reject.side} {reject.stream} {reject.source_key}{where}: {reject.stuck}",
            file=sys.stderr,
        )
    if limit is not None and len(records) > limit:
        print(f"  ... and {len(records) - limit} more (talk-sync stuck)", file=sys.stderr)
    return len(records)


def stuck(args: argparse.Namespace) -> int:
    """``talk-sync stuck``: list the stuck records."""
    store = _store(args)
    try:
        count = _list_stuck(store, limit=None)
        _say(f"{count} stuck records" + ("; see the README's 'Stuck records'" if count else ""))
        return 0
    finally:
        store.close()


def report(args: argparse.Namespace) -> int:
    """``talk-sync report``: see the module docstring."""
    directory = report_dir(args.report_dir)
    runs, problems = recent_runs(directory, args.runs)
    for problem in problems:
        _say(f"not read: {problem}")
    if not args.html:
        for run in runs:
            print(summary_line(run))
        _say(f"{len(runs)} runs from {directory}" + ("" if runs else " (none found)"))
        return 0
    page = render_html(
        runs,
        _linked_pairs(args.link_store_url),
        source=str(directory),
        generated_at=format_timestamp(utcnow()) or "",
        problems=problems,
    )
    if args.output == "-":
        sys.stdout.write(page)
        return 0
    output = Path(args.output) if args.output else directory / "report.html"
    output.parent.mkdir(parents=True, exist_ok=True)
    # Owner only, as the reports themselves: the page holds record values.
    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(page)
    _say(f"{len(runs)} runs rendered to {output}")
    return 0


def _linked_pairs(url: str) -> LinkedPairs:
    """The link store's links per flow and status; a store that is not there is not made."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return LinkedPairs({}, f"no link store at {path} (no sync has run yet?)")
    try:
        store = LinkStore(url)
    except Exception as error:  # any reason: the page still shows the runs
        return LinkedPairs({}, one_line(str(error)))
    try:
        return LinkedPairs(store.link_counts())
    except Exception as error:
        return LinkedPairs({}, one_line(str(error)))
    finally:
        store.close()


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="talk-sync", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--link-store-url",
        default=env("TALK_SYNC_LINK_STORE_URL") or DEFAULT_PATH,
        help="SQLite path or SQLAlchemy URL; TALK_SYNC_LINK_STORE_URL (%(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    take = commands.add_parser("lock", help="take the sync lock (first task of the sync job)")
    take.add_argument(
        "--pipelines",
        default=env("TALK_SYNC_PIPELINES") or DEFAULT_PIPELINES,
        help="the job's pipelines as <tap>-to-<target>, comma-separated; TALK_SYNC_PIPELINES",
    )
    take.set_defaults(run=lock)
    commands.add_parser("unlock", help="release it (last task)").set_defaults(run=unlock)
    commands.add_parser("stuck", help="list the stuck records").set_defaults(run=stuck)
    summary = commands.add_parser(
        "report", help="the recent runs, one line each, or as one HTML page (--html)"
    )
    summary.add_argument("--html", action="store_true", help="render one self-contained page")
    summary.add_argument(
        "--output",
        help="where the page goes ('-': standard output); default report.html in the "
        "report directory",
    )
    summary.add_argument("--runs", type=int, default=40, help="how many runs (%(default)s)")
    summary.add_argument(
        "--report-dir",
        default=env("TALK_SYNC_REPORT_DIR"),
        help="the targets' report directory; TALK_SYNC_REPORT_DIR (.meltano/talk-sync/reports)",
    )
    summary.set_defaults(run=report)
    add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``talk-sync`` console script."""
    args = _parser().parse_args(argv)
    sys.exit(args.run(args))


if __name__ == "__main__":
    main()
