"""A target run's lease in the link store: the claim on its creates, and the sync lock.

Each target run holds a lease ``run:<id>`` for as long as it works (renewed in the
background). The pending creates it begins are claimed with that id, so an overlapping run
leaves them alone while this run lives, and takes them over once it is gone.

When a ``sync`` job holds the sync lock (``talk-sync lock``, see :mod:`talk_sync.cli`), the
lock's holder is the ``meltano`` process that also started this target: the target keeps
the lock renewed while it works. A target started by any other process while the lock is
live exits before it writes anything.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

from talk_sync.leases import (
    DEFAULT_TTL,
    Lease,
    LeaseKeeper,
    Process,
    new_holder_id,
    sync_lock_name,
)
from talk_sync.linkstore import LinkStore

logger = logging.getLogger(__name__)

#: Environment variable overriding the lease time-to-live, in seconds.
LEASE_SECONDS_ENV = "TALK_SYNC_LEASE_SECONDS"
#: The sync lock's scope: one lock per state-id suffix (e.g. one per tenant).
SCOPE_ENV = "MELTANO_RUN_STATE_ID_SUFFIX"


def lease_ttl() -> timedelta:
    """The lease TTL: ``$TALK_SYNC_LEASE_SECONDS``, else :data:`DEFAULT_TTL`."""
    seconds = os.environ.get(LEASE_SECONDS_ENV)
    return timedelta(seconds=float(seconds)) if seconds else DEFAULT_TTL


def lock_scope() -> str | None:
    """The sync lock's scope for this process (its state-id suffix), if any."""
    return os.environ.get(SCOPE_ENV) or None


class SyncLockedError(RuntimeError):
    """Another process's sync holds the lock: this run must not write."""

    def __init__(self, lock: Lease) -> None:
        expires = lock.expires_at.strftime("%H:%M:%SZ")
        super().__init__(
            f"another sync holds the link store's lock ({lock.describe()}); this run wrote "
            f"nothing. Run again when it ends (if it died, its lock expires at {expires})"
        )
        self.lock = lock


class RunLeaseLostError(RuntimeError):
    """The run's lease was taken over (it was presumed dead): it must stop writing."""


class RunLease:
    """The lease of one target run; :meth:`start` it before the first write."""

    def __init__(self, store: LinkStore, *, kind: str, ttl: timedelta | None = None) -> None:
        self.store = store
        self.kind = kind
        self.ttl = ttl or lease_ttl()
        self.holder = new_holder_id()
        #: The claim its pending creates carry.
        self.claim = f"run:{self.holder}"
        #: The sync lock this run works under (held by the ``meltano`` that started it).
        self.sync_lock: Lease | None = None
        self.keeper = LeaseKeeper(store.leases, ttl=self.ttl)

    def start(self) -> None:
        """Take the run's lease; join its sync job's lock, or refuse another job's.

        Raises :class:`SyncLockedError` when another process's sync holds the lock.
        """
        lock = self.store.leases.get(sync_lock_name(lock_scope()))
        if lock is not None and lock.live():
            if not lock.process.same_as(Process.parent()):
                raise SyncLockedError(lock)
            self.sync_lock = lock
            self.keeper.keep(lock.name, lock.holder)
        self.store.leases.acquire(
            self.claim, self.holder, Process.of(), ttl=self.ttl, info={"kind": self.kind}
        )
        self.keeper.keep(self.claim, self.holder)

    def check(self) -> None:
        """Raise :class:`RunLeaseLostError` when another run took this run's claim over."""
        if self.claim in self.keeper.lost:
            raise RunLeaseLostError(
                f"this run's lease {self.claim} was taken over by another run (it was "
                f"presumed dead after {self.ttl.total_seconds():.0f}s without renewal); "
                "stopping before any further write"
            )

    def note(self, direction: str, **counts: int) -> bool:
        """Tell the sync job (its lock) what this run left for its last step to fail on,
        e.g. ``stuck=3`` or ``rejects=2``; ``False``: this run is in no sync job."""
        if self.sync_lock is None:
            return False
        lock = self.sync_lock
        info = {f"{what}:{direction}": count for what, count in counts.items()}
        noted = self.store.leases.update_info(lock.name, lock.holder, **info)
        return noted is not None

    def stop(self) -> None:
        """Stop renewing; give the run's lease up (the sync lock stays with its job)."""
        self.keeper.stop()
        try:
            self.store.leases.release(self.claim, self.holder)
        except Exception as error:
            logger.warning("Could not release lease %s: %s", self.claim, error)
