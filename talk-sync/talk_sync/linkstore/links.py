"""Links: which Asana record is linked to which Custompms record, and what each side last
looked like (one row per pair, unique on each side's key)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import and_, func, insert, inspect, select
from sqlalchemy.orm import Session

from talk_sync.flows import FLOWS, Flow, flow_for, get_flow
from talk_sync.leases import Leases
from talk_sync.link_status import LinkStatus
from talk_sync.linkstore.database import Database
from talk_sync.models import LinkRow
from talk_sync.normalize import to_jsonable
from talk_sync.refs import Ref, Side, known_ref, parse_ref
from talk_sync.timestamps import as_utc, utcnow


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


def _to_link(row: LinkRow) -> Link:
    def ref(side: Side, record_type: str, key: str | None) -> Ref | None:
        return None if key is None else known_ref(side, record_type, key)

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
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        claimed_by=row.claimed_by,
        match_key=row.match_key,
    )


def _no_row(begun: ClaimedElsewhereError | None) -> ClaimedElsewhereError:
    if begun is None:  # pragma: no cover - begin_creates inserted it
        raise RuntimeError("begin_creates: a new row was not inserted")
    return begun


def _new_pending_row(request: CreateRequest) -> dict[str, Any]:
    """The columns of a new pending row for ``request`` (its claim and snapshots follow)."""
    flow, source = request.flow, request.source
    destination_type = flow.record_type(source.side.other)
    return {
        "flow": flow.name,
        "asana_type": flow.asana_type,
        "custompms_type": flow.custompms_type,
        _KEY_COLUMN[source.side]: source.key,
        "origin": source.side.value,
        "status": LinkStatus.PENDING.value,
        "create_attempt": 1,
        "create_key": create_key_for(source, destination_type),
        "claimed_by": request.claim,
        "match_key": request.match_key,
        "asana_snapshot": _snapshot(request.asana_snapshot),
        "custompms_snapshot": _snapshot(request.custompms_snapshot),
    }


def _link_of(session: Session, row: LinkRow) -> Link:
    """``row`` as a :class:`Link`; a new row is inserted first (its id and creation time).

    A changed row is not: its change reaches the database with the others at the next query
    or at commit, one statement for many rows (a batch changes hundreds).
    """
    state = inspect(row)
    if state.pending:
        session.flush()
    elif state.modified:
        row.updated_at = utcnow()  # as the flush would set it
    return _to_link(row)


@dataclass(frozen=True)
class CreateRequest:
    """A create to begin (:meth:`Links.begin_creates`), as :meth:`Links.begin_create` takes it."""

    flow: Flow
    source: Ref
    claim: str | None = None
    match_key: str | None = None
    asana_snapshot: Mapping[str, Any] | None = None
    custompms_snapshot: Mapping[str, Any] | None = None


def _snapshot(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else to_jsonable(dict(value))


def create_key_for(source: Ref | str, destination_type: str, attempt: int = 1) -> str:
    """The idempotency key of creating ``source`` on the other side (stable across reruns).

    ``attempt`` changes only after the destination refused a create for good
    (:meth:`LinkStore.fail_create`), so a replay never returns the refusal again.
    """
    source = parse_ref(source)
    return f"talk-sync/{source}/{source.side.other.value}-{destination_type}/{attempt}"


class Links(Database):
    """The link store's links (lookups and changes)."""

    #: The sync lock and the runs' claims (set by :class:`~talk_sync.linkstore.LinkStore`):
    #: a pending create's claim holds only while its run's lease is live.
    leases: Leases

    # --- lookups -----------------------------------------------------------------------------

    def _row(self, session: Session, ref: Ref, *, for_update: bool = False) -> LinkRow | None:
        """The row of ``ref``: from the transaction's cache when read already (see
        :meth:`preload`), else from the database (and then cached)."""
        cache = self._cached_rows()
        if cache is not None and ref in cache:
            row, locked = cache[ref]
            if row is None or locked or not for_update:
                return cast("LinkRow | None", row)
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
        row = session.scalars(query).one_or_none()
        if cache is not None:
            cache[ref] = (row, for_update)
        return row

    def preload(self, refs: Iterable[Ref | str], *, for_update: bool = True) -> None:
        """Read the rows of ``refs`` (and that none exists for the others) in one query per
        few hundred records, for the calls that follow in the current transaction.

        Call it inside :meth:`transaction` before a batch's per-record calls
        (:meth:`complete_create`, :meth:`update_snapshots`, ...): they then find their rows
        without a query each. ``for_update`` locks the rows (PostgreSQL) as those calls would.
        """
        cache = self._cached_rows()
        if cache is None:
            raise RuntimeError("preload() reads for a transaction: call it inside one")
        wanted = {parse_ref(ref) for ref in refs} - set(cache)
        with self._session() as session:
            for clause in _ref_clauses(wanted):
                query = select(LinkRow).where(clause)
                if for_update:
                    query = query.with_for_update()
                for row in session.scalars(query):
                    self._remember(row, locked=for_update)
        for ref in wanted:
            cache.setdefault(ref, (None, for_update))

    def _remember(self, row: LinkRow, *, locked: bool = True) -> None:
        """Cache ``row`` under each record it names (after a read, or a change of its keys)."""
        cache = self._cached_rows()
        if cache is None:
            return
        for side, (type_column, key_column) in _ATTRIBUTES.items():
            key = getattr(row, key_column)
            if key is not None:
                cache[Ref(side, getattr(row, type_column), key)] = (row, locked)

    def find(self, ref: Ref | str) -> Link | None:
        """The link of the record ``ref`` names (whichever side), in any status."""
        with self._session() as session:
            row = self._row(session, parse_ref(ref))
            return _to_link(row) if row else None

    def find_many(self, refs: Iterable[Ref | str]) -> dict[Ref, Link]:
        """The links of the records ``refs`` name (any side, any status), in one query per
        few hundred records; a record without a link is left out."""
        wanted = {parse_ref(ref) for ref in refs}
        found: dict[Ref, Link] = {}
        with self._session() as session:
            for clause in _ref_clauses(wanted):
                for row in session.scalars(select(LinkRow).where(clause)):
                    link = _to_link(row)
                    for side in Side:
                        linked = link.ref(side)
                        if linked in wanted:
                            found[linked] = link
        return found

    def resolve(self, ref: Ref | str) -> Ref | None:
        """The record linked to ``ref`` on the other side; ``None`` unless the link is complete.

        Pending and unlinked rows give ``None``: a reference is never guessed.
        """
        ref = parse_ref(ref)
        return _linked_to(self.find(ref), ref)

    def resolve_fields(
        self, record: Mapping[str, Any], fields: Iterable[str], destination: Side | str
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Replace the namespaced references in ``fields`` of ``record`` by destination keys
        (see :func:`resolve_fields`)."""
        return resolve_fields(self.find, record, fields, destination)

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

    def link_counts(self) -> dict[str, dict[str, int]]:
        """How many links each flow has, per status (counted in the database: a report
        needs the numbers, not the snapshots)."""
        query = select(LinkRow.flow, LinkRow.status, func.count()).group_by(
            LinkRow.flow, LinkRow.status
        )
        counts: dict[str, dict[str, int]] = {}
        with self._session() as session:
            for flow, status, n in session.execute(query):
                counts.setdefault(flow, {})[status] = n
        return counts

    def pending_matches(
        self, flow: Flow | int | str, origin: Side | str, match_key: str
    ) -> list[Link]:
        """Pending creates of ``flow`` from ``origin`` whose record will look like ``match_key``.

        The reverse direction asks this for a record that has no link yet: if the other side
        is creating (or crashed while creating) exactly such a record, it is that record.
        """
        return self.pending_matches_many(flow, origin, [match_key]).get(match_key, [])

    def pending_matches_many(
        self, flow: Flow | int | str, origin: Side | str, match_keys: Iterable[str]
    ) -> dict[str, list[Link]]:
        """:meth:`pending_matches` of a batch's records: one query per few hundred keys;
        the keys without a pending create are left out."""
        keys = sorted(set(match_keys))
        found: dict[str, list[Link]] = {}
        with self._session() as session:
            for start in range(0, len(keys), _CHUNK):
                query = (
                    select(LinkRow)
                    .where(
                        LinkRow.flow == get_flow(flow).name,
                        LinkRow.origin == Side(origin).value,
                        LinkRow.status == LinkStatus.PENDING.value,
                        LinkRow.match_key.in_(keys[start : start + _CHUNK]),
                    )
                    .order_by(LinkRow.id)
                )
                for row in session.scalars(query):
                    found.setdefault(str(row.match_key), []).append(_to_link(row))
        return found

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
            self._remember(row)
            return _link_of(session, row)

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
            cache = self._cached_rows()
            if cache is not None:  # the rows replaced are gone: read again when asked
                cache.clear()
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
            self._remember(row)
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
        request = CreateRequest(
            get_flow(flow), parse_ref(source), claim, match_key, asana_snapshot, custompms_snapshot
        )
        (begun,) = self.begin_creates([request])
        if isinstance(begun, ClaimedElsewhereError):
            raise begun
        return begun

    def begin_creates(
        self, requests: Sequence[CreateRequest]
    ) -> list[Link | ClaimedElsewhereError]:
        """:meth:`begin_create` for a batch, in one transaction and a few statements: the
        rows read at once, the new ones inserted at once. A create another live run has
        claimed gives its :class:`ClaimedElsewhereError` in its place; the others proceed.
        """
        for request in requests:
            source, flow = request.source, request.flow
            if source.type != flow.record_type(source.side):
                raise LinkError(f"{source} is not a {source.side} {flow.record_type(source.side)}")

        def begin(session: Session) -> list[Link | ClaimedElsewhereError]:
            self.preload([request.source for request in requests])
            new: dict[Ref, dict[str, Any]] = {}
            for request in requests:
                if request.source not in new and self._row(session, request.source) is None:
                    new[request.source] = _new_pending_row(request)
            if new:  # one INSERT for all of them (the ORM's bulk insert, far cheaper per row)
                # Rows come back in any order (asking for the parameters' order makes SQLite
                # insert one row per statement): each is found by the record it names.
                for row in session.scalars(insert(LinkRow).returning(LinkRow), list(new.values())):
                    self._remember(row)
            rows: list[LinkRow | ClaimedElsewhereError | None] = []
            for request in requests:
                if new.pop(request.source, None) is not None:  # inserted claimed, as asked
                    rows.append(self._row(session, request.source))
                else:
                    rows.append(self._begin(session, request))
            return [
                _link_of(session, row) if isinstance(row, LinkRow) else _no_row(row) for row in rows
            ]

        return self.retrying(begin)

    def _begin(self, session: Session, request: CreateRequest) -> LinkRow | ClaimedElsewhereError:
        """The existing pending row of ``request``, claimed for it (new ones are inserted
        claimed)."""
        source, claim = request.source, request.claim
        row = self._row(session, source, for_update=True)
        if row is None:  # pragma: no cover - begin_creates inserted one
            raise RuntimeError(f"begin_creates: no row inserted for {source}")
        if row.status != LinkStatus.PENDING.value:
            raise LinkError(f"cannot create {source} again: its link is {row.status}")
        elif row.claimed_by and row.claimed_by != claim and self.leases.is_live(row.claimed_by):
            return ClaimedElsewhereError(_to_link(row), row.claimed_by)
        row.claimed_by = claim
        if request.match_key is not None:
            row.match_key = request.match_key
        _set_snapshots(row, request.asana_snapshot, request.custompms_snapshot)
        return row

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
                return _link_of(session, row)
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
            self._remember(row)
            return _link_of(session, row)

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
            return _link_of(session, row)

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
            return _link_of(session, row)

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
                self._remember(row)
            row.status = LinkStatus.UNLINKED.value
            row.claimed_by = None
            return _link_of(session, row)

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
            return _link_of(session, row)

    def unlink(self, ref: Ref | str) -> Link:
        """Mark the link of ``ref`` unlinked: no more syncing, and no re-create of either side."""
        ref = parse_ref(ref)
        with self._session() as session:
            row = self._row(session, ref, for_update=True)
            if row is None:
                raise LinkError(f"{ref} is not linked")
            row.status = LinkStatus.UNLINKED.value
            row.claimed_by = None
            return _link_of(session, row)


_KEY_COLUMN = {Side.ASANA: "asana_gid", Side.CUSTOMPMS: "custompms_id"}
_ATTRIBUTES = {
    Side.ASANA: ("asana_type", "asana_gid"),
    Side.CUSTOMPMS: ("custompms_type", "custompms_id"),
}
_COLUMNS = {
    Side.ASANA: (LinkRow.asana_type, LinkRow.asana_gid),
    Side.CUSTOMPMS: (LinkRow.custompms_type, LinkRow.custompms_id),
}
#: Records per ``IN`` list (SQLite allows few hundred bound parameters in old versions).
_CHUNK = 400


def _ref_clauses(refs: Iterable[Ref]) -> Iterator[Any]:
    """``WHERE`` clauses that together match the rows of ``refs``, a few hundred each."""
    by_type: dict[tuple[Side, str], list[str]] = {}
    for ref in refs:
        by_type.setdefault((ref.side, ref.type), []).append(ref.key)
    for (side, record_type), keys in by_type.items():
        type_column, key_column = _COLUMNS[side]
        keys.sort()
        for start in range(0, len(keys), _CHUNK):
            yield and_(type_column == record_type, key_column.in_(keys[start : start + _CHUNK]))


class LinkMap:
    """The links of some records, read in one query (:meth:`Links.find_many`); answers
    :meth:`find` as the store would have when it was read. A record not asked for is
    looked up in the store."""

    def __init__(self, store: Links, refs: Iterable[Ref | str]) -> None:
        self._store = store
        self._asked = {parse_ref(ref) for ref in refs}
        self._links = store.find_many(self._asked)

    def find(self, ref: Ref | str) -> Link | None:
        """The link of the record ``ref`` names (whichever side), in any status."""
        ref = parse_ref(ref)
        if ref in self._asked:
            return self._links.get(ref)
        return self._store.find(ref)

    def resolve_fields(
        self, record: Mapping[str, Any], fields: Iterable[str], destination: Side | str
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """As :meth:`Links.resolve_fields`, from the links read."""
        return resolve_fields(self.find, record, fields, destination)


def resolve_fields(
    find: Callable[[Ref], Link | None],
    record: Mapping[str, Any],
    fields: Iterable[str],
    destination: Side | str,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Replace the namespaced references in ``fields`` of ``record`` by destination keys.

    A reference to a record of the ``destination`` side itself is used as is; one to the
    other side is resolved through the links ``find`` gives (complete links only: pending
    and unlinked rows resolve nothing, a reference is never guessed). Returns the record
    with the resolved keys (``int`` for Custompms, ``str`` for Asana) and
    ``{field: reference}`` for the references not linked yet, which keep their namespaced
    value. Empty values stay.
    """
    destination = Side(destination)
    resolved = dict(record)
    unresolved: dict[str, str] = {}
    for name in fields:
        value = record.get(name)
        if value is None or value == "":
            continue
        ref = parse_ref(value)
        target = ref if ref.side is destination else _linked_to(find(ref), ref)
        if target is None:
            unresolved[name] = str(ref)
        else:
            resolved[name] = target.native_key
    return resolved, unresolved


def _linked_to(link: Link | None, ref: Ref) -> Ref | None:
    if link is None or link.status is not LinkStatus.LINKED:
        return None
    return link.ref(ref.side.other)


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
