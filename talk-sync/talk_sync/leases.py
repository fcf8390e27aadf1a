"""Leases in the link store: the sync lock and each run's claim on the creates it sends.

A lease is a named row with a holder and an expiry. Its holder renews it while it works
(:class:`LeaseKeeper`); a lease is *live* while it has not expired and, when the holder ran
on this host, while the holder's process still exists. A dead lease may be taken over at
once on the same host (the process is known to be gone) and after its expiry elsewhere.

Two kinds are used:

- ``run:<uuid>``: one per target run. A pending create names the run that claimed it
  (``claimed_by``); no other run sends that create while the claim is live, so two
  overlapping runs never create the same record twice. A crashed run's claims die with it.
- ``sync-lock[:<scope>]``: held by the ``meltano run`` process of a ``sync`` job for both
  of its blocks (``talk-sync lock`` / ``talk-sync unlock``), so a second sync exits before
  it writes anything. Correctness never depends on it: it saves the wasted work.

Clocks: expiries are compared with this machine's UTC clock; hosts sharing a link store
must keep their clocks in sync (NTP), as for any lease.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import psutil
from sqlalchemy import select
from sqlalchemy.orm import Session

from talk_sync.models import LeaseRow
from talk_sync.timestamps import as_utc, format_clock, utcnow

if TYPE_CHECKING:
    from talk_sync.linkstore import LinkStore

logger = logging.getLogger(__name__)

#: How long a lease lives without renewal. A crashed holder on another host blocks its
#: lease this long at most; one on this host is detected at once.
DEFAULT_TTL = timedelta(seconds=120)
#: Name prefix of the sync lock (see :func:`sync_lock_name`).
SYNC_LOCK = "sync-lock"


def sync_lock_name(scope: str | None = None) -> str:
    """The sync lock's lease name, one per scope (e.g. a tenant's state-id suffix)."""
    return f"{SYNC_LOCK}:{scope}" if scope else SYNC_LOCK


@dataclass(frozen=True)
class Process:
    """A process, told apart from a later one that reuses its pid by its start time."""

    host: str
    pid: int
    started: float

    @classmethod
    def of(cls, pid: int | None = None) -> Process:
        """This process, or the local process ``pid``."""
        pid = os.getpid() if pid is None else pid
        return cls(socket.gethostname(), pid, _start_time(pid) or 0.0)

    @classmethod
    def parent(cls) -> Process:
        """The process that started this one: ``meltano`` for a plugin it runs."""
        return cls.of(os.getppid())

    def same_as(self, other: Process) -> bool:
        """The same process (host, pid and start time)."""
        return (
            self.host == other.host
            and self.pid == other.pid
            and abs(self.started - other.started) < 1.0
        )

    def alive(self) -> bool | None:
        """Whether it still runs; ``None`` when it ran on another host (cannot tell)."""
        if self.host != socket.gethostname():
            return None
        started = _start_time(self.pid)
        return started is not None and abs(started - self.started) < 1.0

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"


def _start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


@dataclass(frozen=True)
class Lease:
    """One lease, detached from the database."""

    name: str
    holder: str
    process: Process
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    info: Mapping[str, Any]

    def live(self, now: datetime | None = None) -> bool:
        """Not expired, and on this host its holder process still runs."""
        if self.expires_at <= (now or utcnow()):
            return False
        return self.process.alive() is not False

    def describe(self) -> str:
        """E.g. ``pid 41 on web-1 since 10:02:03Z, renewed 10:04:33Z``, for messages."""
        acquired, renewed = format_clock(self.acquired_at), format_clock(self.renewed_at)
        return f"{self.process} since {acquired}, renewed {renewed}"


def _to_lease(row: LeaseRow) -> Lease:
    return Lease(
        name=row.name,
        holder=row.holder,
        process=Process(row.host, row.pid, row.pid_started),
        acquired_at=as_utc(row.acquired_at),
        renewed_at=as_utc(row.renewed_at),
        expires_at=as_utc(row.expires_at),
        info=dict(row.info or {}),
    )


class LeaseHeldError(RuntimeError):
    """Another live holder has the lease."""

    def __init__(self, lease: Lease) -> None:
        super().__init__(f"{lease.name} is held by {lease.describe()}")
        self.lease = lease


@dataclass(frozen=True)
class Acquired:
    """A lease just taken, and the dead holder's lease it replaced, if any."""

    lease: Lease
    replaced: Lease | None = None


