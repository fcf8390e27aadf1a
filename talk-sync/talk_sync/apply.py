"""The batch apply engine: DESIGN.md §4 carried out for a batch of mapped records.

Both targets run the same engine; each supplies a :class:`Destination` (its API client
seen as batch writes with per-operation outcomes). For every :class:`Incoming` record the
engine decides with :func:`talk_sync.plan.plan`, then:

1. creates: ``begin_create`` for all of the batch, committed *before* the write, so a crash
   mid-write is resumed with the same create key (or found with ``find_created``);
2. sends the creates and updates to the destination in one ``write`` call;
3. on a ``Stale`` outcome (the destination changed since its snapshot) merges field by field
   (:func:`talk_sync.merge.merge`, the flow's conflict policy), reports every conflict and
   writes only what the merge says;
4. records links, snapshots (the destination record as written; the source values) and
   rejects in **one** store transaction after the writes: the target emits STATE after this.

Records whose references are not linked yet (``WAIT``) are queued and retried at each
:meth:`ApplyEngine.checkpoint` (which the target calls before it emits STATE) until no more
progress is made, so a parent applied later in the run resolves its children; what still
waits is then kept in the link store as a reject and retried on the next run
(:meth:`ApplyEngine.start` replays the stored rejects). Records the destination refuses are
kept at once, reported, and retried on the next run.
A record deleted in the source is unlinked and reported (the other side is never deleted),
or ignored, per flow. A dry run plans and reports only: nothing is written to the
destination or the link store.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from talk_sync.flows import Flow, get_flow
from talk_sync.linkstore import Link, LinkError, LinkStatus, LinkStore
from talk_sync.merge import merge as merge_fields
from talk_sync.merge import policy_for
from talk_sync.normalize import FieldType, is_empty, to_jsonable
from talk_sync.plan import Action, Plan, plan
from talk_sync.refs import Ref, Side, format_ref, parse_ref
from talk_sync.report import Outcome, RunReport

logger = logging.getLogger(__name__)

#: Rounds of merge-and-write after ``Stale`` before a record is kept for the next run.
MAX_MERGE_ROUNDS = 3


# --- input -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    """One mapped source record, as a target hands it to the engine."""

    flow: Flow
    #: The source record, e.g. ``asana-task:77``.
    source: Ref
    #: Desired destination values in the destination's field names; references are
    #: namespaced source refs (``customer_id: "asana-team:12"``).
    desired: Mapping[str, Any]
    #: The source side's synced values (see :func:`synced_values`): the source snapshot.
    source_values: Mapping[str, Any] = field(default_factory=dict)
    #: The source record's own modification timestamp (``None`` when it has none).
    modified_at: Any = None
    is_deleted: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """Identity within a run: a later copy of the same record replaces an earlier one."""
        return (self.flow.name, str(self.source))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored with a reject so the next run can replay it."""
        return to_jsonable(
            {
                "flow": self.flow.name,
                "source": str(self.source),
                "desired": dict(self.desired),
                "source_values": dict(self.source_values),
                "modified_at": self.modified_at,
                "is_deleted": self.is_deleted,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Incoming:
        """Read back :meth:`to_dict`."""
        return cls(
            flow=get_flow(data["flow"]),
            source=parse_ref(data["source"]),
            desired=dict(data.get("desired") or {}),
            source_values=dict(data.get("source_values") or {}),
            modified_at=data.get("modified_at"),
            is_deleted=bool(data.get("is_deleted")),
        )


class DeletePolicy(str, Enum):
    """What a delete in the source does to a linked pair (the other side is never deleted)."""

    UNLINK = "unlink"  #: drop the link and report it; the destination record stays
    IGNORE = "ignore"  #: keep the link as is; the delete is reported as skipped

    def __str__(self) -> str:
        return self.value


def delete_policy_for(
    setting: DeletePolicy | str | Mapping[str, str] | None, flow: Flow | int | str
) -> DeletePolicy:
    """The delete policy of ``flow``: one policy, or a mapping by flow name/number + ``default``."""
    if setting is None or isinstance(setting, (DeletePolicy, str)):
        return DeletePolicy(setting or DeletePolicy.UNLINK)
    flow = get_flow(flow)
    for key in (flow.name, str(flow.number), flow.number, "default"):
        if key in setting:
            return DeletePolicy(setting[key])  # type: ignore[index]
    return DeletePolicy.UNLINK


# --- the destination -------------------------------------------------------------------------


class OpKind(str, Enum):
    """A write operation's kind."""

    CREATE = "create"
    UPDATE = "update"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class WriteOp:
    """One create or update for the destination to carry out."""

    kind: OpKind
    flow: Flow
    source: Ref
    #: What to send, in destination field names, references resolved to destination keys.
    values: dict[str, Any]
    #: The record to update (``UPDATE`` only).
    destination: Ref | None = None
    #: The destination's last-known record (``UPDATE``): carries e.g. the version for If-Match.
    snapshot: Mapping[str, Any] | None = None
    #: Idempotency key of a create, stable across reruns (``CREATE`` only).
    create_key: str | None = None


@dataclass(frozen=True)
class Written:
    """The destination holds ``record`` (as it answered the write)."""

    record: Mapping[str, Any]


@dataclass(frozen=True)
class Stale:
    """The destination record changed since its snapshot; ``current`` is what it holds now.

    ``current=None`` makes the engine fetch it with :meth:`Destination.fetch`.
    """

    current: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Rejected:
    """The destination refused the operation for good (a 4xx): kept and retried next run."""

    status: int
    reason: str
    field: str | None = None


@dataclass(frozen=True)
class Gone:
    """The destination record was deleted there: the link is dropped per the delete policy."""

    reason: str = "deleted in the destination"


@dataclass(frozen=True)
class Failed:
    """A transient failure that outlasted the destination's own retries: the run fails."""

    reason: str


WriteOutcome = Written | Stale | Rejected | Gone | Failed


class Destination(ABC):
    """What the engine needs from a destination system (implemented by each target)."""

    #: The side the target writes.
    side: Side
    #: Reference fields of the destination's records and the record type each one names,
    #: e.g. ``{"customer_id": "customer", "project_id": "project"}``.
    reference_fields: Mapping[str, str] = {}

    @abstractmethod
    def write(self, ops: Sequence[WriteOp]) -> Sequence[WriteOutcome]:
        """Carry out ``ops`` (in batches as the API allows); one outcome per op, in order."""

    @abstractmethod
    def fetch(self, refs: Sequence[Ref]) -> dict[Ref, Mapping[str, Any] | None]:
        """The current records of ``refs`` (``None`` for one that no longer exists)."""

    @abstractmethod
    def key_of(self, flow: Flow, record: Mapping[str, Any]) -> str:
        """The key of a destination record (e.g. its ``id`` or ``gid``)."""

    def snapshot_of(self, flow: Flow, record: Mapping[str, Any]) -> dict[str, Any]:
        """What to keep as the destination's last-known snapshot of ``record``."""
        return synced_values(flow, self.side, record, keep_extra=True)

    def modified_at(self, flow: Flow, record: Mapping[str, Any]) -> Any:
        """The record's own modification timestamp, for the ``newer_wins`` policy."""
        return record.get("updated_at") or record.get("modified_at")

    def find_created(self, op: WriteOp) -> Mapping[str, Any] | None:
        """Find the record an interrupted create made (systems without idempotency keys).

        The default finds nothing: the create is replayed with the same ``create_key``,
        which an idempotent destination answers with the record it created first.
        """
        return None


# --- source values ---------------------------------------------------------------------------


def synced_values(
    flow: Flow | int | str,
    side: Side | str,
    record: Mapping[str, Any],
    *,
    keep_extra: bool = False,
) -> dict[str, Any]:
    """The synced values of ``side`` in one of its API records, in their snapshot shape.

    Compact references (``{"gid": ..., "name": ...}``) become their key, users (``EMAIL``
    fields) their email, and an Asana task's ``project`` its first membership's project
    (subtasks have none). Fields missing from ``record`` are left out. With ``keep_extra``
    the other fields are kept as they are (e.g. ``version``, ``updated_at``).
    """
    flow, side = get_flow(flow), Side(side)
    values: dict[str, Any] = dict(record) if keep_extra else {}
    for name, kind in flow.fields(side).items():
        if name in record:
            values[name] = _flat(record[name], kind)
        elif name == "project" and side is Side.ASANA and flow.asana_type == "task":
            homes = record.get("memberships", record.get("projects"))
            if homes is not None:
                first = homes[0] if homes else None
                values[name] = _flat((first or {}).get("project", first), kind)
    return values


def _flat(value: Any, kind: FieldType) -> Any:
    if not isinstance(value, Mapping):
        return value
    if kind is FieldType.EMAIL:
        return value.get("email")
    return value.get("gid", value.get("id"))


# --- the engine ------------------------------------------------------------------------------


@dataclass
class _Pending:
    """A planned write and what the engine needs to record its outcome."""

    item: Incoming
    decision: Plan
    op: WriteOp
    outcome: WriteOutcome | None = None
    #: A stale update whose merge left nothing of ours to write.
    merged_away: bool = False


class ApplyError(RuntimeError):
    """Some writes failed transiently; what was written is recorded, the run must fail."""


class ApplyEngine:
    """Applies batches of :class:`Incoming` records to a :class:`Destination`.

    One engine per run: :meth:`start`, :meth:`apply` per batch, :meth:`checkpoint` before
    each STATE the target emits, :meth:`finish` at the end of input. ``conflict_policy`` and
    ``delete_policy`` are one policy or a mapping per flow (see :func:`policy_for`).
    """

    def __init__(
        self,
        store: LinkStore,
        destination: Destination,
        *,
        conflict_policy: Any = None,
        delete_policy: Any = None,
        dry_run: bool = False,
    ) -> None:
        self.store = store
        self.destination = destination
        self.side = destination.side
        self.conflict_policy = conflict_policy
        self.delete_policy = delete_policy
        self.dry_run = dry_run
        self.report = RunReport(self.side.other, dry_run=dry_run)
        #: Records to retry at the end of the run (waiting, or replayed rejects), by key.
        self._retry: dict[tuple[str, str], Incoming] = {}
        #: Why each queued record waits, and the first field it waits on.
        self._wait_reasons: dict[tuple[str, str], tuple[str, str | None]] = {}
        #: Dry run: sources that would be created, so their dependants would be too.
        self._would_create: set[str] = set()
        #: What is stored as a reject, by key: a retry pass re-stores only a newer version.
        self._kept: dict[tuple[str, str], Incoming] = {}

    # --- run lifecycle -----------------------------------------------------------------------

    def start(self) -> int:
        """Queue the records kept by earlier runs for a retry at the end; returns how many."""
        for reject in self.store.rejects(side=self.side):
            try:
                item = Incoming.from_dict(reject.record)
            except (KeyError, ValueError):
                logger.warning("Kept record %s cannot be replayed; dropped", reject.source_key)
                if not self.dry_run:
                    self.store.clear_reject(self.side, reject.stream, reject.source_key)
                continue
            self._retry[item.key] = item
            self._kept[item.key] = item
        return len(self._retry)

    def checkpoint(self) -> None:
        """Retry the queued records until no more progress; keep the rest durably.

        Call it before emitting STATE: every record up to that STATE is then written or
        kept in the link store for the next run. Waiting records live in memory until
        here, so a first sync whose parents arrive after their children (taps emit streams
        in any order) writes no reject at all.
        """
        while self._retry:
            before = set(self._retry)
            batch = sorted(self._retry.values(), key=lambda item: item.flow.number)
            self._retry.clear()
            self.apply(batch)
            if set(self._retry) == before:
                break
        if self.dry_run:
            return
        with self.store.transaction():
            for key, item in self._retry.items():
                if self._kept.get(key) == item:
                    continue  # stored already, by an earlier run or checkpoint
                reason, field_name = self._wait_reasons.get(key, ("kept for the next run", None))
                self.store.record_reject(
                    self.side, item.flow.name, item.source, item.to_dict(), reason, field_name
                )
                self._kept[key] = item

    def finish(self) -> RunReport:
        """A last :meth:`checkpoint`; what still waits is counted ``skipped``. The report."""
        self.checkpoint()
        for key, item in self._retry.items():
            reason = self._wait_reasons.get(key, ("kept for the next run", None))[0]
            self.report.count(item.flow, Outcome.SKIPPED, record=item.source, detail=reason)
        self.report.finish()
        return self.report

    # --- one batch ---------------------------------------------------------------------------

    def apply(self, items: Iterable[Incoming]) -> None:
        """Apply one batch; its links, snapshots and rejects commit together at the end."""
        latest: dict[tuple[str, str], Incoming] = {}
        for item in items:
            latest[item.key] = item  # a record seen twice in a batch: its last version wins
        effects: list[_Effect] = []
        pending: list[_Pending] = []
        with self.store.transaction():  # one consistent read of the links for the batch
            for item in latest.values():
                self._retry.pop(item.key, None)
                if item.is_deleted:
                    effects.append(self._delete(item))
                    continue
                decision = self._plan(item)
                if decision.action is Action.CREATE and decision.resuming and not self.dry_run:
                    decision = self._recover(item, decision)
                effects.append(self._decided(item, decision, pending))
        if self.dry_run:
            return
        self._begin_creates(pending)
        self._write(pending)
        self._record(effects, pending)

    def _plan(self, item: Incoming) -> Plan:
        desired = self._follow(item.desired)
        fields = [name for name in self.destination.reference_fields if name in desired]
        return plan(self.store, item.flow, item.source, desired, reference_fields=fields)

    def _follow(self, desired: Mapping[str, Any]) -> dict[str, Any]:
        """Resolve linked references; follow those that land on another record type.

        A board task's customer is ``asana-project:<board>``, which lands on a Custompms
        *project*: its ``customer_id`` is taken. A subtask's ``project_id`` names its parent
        task: that task's ``project_id`` is taken. A reference the landed record does not
        have (``parent_task_id`` of a project: the parent became a project) becomes empty.
        """
        values = dict(desired)
        for name, expected in self.destination.reference_fields.items():
            value = values.get(name)
            if is_empty(value):
                continue
            ref = parse_ref(value)
            if ref.side is self.side:
                continue
            link = self.store.find(ref)
            if link is None or link.status is not LinkStatus.LINKED:
                continue  # plan() waits for it
            landed = link.ref(self.side)
            if landed is None:
                continue
            if landed.type == expected:
                values[name] = str(landed)  # resolved here: plan() takes it as is
                continue
            followed = (link.snapshot(self.side) or {}).get(name)
            values[name] = None if is_empty(followed) else format_ref(self.side, expected, followed)
        return values

    def _recover(self, item: Incoming, decision: Plan) -> Plan:
        """A create begun by an earlier run: link what it made, if the destination finds it."""
        op = self._create_op(item, decision, decision.link)
        found = self.destination.find_created(op)
        if found is None:
            return decision
        destination = Ref(
            self.side, item.flow.record_type(self.side), self.destination.key_of(item.flow, found)
        )
        with self.store.transaction():
            self.store.complete_create(item.source, destination, **self._snapshots(item, found))
        return self._plan(item)

    def _decided(self, item: Incoming, decision: Plan, pending: list[_Pending]) -> _Effect:
        flow, source = item.flow, item.source
        if decision.action is Action.SKIP:
            self.report.count(flow, Outcome.SKIPPED, record=source, detail=decision.reason)
            return _Effect(item)
        waits_for = set(decision.unresolved.values())
        if decision.action is Action.WAIT and self.dry_run and waits_for <= self._would_create:
            # Its references would be created earlier in this run: so would it be.
            self._would_create.add(str(source))
            self.report.count(flow, Outcome.CREATED, record=source, fields=list(decision.values))
            return _Effect(item)
        if decision.action is Action.WAIT:
            self._retry[item.key] = item
            field_name = min(decision.unresolved) if decision.unresolved else None
            self._wait_reasons[item.key] = (decision.reason, field_name)
            return _Effect(item)
        if decision.action is Action.UNCHANGED:
            self.report.count(flow, Outcome.UNCHANGED)
            known = decision.link.snapshot(source.side) if decision.link else None
            fresh = known != to_jsonable(dict(item.source_values))
            return _Effect(item, clear=True, source_snapshot=fresh)
        if self.dry_run:
            outcome = Outcome.CREATED if decision.action is Action.CREATE else Outcome.UPDATED
            if outcome is Outcome.CREATED:
                self._would_create.add(str(source))
            self.report.count(flow, outcome, record=source, fields=list(decision.changes))
            return _Effect(item)
        if decision.action is Action.CREATE:
            op = self._create_op(item, decision, decision.link)
        else:
            op = WriteOp(
                OpKind.UPDATE,
                flow,
                source,
                dict(decision.changes),
                destination=decision.destination,
                snapshot=decision.link.snapshot(self.side) if decision.link else None,
            )
        pending.append(_Pending(item, decision, op))
        return _Effect(item)

    def _create_op(self, item: Incoming, decision: Plan, link: Link | None) -> WriteOp:
        return WriteOp(
            OpKind.CREATE,
            item.flow,
            item.source,
            dict(decision.changes or decision.values),
            create_key=link.create_key if link else None,
        )

    def _delete(self, item: Incoming) -> _Effect:
        """A record deleted in the source: unlink (never delete the other side) or ignore."""
        for key in [key for key in self._retry if key[1] == str(item.source)]:
            del self._retry[key]  # kept under another flow (e.g. a board task): never replay
        link = self.store.find(item.source)
        flow = link.flow if link is not None else item.flow
        if delete_policy_for(self.delete_policy, flow) is DeletePolicy.IGNORE:
            detail = "deleted in the source; delete policy is ignore"
            self.report.count(flow, Outcome.SKIPPED, record=item.source, detail=detail)
            return _Effect(item)
        if link is None or link.status is LinkStatus.UNLINKED:
            return _Effect(item, clear=True)  # never synced, or already unlinked: nothing to do
        detail = f"deleted in {self.side.other}; {link.ref(self.side) or 'pending create'} kept"
        self.report.count(flow, Outcome.UNLINKED, record=item.source, detail=detail)
        return _Effect(item, clear=True, unlink=link)

    # --- writes ------------------------------------------------------------------------------

    def _begin_creates(self, pending: list[_Pending]) -> None:
        """Pending rows for every create, committed before the destination sees the writes."""
        creates = [p for p in pending if p.op.kind is OpKind.CREATE]
        if not creates:
            return
        with self.store.transaction():
            for entry in creates:
                link = self.store.begin_create(
                    entry.item.flow, entry.item.source, **self._source_snapshot(entry.item)
                )
                entry.op = replace(entry.op, create_key=link.create_key)

    def _write(self, pending: list[_Pending]) -> None:
        """Send the ops; merge and resend the stale ones, up to :data:`MAX_MERGE_ROUNDS`."""
        todo = list(pending)
        for _round in range(MAX_MERGE_ROUNDS):
            if not todo:
                return
            outcomes = self.destination.write([entry.op for entry in todo])
            if len(outcomes) != len(todo):
                raise ApplyError(
                    f"destination answered {len(outcomes)} outcomes for {len(todo)} ops"
                )
            stale = []
            for entry, outcome in zip(todo, outcomes, strict=True):
                entry.outcome = outcome
                if isinstance(outcome, Stale) and entry.op.kind is OpKind.UPDATE:
                    stale.append(entry)
            todo = self._merge(stale)
        for entry in todo:
            entry.outcome = Rejected(412, "changed again during each merge; retried next run")

    def _merge(self, stale: list[_Pending]) -> list[_Pending]:
        """Three-way merge each stale update; returns those that still need a write."""
        missing = [e.op.destination for e in stale if e.outcome.current is None]  # type: ignore[union-attr]
        fetched = self.destination.fetch(missing) if missing else {}
        resend = []
        for entry in stale:
            current = entry.outcome.current or fetched.get(entry.op.destination)  # type: ignore[union-attr]
            if current is None:
                entry.outcome = Gone()
                continue
            flow, item = entry.item.flow, entry.item
            ours = {
                name: value
                for name, value in entry.decision.values.items()
                if name in flow.fields(self.side)
            }
            result = merge_fields(
                entry.decision.link.snapshot(self.side) if entry.decision.link else None,
                ours,
                current,
                source=self.side.other,
                policy=policy_for(self.conflict_policy, flow),
                ours_modified_at=item.modified_at,
                theirs_modified_at=self.destination.modified_at(flow, current),
                field_types=flow.fields(self.side),
            )
            for conflict in result.conflicts:
                self.report.conflict(flow, item.source, conflict)
            if not result.to_destination:
                entry.outcome = Written(current)  # nothing of ours left to write
                entry.merged_away = True
                continue
            entry.op = replace(entry.op, values=result.to_destination, snapshot=current)
            resend.append(entry)
        return resend

    # --- recording ---------------------------------------------------------------------------

    def _record(self, effects: list[_Effect], pending: list[_Pending]) -> None:
        """Links, snapshots and rejects of the batch, in one transaction; then the report."""
        failures: list[str] = []
        counts: list[tuple[Flow, Outcome, Ref, list[str] | None, str | None]] = []
        with self.store.transaction():
            for effect in effects:
                self._record_effect(effect)
            for entry in pending:
                self._record_outcome(entry, counts, failures)
        for flow, outcome, source, fields, detail in counts:
            if outcome is Outcome.REJECTED:
                self.report.reject(flow, source, detail or "", fields[0] if fields else None)
            else:
                self.report.count(flow, outcome, record=source, fields=fields, detail=detail)
        if failures:
            raise ApplyError(
                f"{len(failures)} writes failed after retries (first: {failures[0]}); "
                "the others are recorded, and the run must be repeated"
            )

    def _record_effect(self, effect: _Effect) -> None:
        item = effect.item
        if effect.unlink is not None:
            if effect.unlink.status is LinkStatus.PENDING:
                self.store.cancel_create(item.source)
            else:
                self.store.unlink(item.source)
        if effect.source_snapshot:
            self.store.update_snapshots(item.source, **{item.source.side.value: item.source_values})
        if effect.clear:
            self._clear(item)

    def _record_outcome(
        self,
        entry: _Pending,
        counts: list[tuple[Flow, Outcome, Ref, list[str] | None, str | None]],
        failures: list[str],
    ) -> None:
        item, op, outcome = entry.item, entry.op, entry.outcome
        flow, source = item.flow, item.source
        if isinstance(outcome, Written) and op.kind is OpKind.CREATE:
            key = self.destination.key_of(flow, outcome.record)
            created = Ref(self.side, flow.record_type(self.side), key)
            try:  # checked before anything changes, so the batch's transaction stays usable
                self.store.complete_create(source, created, **self._snapshots(item, outcome.record))
            except LinkError as error:  # the destination answered with another pair's record
                outcome = Rejected(409, str(error))
            else:
                counts.append((flow, Outcome.CREATED, source, list(op.values), None))
                self._clear(item)
                return
        if isinstance(outcome, Written):  # an update (or a merge that kept theirs)
            self.store.update_snapshots(
                source,
                **{
                    source.side.value: dict(item.source_values),
                    self.side.value: self.destination.snapshot_of(flow, outcome.record),
                },
            )
            kind = Outcome.UNCHANGED if entry.merged_away else Outcome.UPDATED
            counts.append((flow, kind, source, list(op.values), None))
            self._clear(item)
        elif isinstance(outcome, Rejected):
            if op.kind is OpKind.CREATE:
                self.store.fail_create(source)
            self.store.record_reject(
                self.side, flow.name, source, item.to_dict(), outcome.reason, outcome.field
            )
            self._kept[item.key] = item
            reason = f"{outcome.status} {outcome.reason}"
            counts.append(
                (flow, Outcome.REJECTED, source, [outcome.field] if outcome.field else None, reason)
            )
        elif isinstance(outcome, Gone):
            if op.kind is OpKind.CREATE:
                self.store.cancel_create(source)
            elif delete_policy_for(self.delete_policy, flow) is DeletePolicy.UNLINK:
                self.store.unlink(source)
            self._clear(item)
            counts.append((flow, Outcome.UNLINKED, source, None, outcome.reason))
        else:
            failures.append(f"{source}: {getattr(outcome, 'reason', outcome)}")

    def _clear(self, item: Incoming) -> None:
        """Forget what was kept for the record, under any flow: it is applied (or deleted)."""
        for key in [key for key in self._kept if key[1] == str(item.source)]:
            self.store.clear_reject(self.side, key[0], item.source)
            del self._kept[key]

    def _source_snapshot(self, item: Incoming) -> dict[str, Any]:
        return {f"{item.source.side.value}_snapshot": dict(item.source_values)}

    def _snapshots(self, item: Incoming, record: Mapping[str, Any]) -> dict[str, Any]:
        """``update_snapshots``-style keywords for the source values and a destination record."""
        return {
            f"{item.source.side.value}_snapshot": dict(item.source_values),
            f"{self.side.value}_snapshot": self.destination.snapshot_of(item.flow, record),
        }


@dataclass
class _Effect:
    """The link-store changes of a record that needs no write (or was decided without one)."""

    item: Incoming
    clear: bool = False
    source_snapshot: bool = False
    unlink: Link | None = None
