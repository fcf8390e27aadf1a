"""The link store: which Asana record is linked to which Custompms record, and what each
side last looked like.

One row per linked pair (see DESIGN.md §4), unique on each side's key. SQLite by default
(a file path), any SQLAlchemy URL otherwise (PostgreSQL when pipelines run on several
machines). Every method runs in its own transaction unless called inside
:meth:`LinkStore.transaction`, which commits all of them at once: a target writes its batch,
records the links and snapshots in one transaction, and only then emits STATE.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session

from talk_sync.flows import FLOWS, Flow, flow_for, get_flow
from talk_sync.leases import Leases
from talk_sync.link_status import LinkStatus
from talk_sync.migrations import migrate
from talk_sync.models import LinkRow, RejectRow, utcnow
from talk_sync.normalize import to_jsonable
from talk_sync.private_dirs import make_private_dir
from talk_sync.refs import Ref, Side, parse_ref

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Transactions that lose a race to another process are run again this many times at most.
RETRY_ATTEMPTS = 6

#: Where the SQLite link store lives when no URL is configured (relative to the Meltano
#: project, which is the working directory of both targets).
DEFAULT_PATH = ".meltano/talk-sync/links.db"


class LinkError(ValueError):
    """A link operation would break the store's rules (e.g. link a record twice)."""


class ClaimedElsewhereError(LinkError):
    """Another live run has claimed this pending create: it must not be sent twice."""

    def __init__(self, link: Link, holder: str) -> None:
        super().__init__(f"the create of {link.source} is in flight in another run ({holder})")
        self.link = link
        self.holder = holder


@dataclass(frozen=True)
class Link:
    """One row of the link store, detached from the database."""

    id: int
    flow: Flow
    asana: Ref | None
    custompms: Ref | None
    asana_snapshot: dict[str, Any] | None
    custompms_snapshot: dict[str, Any] | None
    origin: Side
    status: LinkStatus
    #: Idempotency key of the create (kept after it completes, for the record).
    create_key: str | None
    create_attempt: int
    created_at: datetime
    updated_at: datetime
    #: The run lease holding a pending create (see :mod:`talk_sync.leases`).
    claimed_by: str | None = None
    #: The created record's identity on the other side, for the reverse direction.
    match_key: str | None = None

    def ref(self, side: Side | str) -> Ref | None:
        """This link's record on ``side`` (``None`` while its create is pending)."""
        return self.asana if Side(side) is Side.ASANA else self.custompms

    def snapshot(self, side: Side | str) -> dict[str, Any] | None:
        """The last-known synced values on ``side``, in that side's field names."""
        return self.asana_snapshot if Side(side) is Side.ASANA else self.custompms_snapshot

    @property
    def source(self) -> Ref:
        """The record that caused this link (on the ``origin`` side; always known)."""
        ref = self.ref(self.origin)
        assert ref is not None  # begin_create and link always set the origin's key
        return ref


@dataclass(frozen=True)
class Adopted:
    """What :meth:`LinkStore.adopt` did: the new link, and the unlinked rows it replaced."""

    link: Link
    #: The unlinked rows of either record, as they were: deleted, or (when one still named a
    #: third record) left to that record alone, so that it stays unlinked.
    replaced: tuple[Link, ...] = ()


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


def _aware(value: datetime) -> datetime:
    # SQLite gives back naive datetimes; everything we stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _to_link(row: LinkRow) -> Link:
    def ref(side: Side, record_type: str, key: str | None) -> Ref | None:
        return None if key is None else Ref(side, record_type, key)

    return Link(
        id=row.id,
        flow=get_flow(row.flow),
        asana=ref(Side.ASANA, row.asana_type, row.asana_gid),
        custompms=ref(Side.CUSTOMPMS, row.custompms_type, row.custompms_id),
        asana_snapshot=row.asana_snapshot,
        custompms_snapshot=row.custompms_snapshot,
        origin=Side(row.origin),
        status=LinkStatus(row.status),
        create_key=row.create_key,
        create_attempt=row.create_attempt,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
        claimed_by=row.claimed_by,
        match_key=row.match_key,
    )


