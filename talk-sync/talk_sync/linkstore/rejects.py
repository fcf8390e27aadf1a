"""Rejects: records a destination refused or that still wait, kept for a later run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from talk_sync.linkstore.database import Database
from talk_sync.models import RejectRow
from talk_sync.normalize import to_jsonable
from talk_sync.refs import Ref, Side
from talk_sync.timestamps import as_utc, utcnow


@dataclass(frozen=True)
class Reject:
    """A record the destination refused, kept for retry on the next run."""

    side: Side  #: the destination that refused it
    stream: str
    source_key: str  #: the record's namespaced source ref (or another stable key)
    record: dict[str, Any]  #: the record as the target received it, to replay it
    reason: str
    field: str | None
    attempts: int
    first_seen: datetime
    last_seen: datetime
    #: Why it cannot be applied as things stand (a person must act); ``None``: retried.
    stuck: str | None = None
    #: The refused values, hashed: a record arriving with other values is sent at once.
    fingerprint: str | None = None
    #: When it is sent again with the same values (``None``: on the next run).
    retry_at: datetime | None = None

    def due(self, now: datetime) -> bool:
        """Whether the next run may send it again as it is (its back-off is over)."""
        return self.retry_at is None or self.retry_at <= now


@dataclass(frozen=True)
class Backoff:
    """How long a refused record waits before it is sent again with the same values.

    ``first`` after the first refusal, then twice the previous wait per refusal of the same
    values, at most ``cap``: 15 min, 30 min, 1 h ... 24 h by default, instead of a resend on
    every run (96 a day on a 15-minute schedule). New values start again from ``first``.
    """

    first: timedelta = timedelta(minutes=15)
    cap: timedelta = timedelta(hours=24)

    def after(self, previous: timedelta | None) -> timedelta:
        """The wait after a refusal; ``previous``: the wait before it (same values)."""
        if previous is None:
            return min(self.first, self.cap)
        return min(max(previous * 2, self.first), self.cap)


def _to_reject(row: RejectRow) -> Reject:
    return Reject(
        side=Side(row.side),
        stream=row.stream,
        source_key=row.source_key,
        record=row.record,
        reason=row.reason,
        field=row.field,
        attempts=row.attempts,
        first_seen=as_utc(row.first_seen),
        last_seen=as_utc(row.last_seen),
        stuck=row.stuck,
        fingerprint=row.fingerprint,
        retry_at=as_utc(row.retry_at) if row.retry_at is not None else None,
    )


class Rejects(Database):
    """The link store's rejects."""

    def record_reject(
        self,
        side: Side | str,
        stream: str,
        source_key: Ref | str,
        record: Mapping[str, Any],
        reason: str,
        field: str | None = None,
        *,
        stuck: str | None = None,
        fingerprint: str | None = None,
        backoff: Backoff | None = None,
    ) -> Reject:
        """Keep a record the destination ``side`` refused; a repeat bumps ``attempts``.

        ``stuck`` says why it cannot be applied as things stand (a person must act).
        ``fingerprint`` identifies the refused values; with ``backoff`` the record is not
        sent again with the same values before its ``retry_at`` (see :class:`Backoff`).
        Without it (a record waiting for a reference, say) the next run retries it.
        """
        side, key = Side(side), str(source_key)

        def keep(session: Session) -> Reject:
            row = self._reject_row(session, side, stream, key)
            now = utcnow()
            if row is None:
                row = RejectRow(
                    side=side.value, stream=stream, source_key=key, attempts=0, first_seen=now
                )
                session.add(row)
                self._remember_reject(row)
            previous = None  # the last wait, when these values were refused before
            same_values = fingerprint is not None and row.fingerprint == fingerprint
            if same_values and row.retry_at is not None:
                previous = as_utc(row.retry_at) - as_utc(row.last_seen)
            row.record = to_jsonable(dict(record))
            row.reason, row.field, row.stuck = reason, field, stuck
            row.fingerprint = fingerprint
            row.retry_at = None if backoff is None else now + backoff.after(previous)
            row.attempts += 1
            row.last_seen = now
            return _to_reject(row)

        return self.retrying(keep)

    def mark_stuck(self, side: Side | str, stream: str, source_key: Ref | str, why: str) -> None:
        """Flag a kept record as stuck (a person must act), e.g. once it is too old."""
        with self._session() as session:
            row = self._reject_row(session, Side(side), stream, str(source_key))
            if row is not None:
                row.stuck = why

    def clear_reject(self, side: Side | str, stream: str, source_key: Ref | str) -> bool:
        """Forget a reject once a retry succeeded; ``True`` if there was one."""
        side, key = Side(side), str(source_key)
        with self._session() as session:
            row = self._reject_row(session, side, stream, key)
            if row is not None:
                session.delete(row)
                cache = self._cached_rows()
                if cache is not None:
                    cache[_cache_key(side, stream, key)] = (None, True)
            return row is not None

    def preload_rejects(self, side: Side | str, source_keys: Iterable[Ref | str]) -> None:
        """Read every reject of ``side`` for the records ``source_keys`` name (any stream) in
        one query per few hundred, for the calls that follow in the current transaction
        (:meth:`record_reject`, :meth:`clear_reject`): they then query nothing."""
        cache = self._cached_rows()
        if cache is None:
            raise RuntimeError("preload_rejects() reads for a transaction: call it inside one")
        side = Side(side)
        keys = sorted(
            key
            for key in {str(key) for key in source_keys}
            if ("rejects of", side.value, key) not in cache
        )
        with self._session() as session:
            for start in range(0, len(keys), _CHUNK):
                query = select(RejectRow).where(
                    RejectRow.side == side.value,
                    RejectRow.source_key.in_(keys[start : start + _CHUNK]),
                )
                for row in session.scalars(query):
                    self._remember_reject(row)
        for key in keys:
            cache[("rejects of", side.value, key)] = (None, True)

    def _reject_row(self, session: Session, side: Side, stream: str, key: str) -> RejectRow | None:
        """The reject of a record: from the transaction's cache when read already."""
        cache = self._cached_rows()
        name = _cache_key(side, stream, key)
        if cache is not None:
            if name in cache:
                return cast("RejectRow | None", cache[name][0])
            if ("rejects of", side.value, key) in cache:
                return None  # every reject of the record was read: it has none here
        row = session.scalars(_reject_query(side, stream, key)).one_or_none()
        if cache is not None:
            cache[name] = (row, True)
        return row

    def _remember_reject(self, row: RejectRow) -> None:
        cache = self._cached_rows()
        if cache is not None:
            cache[_cache_key(Side(row.side), row.stream, row.source_key)] = (row, True)

    def retry_now(
        self,
        *,
        side: Side | str | None = None,
        stream: str | None = None,
        source_keys: Iterable[Ref | str] | None = None,
    ) -> list[Reject]:
        """Make kept records due on the next run: clear their back-off and their stuck mark.

        Matches the rejects of ``side`` and/or ``stream`` and, when given, of ``source_keys``
        only. ``retry_at`` is cleared, so the next run sends each again as it is, and so is
        ``stuck`` (that run marks it again if it still cannot be applied). ``attempts`` and
        ``first_seen`` stay. Returns the matched rejects as they are now.
        """
        query = _rejects_of(side, stream)
        if source_keys is not None:
            query = query.where(RejectRow.source_key.in_([str(key) for key in source_keys]))
        with self._session() as session:
            rows = list(session.scalars(query))
            for row in rows:
                row.retry_at = None
                row.stuck = None
            session.flush()
            return [_to_reject(row) for row in rows]

    def rejects(
        self,
        *,
        side: Side | str | None = None,
        stream: str | None = None,
        stuck: bool | None = None,
    ) -> list[Reject]:
        """The records kept for retry, oldest first, optionally for one side and/or stream.

        ``stuck=True`` gives only those a person must act on, ``False`` only the others.
        """
        query = _rejects_of(side, stream)
        if stuck is not None:
            query = query.where(RejectRow.stuck.isnot(None) if stuck else RejectRow.stuck.is_(None))
        with self._session() as session:
            return [_to_reject(row) for row in session.scalars(query)]


def _rejects_of(side: Side | str | None, stream: str | None) -> Any:
    """The kept records of ``side`` and/or ``stream`` (all when ``None``), oldest first."""
    query = select(RejectRow).order_by(RejectRow.id)
    if side is not None:
        query = query.where(RejectRow.side == Side(side).value)
    if stream is not None:
        query = query.where(RejectRow.stream == stream)
    return query


#: Source keys per ``IN`` list.
_CHUNK = 400


def _cache_key(side: Side, stream: str, key: str) -> tuple[str, str, str, str]:
    """A reject's name in the transaction's row cache (beside the links' refs)."""
    return ("reject", side.value, stream, key)


def _reject_query(side: Side, stream: str, key: str) -> Any:
    return select(RejectRow).where(
        RejectRow.side == side.value, RejectRow.stream == stream, RejectRow.source_key == key
    )
