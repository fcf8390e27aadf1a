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

Settings come from the environment (Meltano exports the utility's settings so):
``TALK_SYNC_LINK_STORE_URL``, ``TALK_SYNC_PIPELINES`` (the job's pipelines, comma-separated,
as ``<tap>-to-<target>``), ``TALK_SYNC_LEASE_SECONDS``; and from Meltano itself
``MELTANO_DATABASE_URI``, ``MELTANO_ENVIRONMENT``, ``MELTANO_RUN_STATE_ID_SUFFIX``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from talk_sync.leases import Lease, LeaseHeldError, Process, new_holder_id, sync_lock_name
from talk_sync.links_cli import add_commands
from talk_sync.linkstore import DEFAULT_PATH, LinkStore
from talk_sync.meltano_runs import MeltanoRuns, state_ids
from talk_sync.run_lease import lease_ttl, lock_scope
from talk_sync.timestamps import format_clock, utcnow

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
    add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``talk-sync`` console script."""
    args = _parser().parse_args(argv)
    sys.exit(args.run(args))


if __name__ == "__main__":
    main()