class Leases:
    """Lease operations on a link store (its engine and transactions)."""

    def __init__(self, store: LinkStore) -> None:
        self.store = store

    def _row(self, session: Session, name: str) -> LeaseRow | None:
        # FOR UPDATE: on PostgreSQL a second taker waits and then sees the first one's row.
        query = select(LeaseRow).where(LeaseRow.name == name).with_for_update()
        return session.scalars(query).one_or_none()

    def get(self, name: str) -> Lease | None:
        """The lease ``name``, live or not."""
        with self.store.session() as session:
            row = session.get(LeaseRow, name)
            return _to_lease(row) if row else None

    def is_live(self, name: str | None) -> bool:
        """Whether the lease ``name`` exists and is live (``None``: no lease, not live)."""
        if not name:
            return False
        lease = self.get(name)
        return lease is not None and lease.live()

    def acquire(
        self,
        name: str,
        holder: str,
        process: Process,
        *,
        ttl: timedelta = DEFAULT_TTL,
        info: Mapping[str, Any] | None = None,
    ) -> Acquired:
        """Take the lease, or take it over from a dead holder; :class:`LeaseHeldError` if live.

        The same holder acquiring again renews it.
        """

        def take(session: Session) -> Acquired:
            now = utcnow()
            row = self._row(session, name)
            replaced = None
            if row is not None:
                current = _to_lease(row)
                if current.holder != holder and current.live(now):
                    raise LeaseHeldError(current)
                if current.holder != holder:
                    replaced = current
                    session.delete(row)
                    session.flush()
                else:
                    row.renewed_at, row.expires_at = now, now + ttl
                    session.flush()
                    return Acquired(_to_lease(row))
            row = LeaseRow(
                name=name,
                holder=holder,
                host=process.host,
                pid=process.pid,
                pid_started=process.started,
                acquired_at=now,
                renewed_at=now,
                expires_at=now + ttl,
                info=dict(info or {}),
            )
            session.add(row)
            session.flush()
            return Acquired(_to_lease(row), replaced)

        return self.store.retrying(take)

    def renew(self, name: str, holder: str, *, ttl: timedelta = DEFAULT_TTL) -> Lease | None:
        """Push the expiry out; ``None`` when the lease is no longer the holder's (lost)."""
        with self.store.session() as session:
            row = self._row(session, name)
            if row is None or row.holder != holder:
                return None
            now = utcnow()
            row.renewed_at, row.expires_at = now, now + ttl
            session.flush()
            return _to_lease(row)

    def update_info(self, name: str, holder: str, **info: Any) -> Lease | None:
        """Merge ``info`` into the lease's notes (e.g. stuck records seen during a sync)."""
        with self.store.session() as session:
            row = self._row(session, name)
            if row is None or row.holder != holder:
                return None
            row.info = {**(row.info or {}), **info}
            session.flush()
            return _to_lease(row)

    def release(self, name: str, holder: str) -> Lease | None:
        """Give the lease up; returns it as it was, or ``None`` when the holder had lost it."""
        with self.store.session() as session:
            row = self._row(session, name)
            if row is None or row.holder != holder:
                return None
            lease = _to_lease(row)
            session.delete(row)
            return lease


def new_holder_id() -> str:
    """A fresh holder id."""
    return uuid.uuid4().hex


class LeaseKeeper:
    """Renews leases from a background thread while a run works.

    ``lost`` is set when a renewal finds the lease taken over (this run was presumed dead):
    the run must then stop writing. Renewal errors (e.g. the database briefly unreachable)
    are logged and retried at the next tick; the lease expires only after its TTL.
    """

    def __init__(
        self,
        leases: Leases,
        *,
        ttl: timedelta = DEFAULT_TTL,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.leases = leases
        self.ttl = ttl
        self.held: dict[str, str] = {}  # lease name -> holder id
        self.lost: list[str] = []
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def keep(self, name: str, holder: str) -> None:
        """Renew the lease ``name`` (held by ``holder``) until :meth:`stop`."""
        self.held[name] = holder
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="talk-sync-leases", daemon=True)
            self._thread.start()

    def renew_now(self) -> None:
        """Renew every kept lease at once (also what the thread does each tick)."""
        for name, holder in list(self.held.items()):
            try:
                renewed = self.leases.renew(name, holder, ttl=self.ttl)
            except Exception as error:
                logger.warning("Could not renew lease %s: %s", name, error)
                continue
            if renewed is None:
                if self.held.pop(name, None) is None:
                    continue  # the renewing thread and a caller both saw it: noted once
                logger.error("Lease %s was taken over by another run", name)
                self.lost.append(name)
                if self._on_lost is not None:
                    self._on_lost(name)

    def _run(self) -> None:
        interval = max(self.ttl.total_seconds() / 4, 0.05)
        while not self._stop.wait(interval):
            self.renew_now()

    def stop(self) -> None:
        """Stop renewing (the leases stay as they are: release them yourself)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