def _to_reject(row: RejectRow) -> Reject:
    return Reject(
        side=Side(row.side),
        stream=row.stream,
        source_key=row.source_key,
        record=row.record,
        reason=row.reason,
        field=row.field,
        attempts=row.attempts,
        first_seen=_aware(row.first_seen),
        last_seen=_aware(row.last_seen),
        stuck=row.stuck,
        fingerprint=row.fingerprint,
        retry_at=_aware(row.retry_at) if row.retry_at is not None else None,
    )


def _snapshot(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else to_jsonable(dict(value))


def create_key_for(source: Ref | str, destination_type: str, attempt: int = 1) -> str:
    """The idempotency key of creating ``source`` on the other side (stable across reruns).

    ``attempt`` changes only after the destination refused a create for good
    (:meth:`LinkStore.fail_create`), so a replay never returns the refusal again.
    """
    source = parse_ref(source)
    return f"talk-sync/{source}/{source.side.other.value}-{destination_type}/{attempt}"


def _json_dumps(value: Any) -> str:
    # Snapshots may hold dates or sets a target parsed; store them in their JSON spelling.
    return json.dumps(to_jsonable(value), sort_keys=True)


class LinkStoreConfigError(ValueError):
    """The link store URL cannot be used as given (the message says what to do)."""


#: The extra that installs each backend's driver.
_DRIVER_EXTRAS = {"postgresql": ("psycopg", "talk-sync[postgres]")}


def _driver_error(url: URL, error: Exception) -> LinkStoreConfigError:
    """A missing database driver, as one line naming the extra that installs it."""
    shown = url.render_as_string(hide_password=True)
    if isinstance(error, NoSuchModuleError):
        return LinkStoreConfigError(f"link_store_url {shown}: unknown database kind ({error})")
    backend = url.get_backend_name()
    module, extra = _DRIVER_EXTRAS.get(backend, (getattr(error, "name", "?"), None))
    hint = f"pip install '{extra}'" if extra else f"install the {module} driver"
    return LinkStoreConfigError(
        f"link_store_url {shown} needs the {backend} driver ({module}), which is not "
        f"installed: {hint}"
    )


def _engine_url(url_or_path: str | Path) -> URL:
    text = str(url_or_path)
    if "://" in text:
        return make_url(text)
    return URL.create("sqlite", database=str(Path(text).expanduser().resolve()))


def create_link_engine(url_or_path: str | Path = DEFAULT_PATH) -> Engine:
    """A SQLAlchemy engine for the link store; a plain path means a SQLite file.

    SQLite gets its parent directories created, WAL journaling (the other pipeline may read
    while this one writes), foreign keys, a busy timeout and real transactions (``BEGIN
    IMMEDIATE``, so DDL and read-then-write sequences are atomic too).
    """
    url = _engine_url(url_or_path)
    if url.get_backend_name() != "sqlite":
        try:
            return create_engine(url, json_serializer=_json_dumps, pool_pre_ping=True)
        except (ModuleNotFoundError, NoSuchModuleError) as error:
            raise _driver_error(url, error) from None
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        make_private_dir(Path(database).parent)
    engine = create_engine(url, json_serializer=_json_dumps, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite (it would not BEGIN before DDL or SELECT).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class LinkStore:
    """The link store. Open it once per run; it migrates the schema on open.

    >>> store = LinkStore(".meltano/talk-sync/links.db")            # doctest: +SKIP
    >>> store = LinkStore("postgresql+psycopg://sync@db/links")      # doctest: +SKIP

    References are :class:`~talk_sync.refs.Ref` objects or their namespaced strings.
    Not for concurrent use from several threads of one process inside one transaction:
    each thread gets its own transaction.
    """

    def __init__(self, url_or_path: str | Path = DEFAULT_PATH) -> None:
        self.engine = create_link_engine(url_or_path)
        #: The schema version found at open (0: the database was new).
        self.opened_at_version = migrate(self.engine)
        self._local = threading.local()
        #: The sync lock and the runs' claims (see :mod:`talk_sync.leases`).
        self.leases = Leases(self)

    def __repr__(self) -> str:
        return f"LinkStore({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> LinkStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- transactions ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the enclosed store calls in one transaction: all commit, or none on error.

        Nested calls join the outermost transaction.
        """
        if getattr(self._local, "session", None) is not None:
            yield
            return
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            self._local.session = session
            try:
                yield
            finally:
                self._local.session = None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """The current transaction's session (a new transaction outside :meth:`transaction`)."""
        with self.transaction():
            yield self._local.session

    @property
    def in_transaction(self) -> bool:
        """Whether the calling thread is inside :meth:`transaction`."""
        return getattr(self._local, "session", None) is not None

    def retrying(self, work: Callable[[Session], T], *, attempts: int = RETRY_ATTEMPTS) -> T:
        """Run ``work(session)`` in a transaction, again from the start when it lost a race.

        Two processes inserting the same key at once (PostgreSQL: a unique violation), or a
        serialization failure or deadlock, roll the transaction back; a fresh one then sees
        what the other committed. Inside an outer transaction the outer one must retry, so
        ``work`` just runs.
        """
        if self.in_transaction:
            with self.session() as session:
                return work(session)
        for attempt in range(1, attempts + 1):
            try:
                with self.session() as session:
                    return work(session)
            except (IntegrityError, OperationalError) as error:
                if attempt == attempts or not _is_race(error):
                    raise
                logger.info("link store: lost a race (%s); retrying", type(error.orig).__name__)
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    _session = session

    # --- lookups -----------------------------------------------------------------------------

    @staticmethod
    def _row(session: Session, ref: Ref, *, for_update: bool = False) -> LinkRow | None:
        if ref.side is Side.ASANA:
            query = select(LinkRow).where(
                LinkRow.asana_type == ref.type, LinkRow.asana_gid == ref.key
            )
        else:
            query = select(LinkRow).where(
                LinkRow.custompms_type == ref.type, LinkRow.custompms_id == ref.key
            )
        if for_update:  # PostgreSQL: a concurrent writer of the row waits for our commit
            query = query.with_for_update()
        return session.scalars(query).one_or_none()

    def find(self, ref: Ref | str) -> Link | None:
        """The link of the record ``ref`` names (whichever side), in any status."""
        with self._session() as session:
            row = self._row(session, parse_ref(ref))
            return _to_link(row) if row else None

    def resolve(self, ref: Ref | str) -> Ref | None:
        """The record linked to ``ref`` on the other side; ``None`` unless the link is complete.

        Pending and unlinked rows give ``None``: a reference is never guessed.
        """
        link = self.find(ref)
        if link is None or link.status is not LinkStatus.LINKED:
            return None
        return link.ref(parse_ref(ref).side.other)

    def resolve_fields(
        self, record: Mapping[str, Any], fields: Iterable[str], destination: Side | str
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Replace the namespaced references in ``fields`` of ``record`` by destination keys.

        A reference to a record of the ``destination`` side itself is used as is; one to the
        other side is resolved through the links. Returns the record with the resolved keys
        (``int`` for Custompms, ``str`` for Asana) and ``{field: reference}`` for the
        references not linked yet, which keep their namespaced value. Empty values stay.
        """
        destination = Side(destination)
        resolved = dict(record)
        unresolved: dict[str, str] = {}
        for name in fields:
            value = record.get(name)
            if value is None or value == "":
                continue
            ref = parse_ref(value)
            target = ref if ref.side is destination else self.resolve(ref)
            if target is None:
                unresolved[name] = str(ref)
            else:
                resolved[name] = target.native_key
        return resolved, unresolved

    def links(
        self, *, flow: Flow | int | str | None = None, status: LinkStatus | str | None = None
    ) -> list[Link]:
        """All links, optionally of one flow and/or one status, oldest first."""
        query = select(LinkRow).order_by(LinkRow.id)
        if flow is not None:
            query = query.where(LinkRow.flow == get_flow(flow).name)
        if status is not None:
            query = query.where(LinkRow.status == LinkStatus(status).value)
        with self._session() as session:
            return [_to_link(row) for row in session.scalars(query)]

    def pending_creates(self, *, origin: Side | str | None = None) -> list[Link]:
        """Creates begun but not completed (a crash, or a create the destination refused).

        A target lists them at start to recover: on Custompms replay the create with the
        same ``create_key`` (Idempotency-Key); on Asana look the record up before creating.
        """
        pending = self.links(status=LinkStatus.PENDING)
        return [link for link in pending if origin is None or link.origin is Side(origin)]

    def pending_matches(
        self, flow: Flow | int | str, origin: Side | str, match_key: str
    ) -> list[Link]:
        """Pending creates of ``flow`` from ``origin`` whose record will look like ``match_key``.

        The reverse direction asks this for a record that has no link yet: if the other side
        is creating (or crashed while creating) exactly such a record, it is that record.
        """
        query = (
            select(LinkRow)
            .where(
                LinkRow.flow == get_flow(flow).name,
                LinkRow.origin == Side(origin).value,
                LinkRow.status == LinkStatus.PENDING.value,
                LinkRow.match_key == match_key,
            )
            .order_by(LinkRow.id)
        )
        with self._session() as session:
            return [_to_link(row) for row in session.scalars(query)]

    def claim_live(self, link: Link, claim: str | None) -> str | None:
        """The other live run holding ``link``'s pending create, or ``None``."""
        holder = link.claimed_by
        if link.status is not LinkStatus.PENDING or not holder or holder == claim:
            return None
        return holder if self.leases.is_live(holder) else None

    # --- link changes ------------------------------------------------------------------------

    def link(
        self,
        flow: Flow | int | str,
        asana: Ref | str,
        custompms: Ref | str,
        *,
        origin: Side | str,
        asana_snapshot: Mapping[str, Any] | None = None,
        custompms_snapshot: Mapping[str, Any] | None = None,
    ) -> Link:
        """Link two existing records (e.g. one that names the other as its counterpart).

        Completes a pending row of either record; raises :class:`LinkError` when either
        record is already linked to a different one.
        """
        flow = get_flow(flow)
        asana_ref, custompms_ref = parse_ref(asana), parse_ref(custompms)
        _check_types(flow, asana_ref, custompms_ref)

        def link_them(session: Session) -> Link:
            rows = {
                self._row(session, asana_ref, for_update=True),
                self._row(session, custompms_ref, for_update=True),
            } - {None}
            if len(rows) > 1:
                raise LinkError(
                    f"cannot link {asana_ref} to {custompms_ref}: both are linked elsewhere"
                )
            row = rows.pop() if rows else None
            if row is None:
                row = LinkRow(
                    flow=flow.name,
                    asana_type=asana_ref.type,
                    custompms_type=custompms_ref.type,
                    origin=Side(origin).value,
                    create_attempt=0,
                )
                session.add(row)
            elif (row.asana_gid or asana_ref.key) != asana_ref.key or (
                row.custompms_id or custompms_ref.key
            ) != custompms_ref.key:
                other = _to_link(row)
                raise LinkError(
                    f"cannot link {asana_ref} to {custompms_ref}: "
                    f"already linked as {other.asana} <-> {other.custompms}"
                )
            row.asana_gid, row.custompms_id = asana_ref.key, custompms_ref.key
            row.status = LinkStatus.LINKED.value
            row.claimed_by = None
            _set_snapshots(row, asana_snapshot, custompms_snapshot)
            session.flush()
            return _to_link(row)

        return self.retrying(link_them)

    def adopt(self, asana: Ref | str, custompms: Ref | str, *, origin: Side | str) -> Adopted:
        """Link two existing records by hand: a ``linked`` row with **no snapshots**.

        The engine's contract: a linked row without snapshots is "adopted, not merged yet";
        the next sync fetches the other record and merges the two by its ``adopt_policy``.
        So no snapshot is ever made up here. The flow follows from the two record types.

        Raises :class:`LinkError` (one line, naming the records) when the two refs are not
        one Asana and one Custompms record of a flow's types, or when either record is
        already linked or pending. An ``unlinked`` row of either record is replaced in the
        same transaction: deleted, or, when it still names a third record, only this
        record's key is cleared from it, so that the third record stays unlinked (and is
        not created again on the other side).
        """
        asana_ref, custompms_ref = parse_ref(asana), parse_ref(custompms)
        if asana_ref.side is custompms_ref.side:
            raise LinkError(
                f"{asana_ref} and {custompms_ref} are both {asana_ref.side} records: "
                "give one Asana and one Custompms record"
            )
        if asana_ref.side is not Side.ASANA:
            asana_ref, custompms_ref = custompms_ref, asana_ref
        try:
            flow = flow_for(asana_ref.type, custompms_ref.type)
        except ValueError:
            pairs = ", ".join(
                f"asana-{f.asana_type} + custompms-{f.custompms_type} ({f.name})" for f in FLOWS
            )
            raise LinkError(
                f"asana-{asana_ref.type} and custompms-{custompms_ref.type} records are not "
                f"linked by any flow; the pairs are: {pairs}"
            ) from None

        def adopt_them(session: Session) -> Adopted:
            rows: list[LinkRow] = []
            for ref in (asana_ref, custompms_ref):
                row = self._row(session, ref, for_update=True)
                if row is None or row in rows:
                    continue
                if row.status != LinkStatus.UNLINKED.value:
                    raise LinkError(_taken(ref, _to_link(row)))
                rows.append(row)
            replaced = tuple(_to_link(row) for row in rows)
            for row, old in zip(rows, replaced, strict=True):
                third = [
                    side for side in Side if old.ref(side) not in (None, asana_ref, custompms_ref)
                ]
                if third:  # the row keeps naming the third record, unlinked; not ours
                    setattr(row, _KEY_COLUMN[third[0].other], None)
                else:
                    session.delete(row)
            session.flush()  # before the insert: the unique keys must be free
            row = LinkRow(
                flow=flow.name,
                asana_type=asana_ref.type,
                asana_gid=asana_ref.key,
                custompms_type=custompms_ref.type,
                custompms_id=custompms_ref.key,
                origin=Side(origin).value,
                status=LinkStatus.LINKED.value,
                create_attempt=0,
            )
            session.add(row)
            session.flush()
            return Adopted(_to_link(row), replaced)

        return self.retrying(adopt_them)

    def begin_create(
        self,
        flow: Flow | int | str,
        source: Ref | str,
        *,
        claim: str | None = None,
        match_key: str | None = None,
        asana_snapshot: Mapping[str, Any] | None = None,
        custompms_snapshot: Mapping[str, Any] | None = None,
    ) -> Link:
        """Record that ``source`` is about to be created on the other side; commit before the call.

        Returns the pending link; use its ``create_key`` as the idempotency key. Called again
        for the same source (a rerun after a crash) it returns the same pending link and key.
        ``claim`` names the run sending the create (its lease, see :mod:`talk_sync.leases`):
        while another run's claim is live this raises :class:`ClaimedElsewhereError`, so two
        overlapping runs never send the same create. ``match_key`` says what the created
        record will look like on the other side (:mod:`talk_sync.identity`).
        Raises :class:`LinkError` when the source is already linked or unlinked.
        """
        flow = get_flow(flow)
        source = parse_ref(source)
        if source.type != flow.record_type(source.side):
            raise LinkError(f"{source} is not a {source.side} {flow.record_type(source.side)}")

        def begin(session: Session) -> Link:
            row = self._row(session, source, for_update=True)
            if row is None:
                destination_type = flow.record_type(source.side.other)
                row = LinkRow(
                    flow=flow.name,
                    asana_type=flow.asana_type,
                    custompms_type=flow.custompms_type,
                    origin=source.side.value,
                    status=LinkStatus.PENDING.value,
                    create_attempt=1,
                    create_key=create_key_for(source, destination_type),
                )
                setattr(row, _KEY_COLUMN[source.side], source.key)
                session.add(row)
            elif row.status != LinkStatus.PENDING.value:
                raise LinkError(f"cannot create {source} again: its link is {row.status}")
            elif row.claimed_by and row.claimed_by != claim and self.leases.is_live(row.claimed_by):
                raise ClaimedElsewhereError(_to_link(row), row.claimed_by)
            row.claimed_by = claim
            if match_key is not None:
                row.match_key = match_key
            _set_snapshots(row, asana_snapshot, custompms_snapshot)
            session.flush()
            return _to_link(row)

        return self.retrying(begin)

    def complete_create(
        self,
        source: Ref | str,
        destination: Ref | str,
        *,
        asana_snapshot: Mapping[str, Any] | None = None,
        custompms_snapshot: Mapping[str, Any] | None = None,
    ) -> Link:
        """Fill in the created record's key: the pending link of ``source`` becomes linked.

        Completing a link that is already complete with the same two records (the reverse
        direction recognised the record first) only refreshes the snapshots.
        """
        source, destination = parse_ref(source), parse_ref(destination)

        def complete(session: Session) -> Link:
            row = self._row(session, source, for_update=True)
            if (
                row is not None
                and row.status == LinkStatus.LINKED.value
                and getattr(row, _KEY_COLUMN[destination.side]) == destination.key
                and getattr(row, f"{destination.side.value}_type") == destination.type
            ):
                _set_snapshots(row, asana_snapshot, custompms_snapshot)
                session.flush()
                return _to_link(row)
            row = _pending(row, source)
            expected = getattr(row, f"{destination.side.value}_type")
            if destination.side is source.side or destination.type != expected:
                raise LinkError(f"{source} was to become a {expected}, not {destination}")
            holder = self._row(session, destination)
            if holder is not None and holder is not row:
                raise LinkError(f"{destination} is already linked to {_to_link(holder).source}")
            setattr(row, _KEY_COLUMN[destination.side], destination.key)
            row.status = LinkStatus.LINKED.value
            row.claimed_by = None
            _set_snapshots(row, asana_snapshot, custompms_snapshot)
            session.flush()
            return _to_link(row)

        return self.retrying(complete)

    def fail_create(self, source: Ref | str) -> Link:
        """The destination refused the create for good: the next try uses a new key.

        The link stays pending (so recovery finds it) and unclaimed; record the reason with
        :meth:`record_reject`.
        """
        source = parse_ref(source)
        with self._session() as session:
            row = self._pending_row(session, source)
            row.create_attempt += 1
            destination_type = getattr(row, f"{source.side.other.value}_type")
            row.create_key = create_key_for(source, destination_type, row.create_attempt)
            row.claimed_by = None
            session.flush()
            return _to_link(row)

    def cancel_create(self, source: Ref | str) -> Link:
        """A pending create will never complete (its source was deleted): unlink it.

        The row stays, unlinked, so that a record the create may already have made, which
        names ``source`` as its counterpart, is not copied back either.
        """
        source = parse_ref(source)
        with self._session() as session:
            row = self._pending_row(session, source)
            row.status = LinkStatus.UNLINKED.value
            row.claimed_by = None
            session.flush()
            return _to_link(row)

    def record_deleted(self, flow: Flow | int | str, ref: Ref | str) -> Link:
        """Remember that a record never linked was deleted: references to it never resolve.

        Its dependants are then reported as waiting on a deleted record, not as "not linked
        yet" forever. An existing row of ``ref`` is unlinked instead.
        """
        flow, ref = get_flow(flow), parse_ref(ref)

        def mark(session: Session) -> Link:
            row = self._row(session, ref, for_update=True)
            if row is None:
                row = LinkRow(
                    flow=flow.name,
                    asana_type=flow.asana_type,
                    custompms_type=flow.custompms_type,
                    origin=ref.side.value,
                    create_attempt=0,
                )
                setattr(row, _KEY_COLUMN[ref.side], ref.key)
                session.add(row)
            row.status = LinkStatus.UNLINKED.value
            row.claimed_by = None
            session.flush()
            return _to_link(row)

        return self.retrying(mark)

    def _pending_row(self, session: Session, source: Ref) -> LinkRow:
        return _pending(self._row(session, source, for_update=True), source)

    def update_snapshots(
        self,
        ref: Ref | str,
        *,
        asana: Mapping[str, Any] | None = None,
        custompms: Mapping[str, Any] | None = None,
    ) -> Link:
        """Replace the last-known values of a linked record's sides (``None`` leaves one as is)."""
        ref = parse_ref(ref)
        with self._session() as session:
            row = self._row(session, ref, for_update=True)
            if row is None:
                raise LinkError(f"{ref} is not linked")
            _set_snapshots(row, asana, custompms)
            session.flush()
            return _to_link(row)

    def unlink(self, ref: Ref | str) -> Link:
        """Mark the link of ``ref`` unlinked: no more syncing, and no re-create of either side."""
        ref = parse_ref(ref)
        with self._session() as session:
            row = self._row(session, ref, for_update=True)
            if row is None:
                raise LinkError(f"{ref} is not linked")
            row.status = LinkStatus.UNLINKED.value
            row.claimed_by = None
            session.flush()
            return _to_link(row)

    # --- rejects -----------------------------------------------------------------------------

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
            row = session.scalars(_reject_query(side, stream, key)).one_or_none()
            now = utcnow()
            if row is None:
                row = RejectRow(
                    side=side.value, stream=stream, source_key=key, attempts=0, first_seen=now
                )
                session.add(row)
            previous = None  # the last wait, when these values were refused before
            same_values = fingerprint is not None and row.fingerprint == fingerprint
            if same_values and row.retry_at is not None:
                previous = _aware(row.retry_at) - _aware(row.last_seen)
            row.record = to_jsonable(dict(record))
            row.reason, row.field, row.stuck = reason, field, stuck
            row.fingerprint = fingerprint
            row.retry_at = None if backoff is None else now + backoff.after(previous)
            row.attempts += 1
            row.last_seen = now
            session.flush()
            return _to_reject(row)

        return self.retrying(keep)

    def mark_stuck(self, side: Side | str, stream: str, source_key: Ref | str, why: str) -> None:
        """Flag a kept record as stuck (a person must act), e.g. once it is too old."""
        with self._session() as session:
            row = session.scalars(_reject_query(Side(side), stream, str(source_key))).one_or_none()
            if row is not None:
                row.stuck = why
                session.flush()

    def clear_reject(self, side: Side | str, stream: str, source_key: Ref | str) -> bool:
        """Forget a reject once a retry succeeded; ``True`` if there was one."""
        with self._session() as session:
            row = session.scalars(_reject_query(Side(side), stream, str(source_key))).one_or_none()
            if row is not None:
                session.delete(row)
            return row is not None

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


_KEY_COLUMN = {Side.ASANA: "asana_gid", Side.CUSTOMPMS: "custompms_id"}


def _pending(row: LinkRow | None, source: Ref) -> LinkRow:
    if row is None or row.status != LinkStatus.PENDING.value:
        state = "no link" if row is None else f"a {row.status} link"
        raise LinkError(f"no pending create for {source} (it has {state})")
    return row


def _taken(ref: Ref, link: Link) -> str:
    """Why ``ref`` cannot be linked by hand: its link is live (linked or pending)."""
    other = link.ref(ref.side.other)
    if link.status is LinkStatus.PENDING:
        return (
            f"{ref} has a pending create (link {link.id}): its {ref.side.other} record is "
            "being created by a sync; let the sync finish it, or unlink it first"
        )
    return (
        f"{ref} is already linked to {other} (link {link.id}); "
        f"unlink it first (talk-sync links unlink {ref})"
    )


def _is_race(error: IntegrityError | OperationalError) -> bool:
    """A unique violation, serialization failure or deadlock: worth running again."""
    if isinstance(error, IntegrityError):
        return True
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code in ("40001", "40P01")  # serialization_failure, deadlock_detected


def _rejects_of(side: Side | str | None, stream: str | None) -> Any:
    """The kept records of ``side`` and/or ``stream`` (all when ``None``), oldest first."""
    query = select(RejectRow).order_by(RejectRow.id)
    if side is not None:
        query = query.where(RejectRow.side == Side(side).value)
    if stream is not None:
        query = query.where(RejectRow.stream == stream)
    return query


def _reject_query(side: Side, stream: str, key: str) -> Any:
    return select(RejectRow).where(
        RejectRow.side == side.value, RejectRow.stream == stream, RejectRow.source_key == key
    )


def _check_types(flow: Flow, asana: Ref, custompms: Ref) -> None:
    if asana.side is not Side.ASANA or custompms.side is not Side.CUSTOMPMS:
        raise LinkError(f"expected an asana and a custompms ref, got {asana} and {custompms}")
    if (asana.type, custompms.type) != (flow.asana_type, flow.custompms_type):
        raise LinkError(
            f"flow {flow.name} links asana {flow.asana_type} to custompms "
            f"{flow.custompms_type}, not {asana} to {custompms}"
        )


def _set_snapshots(
    row: LinkRow, asana: Mapping[str, Any] | None, custompms: Mapping[str, Any] | None
) -> None:
    if asana is not None:
        row.asana_snapshot = _snapshot(asana)
    if custompms is not None:
        row.custompms_snapshot = _snapshot(custompms)
