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
kept at once and reported; they are sent again when their values change, or with the same
values once a growing back-off has run out (:class:`~talk_sync.linkstore.Backoff`), never on
every run.
A record deleted in the source is unlinked and reported (the other side is never deleted),
or ignored, per flow. A dry run plans and reports only: nothing is written to the
destination or the link store.
"""

from __future__ import annotations

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, NamedTuple

from talk_sync.adoption import (
    AdoptionMerge,
    Candidate,
    CandidateIndex,
    adoption_merge,
    ambiguity,
    choose,
    retarget,
)
from talk_sync.flows import Flow, get_flow
from talk_sync.identity import match_key
from talk_sync.linkstore import (
    Backoff,
    ClaimedElsewhereError,
    Link,
    LinkError,
    LinkStatus,
    LinkStore,
    Reject,
)
from talk_sync.merge import merge as merge_fields
from talk_sync.merge import policy_for
from talk_sync.models import utcnow
from talk_sync.normalize import is_empty, parse_timestamp, to_jsonable
from talk_sync.plan import Action, Plan, plan
from talk_sync.records import synced_values
from talk_sync.refs import Ref, Side, format_ref, parse_ref
from talk_sync.report import Outcome, RunReport

logger = logging.getLogger(__name__)

#: Rounds of merge-and-write after ``Stale`` before a record is kept for the next run.
MAX_MERGE_ROUNDS = 3
#: A record kept (refused, or waiting) this long is reported stuck and fails the run.
DEFAULT_STUCK_AFTER = timedelta(hours=24)
#: A refused record is sent again with the same values after 15 min, 30 min, 1 h ... 24 h.
DEFAULT_BACKOFF = Backoff(first=timedelta(minutes=15), cap=timedelta(hours=24))
#: Leeway for clock differences between the two systems and this machine.
CLOCK_SKEW = timedelta(minutes=5)


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
    #: The record on the other side this one says it is (a Custompms record's
    #: ``external_id`` names the Asana record it was created from): it is linked to that
    #: record, never created again.
    counterpart: Ref | None = None
    #: When the source record was created (``None`` when its system does not say).
    created_at: Any = None
    #: Fields the destination cannot hold as desired, and why (set by the engine from
    #: :meth:`Destination.fit`): ``desired`` holds what the destination can hold instead,
    #: or leaves the field out (the destination keeps its value).
    held: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """Identity within a run: a later copy of the same record replaces an earlier one."""
        return (self.flow.name, str(self.source))

    @property
    def fingerprint(self) -> str:
        """A hash of what the record asks of the destination: kept with a refusal, so that
        the same values are not sent again before their back-off ends, and new ones are."""
        asked = to_jsonable({"desired": dict(self.desired), "is_deleted": self.is_deleted})
        return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()

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
                "counterpart": str(self.counterpart) if self.counterpart else None,
                "created_at": self.created_at,
                "held": dict(self.held),
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
            counterpart=parse_ref(data["counterpart"]) if data.get("counterpart") else None,
            created_at=data.get("created_at"),
            held=dict(data.get("held") or {}),
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
    """The destination holds ``record`` (as it answered the write).

    ``unsent``: fields of the op the destination could not take (e.g. Asana's read-only
    fields): they were not written.
    ``kept``: of those, the fields where each side keeps its own value (e.g. a plain-text
    description Asana's rich text cannot take as it stands): the source's snapshot records
    the destination's value for them, so the way back does not overwrite the source's.
    """

    record: Mapping[str, Any]
    unsent: frozenset[str] = frozenset()
    kept: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Stale:
    """The destination record changed since its snapshot; ``current`` is what it holds now.

    ``current=None`` makes the engine fetch it with :meth:`Destination.fetch`.
    """

    current: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Rejected:
    """The destination refused the operation for good (a 4xx, a 403 included): kept, and
    sent again when the record's values change or after a growing back-off.

    ``transient``: a refusal that passes by itself (the record changed again during every
    merge): retried on the next run, without back-off.
    """

    status: int
    reason: str
    field: str | None = None
    transient: bool = False


@dataclass(frozen=True)
class Gone:
    """The destination record was deleted there: the link is dropped per the delete policy."""

    reason: str = "deleted in the destination"


@dataclass(frozen=True)
class Failed:
    """A transient failure that outlasted the destination's own retries: the run fails."""

    reason: str


WriteOutcome = Written | Stale | Rejected | Gone | Failed


#: Key of the create context (:meth:`Destination.create_context`) in a pending row's
#: destination snapshot: not a field, so never compared or written.
CREATE_CONTEXT = "_create_context"


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

    def fit(self, flow: Flow, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """The values this destination would hold of ``values``, and why it would not hold
        the others (``{field: reason}``), e.g. a start date Asana refuses without a due date.

        A field it cannot hold is set to what it would hold instead (an empty start date),
        or left out: the destination then keeps its own value (an owner email that names no
        user). The engine writes only what the destination can hold, reports the rest per
        record, and keeps the source's value on the way back. The default holds everything.
        """
        return dict(values), {}

    def unplaceable(self, flow: Flow, values: Mapping[str, Any]) -> str | None:
        """Why a record with ``values`` has no place here (None: it has one).

        E.g. a Custompms task needs a project, and an Asana task in no project (only in
        someone's My Tasks, or a membership of a kind the mapping does not know) has none.
        Such a record is skipped and reported, not rejected and re-sent every run.
        """
        return None

    def placement(self, flow: Flow, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` as the record a create makes would hold them here: override when the
        destination fills in what the values leave empty (e.g. a default container)."""
        return dict(values)

    def match_key(self, op: WriteOp) -> str | None:
        """What the record a create makes will look like here (:mod:`talk_sync.identity`).

        Recorded with the pending link, so that the reverse direction recognises the record
        before the link is complete.
        """
        return match_key(op.flow, self.side, self.placement(op.flow, op.values))

    def candidate_scope(self, flow: Flow, values: Mapping[str, Any]) -> Hashable | None:
        """Where a create of ``values`` would go, as a key for :meth:`list_candidates` (e.g.
        the project of a task); ``None``: nothing of ``flow`` is adopted here. The default
        adopts nothing."""
        return None

    def list_candidates(self, flow: Flow, scope: Hashable) -> Sequence[Mapping[str, Any]]:
        """The records of ``flow``'s type in ``scope``, which a new source record may already
        be (:mod:`talk_sync.adoption`): asked once per run and scope, never per record."""
        return []

    def candidate_flow(self, flow: Flow, record: Mapping[str, Any]) -> Flow:
        """The flow that links ``record``, one of :meth:`list_candidates` for ``flow``: a
        listing may hold records of a sibling flow (the default: ``flow``)."""
        return flow

    def counterpart_of(self, record: Mapping[str, Any]) -> Ref | None:
        """The source record ``record`` says it is the copy of (a Custompms ``external_id``
        naming an Asana record), if any: it is adopted by that record only."""
        return None

    def link_marker(self, flow: Flow, source: Ref, snapshot: Mapping[str, Any]) -> dict[str, Any]:
        """Values that record, on a linked destination record, which source record it is
        linked to (Custompms: ``external_id``), when its ``snapshot`` shows it does not yet:
        the links can then be rebuilt from the systems alone. The default records nothing."""
        return {}

    def create_context(self, ops: Sequence[WriteOp]) -> list[Mapping[str, Any] | None]:
        """What to record with each create's pending row before it is sent, one per op.

        Kept under :data:`CREATE_CONTEXT` in the pending row's destination snapshot (a
        resumed create keeps the context of its first attempt) for :meth:`find_created`,
        e.g. which records of the same name existed before the create began. The default
        records nothing.
        """
        return [None] * len(ops)

    def find_created(self, op: WriteOp) -> Mapping[str, Any] | None:
        """Find the record an interrupted create made (systems without idempotency keys).

        The default finds nothing: the create is replayed with the same ``create_key``,
        which an idempotent destination answers with the record it created first.
        """
        return None


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


@dataclass(frozen=True)
class _Held:
    """A record to create that existing destination records may already be: adopted, or
    reported ambiguous, once the run has seen every record (:meth:`ApplyEngine.finish`)."""

    item: Incoming
    candidates: list[Candidate]


#: Rounds of adoption at the end of a run: each adopts a level (customers, projects, tasks,
#: subtasks) whose records only then find their candidates.
MAX_ADOPTION_ROUNDS = 20


class ApplyError(RuntimeError):
    """Some writes failed transiently; what was written is recorded, the run must fail."""


class ApplyEngine:
    """Applies batches of :class:`Incoming` records to a :class:`Destination`.

    One engine per run: :meth:`start`, :meth:`apply` per batch, :meth:`checkpoint` before
    each STATE the target emits, :meth:`finish` at the end of input. ``conflict_policy`` and
    ``delete_policy`` are one policy or a mapping per flow (see :func:`policy_for`).
    ``claim`` names the run (its lease in the link store): the creates it begins are its
    own, and no other live run sends them. A record kept longer than ``stuck_after`` is
    reported stuck. A record the destination refused is sent again with the same values only
    after ``retry_backoff`` (``None``: on every run); with other values, at once.
    With ``adopt_existing`` a record to create that the destination already holds (same
    ``match_keys``) is linked to it instead, its differences settled by ``adopt_policy``
    (:mod:`talk_sync.adoption`).
    """

    def __init__(
        self,
        store: LinkStore,
        destination: Destination,
        *,
        conflict_policy: Any = None,
        delete_policy: Any = None,
        dry_run: bool = False,
        claim: str | None = None,
        stuck_after: timedelta | None = DEFAULT_STUCK_AFTER,
        retry_backoff: Backoff | None = DEFAULT_BACKOFF,
        adopt_existing: bool = True,
        adopt_policy: Any = None,
        match_keys: Any = None,
    ) -> None:
        self.store = store
        self.destination = destination
        self.side = destination.side
        self.conflict_policy = conflict_policy
        self.delete_policy = delete_policy
        self.dry_run = dry_run
        self.claim = claim
        self.stuck_after = stuck_after
        self.retry_backoff = retry_backoff
        self.report = RunReport(self.side.other, dry_run=dry_run)
        #: Records to retry at the end of the run (waiting, or replayed rejects), by key.
        self._retry: dict[tuple[str, str], Incoming] = {}
        #: Why each queued record waits, and the first field it waits on.
        self._wait_reasons: dict[tuple[str, str], tuple[str, str | None]] = {}
        #: Dry run: sources that would be created, so their dependants would be too.
        self._would_create: set[str] = set()
        #: What is stored as a reject, by key: a retry pass re-stores only a newer version.
        self._kept: dict[tuple[str, str], Incoming] = {}
        #: Fields reported as not held by the destination in this run, by record key.
        self._reported_held: set[tuple[tuple[str, str], str]] = set()
        #: Fingerprints of the values refused and not to be sent again yet, by record key
        #: (kept by earlier runs, or refused in this one).
        self._backoff: dict[tuple[str, str], str] = {}
        #: Records kept by earlier runs whose back-off is not over: reported as deferred.
        self._deferred: dict[tuple[str, str], Reject] = {}
        self.adopt_policy = adopt_policy
        #: The destination's records by adoption key (``None``: never adopt).
        self.candidates = CandidateIndex(destination, match_keys) if adopt_existing else None
        #: Records to create that may already exist: decided at the end of the run.
        self._held: dict[tuple[str, str], _Held] = {}
        #: Dry run: the pairs that would be adopted, source ref -> (destination ref, its
        #: snapshot), so that their dependants resolve as they would; the adopted records.
        self._would_link: dict[str, tuple[Ref, Mapping[str, Any]]] = {}
        self._taken: set[Ref] = set()
        #: Dry run: the records the batch's ``external_id``s name, read in one go.
        self._counterparts: dict[Ref, Mapping[str, Any] | None] = {}

    # --- run lifecycle -----------------------------------------------------------------------

    def start(self) -> int:
        """Queue the records kept by earlier runs for a retry at the end; returns how many.

        A refused record whose back-off is not over is not queued: it is deferred (see
        :attr:`deferred`), unless the source sends it with other values in this run.
        """
        now = utcnow()
        for reject in self.store.rejects(side=self.side):
            try:
                item = Incoming.from_dict(reject.record)
            except (KeyError, ValueError):
                logger.warning("Kept record %s cannot be replayed; dropped", reject.source_key)
                if not self.dry_run:
                    self.store.clear_reject(self.side, reject.stream, reject.source_key)
                continue
            self._kept[item.key] = item
            if self.retry_backoff is not None and reject.fingerprint and not reject.due(now):
                self._backoff[item.key] = reject.fingerprint
                self._deferred[item.key] = reject
            else:
                self._retry[item.key] = item
        return len(self._retry)

    @property
    def deferred(self) -> list[Reject]:
        """Refused records not sent again in this run: same values, back-off not over."""
        return list(self._deferred.values())

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
        adopting = ("it may be a record the destination holds: decided at the end of the run", None)
        waiting = [(key, item, self._wait_reasons.get(key)) for key, item in self._retry.items()]
        waiting += [(key, held.item, adopting) for key, held in self._held.items()]
        with self.store.transaction():
            for key, item, why in waiting:
                if self._kept.get(key) == item:
                    continue  # stored already, by an earlier run or checkpoint
                reason, field_name = why or ("kept for the next run", None)
                self.store.record_reject(
                    self.side, item.flow.name, item.source, item.to_dict(), reason, field_name
                )
                self._kept[key] = item

    def finish(self) -> RunReport:
        """A last :meth:`checkpoint`; what still waits is counted ``skipped``. The report.

        Every record still kept that a person must act on is listed as stuck: one stuck
        for a reason of its own (a conflict, a deleted parent, an ambiguous match), or kept
        for longer than ``stuck_after``.
        """
        self.checkpoint()
        for _round in range(MAX_ADOPTION_ROUNDS):
            if not self._held:
                break
            self._adopt_held()
            self.checkpoint()  # their dependants resolve now, and may be held in turn
        for key, item in self._retry.items():
            reason = self._wait_reasons.get(key, ("kept for the next run", None))[0]
            self.report.count(item.flow, Outcome.SKIPPED, record=item.source, detail=reason)
        for reject in self._deferred.values():
            self.report.defer(
                reject.stream,
                reject.source_key,
                reject.reason,
                reject.field,
                retry_at=reject.retry_at,
                attempts=reject.attempts,
            )
        if not self.dry_run:
            self._report_stuck()
        self.report.finish()
        return self.report

    def _report_stuck(self) -> None:
        now = utcnow()
        for reject in self.store.rejects(side=self.side):
            why = reject.stuck
            age = now - reject.first_seen
            if why is None and self.stuck_after is not None and age >= self.stuck_after:
                why = f"not applied for {_duration(age)} ({reject.attempts} tries): {reject.reason}"
                self.store.mark_stuck(self.side, reject.stream, reject.source_key, why)
            if why is not None:
                self.report.stuck(reject.stream, reject.source_key, why, reject.field)

    # --- one batch ---------------------------------------------------------------------------

    def apply(self, items: Iterable[Incoming]) -> None:
        """Apply one batch; its links, snapshots and rejects commit together at the end."""
        latest: dict[tuple[str, str], Incoming] = {}
        for item in items:
            item = self._fitted(item)
            if self._backing_off(item):
                continue  # refused with these very values, and not due again yet
            latest[item.key] = item  # a record seen twice: its last version wins
        for orphan in self._subtasks_of_deleted(latest.values()):
            latest.setdefault(orphan.key, orphan)
        for item in latest.values():
            self._report_held(item)
        effects: list[_Effect] = []
        pending: list[_Pending] = []
        planned: list[tuple[Incoming, Plan]] = []
        with self.store.transaction():  # one consistent read of the links for the batch
            for item in latest.values():
                self._retry.pop(item.key, None)
                self._held.pop(item.key, None)
                if item.is_deleted:
                    effects.append(self._delete(item))
                elif why := self.destination.unplaceable(item.flow, item.desired):
                    self.report.count(item.flow, Outcome.SKIPPED, record=item.source, detail=why)
                    effects.append(_Effect(item, clear=True))
                else:
                    planned.append((item, self._plan(item)))
        if self.dry_run and self.candidates is not None:  # the records they name, in one read
            named = {item.counterpart for item, d in planned if d.action is Action.CREATE}
            named -= {None, *self._counterparts}
            if named:
                self._counterparts.update(self.destination.fetch(sorted(named, key=str)))  # type: ignore[arg-type]
        unmerged: list[tuple[Incoming, Plan]] = []
        for item, decision in planned:
            if decision.action is Action.CREATE and not self.dry_run:
                # Outside the read transaction: this may take claims and ask the destination.
                decision = self._identify(item, decision)
            if decision.action is Action.CREATE and self._hold(item, decision):
                continue
            if self._unmerged(decision):
                unmerged.append((item, decision))
                continue
            effects.append(self._decided(item, decision, pending))
        for item, decision in self._merge_linked(unmerged):
            effects.append(self._decided(item, decision, pending))
        if self.dry_run:
            return
        self._begin_creates(pending)
        self._write(pending)
        self._record(effects, pending)

    def _subtasks_of_deleted(self, items: Iterable[Incoming]) -> list[Incoming]:
        """The linked subtasks, at any depth, of the Asana tasks deleted in ``items``.

        Asana deletes a task's subtasks with it, but the tap sees only what its events say,
        and events are at most once: the subtasks follow their parent from the links'
        Asana snapshots (``parent``), whether or not their own deletes arrive.
        """
        gone = [
            item.source.key
            for item in items
            if item.is_deleted and item.source.side is Side.ASANA and item.source.type == "task"
        ]
        if not gone:
            return []
        children: dict[str, list[Link]] = {}
        # Subtasks are always task_task records (a board task is a top-level task).
        for link in self.store.links(flow="task_task", status=LinkStatus.LINKED):
            parent = (link.snapshot(Side.ASANA) or {}).get("parent")
            if parent:
                children.setdefault(str(parent), []).append(link)
        orphans: list[Incoming] = []
        while gone:
            for link in children.pop(gone.pop(), []):
                ref = link.ref(Side.ASANA)
                if ref is not None:
                    orphans.append(Incoming(link.flow, ref, {}, is_deleted=True))
                    gone.append(ref.key)
        return orphans

    def _fitted(self, item: Incoming) -> Incoming:
        """``item`` with only what the destination can hold (see :meth:`Destination.fit`).

        The fields it cannot hold are noted in ``held``, and the source's snapshot records,
        for those fields, what the destination holds: the reverse direction then does not
        take the destination's value for an edit of the source's. A field set to another
        value (an empty start date) takes it here; a field left out, in which the
        destination keeps its own value, takes that value when the record is recorded
        (:meth:`_source_values`). Fitting a fitted record keeps what it noted.
        """
        if item.is_deleted:
            return item
        desired, held = self.destination.fit(item.flow, item.desired)
        if not held:
            return item
        source_values = dict(item.source_values)
        for name in held:
            paired = item.flow.counterpart_field(self.side, name)
            if name in desired and paired in source_values:
                source_values[paired] = desired[name]
        held = {**item.held, **held}
        return replace(item, desired=desired, source_values=source_values, held=held)

    def _report_held(self, item: Incoming) -> None:
        """Report each field the destination cannot hold, once per record and run."""
        for name, reason in item.held.items():
            if (item.key, name) not in self._reported_held:
                self._reported_held.add((item.key, name))
                self.report.count(
                    item.flow, Outcome.SKIPPED, record=item.source, fields=[name], detail=reason
                )

    def _source_values(
        self, item: Incoming, destination_values: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """The source snapshot of ``item`` once the destination holds ``destination_values``
        (its record as written, or its last-known snapshot).

        A field the destination could not hold and kept as it was (left out of ``desired``)
        is recorded as the destination holds it: the reverse direction must not take that
        value for an edit and write it back over the source's.
        """
        values = dict(item.source_values)
        for name in item.held:
            paired = item.flow.counterpart_field(self.side, name)
            if name not in item.desired and paired in values and destination_values is not None:
                values[paired] = destination_values.get(name)
        return values

    def _backing_off(self, item: Incoming) -> bool:
        """Whether ``item`` asks for the very values the destination refused, and their
        back-off is not over: it stays kept (and is reported deferred, when an earlier run
        refused it). Other values, or a delete, end the back-off."""
        refused = self._backoff.get(item.key)
        if refused is None:
            return False
        if not item.is_deleted and refused == item.fingerprint:
            return True
        del self._backoff[item.key]
        self._deferred.pop(item.key, None)
        return False

    def _plan(self, item: Incoming) -> Plan:
        desired = self._follow(item.desired)
        fields = [name for name in self.destination.reference_fields if name in desired]
        decision = plan(self.store, item.flow, item.source, desired, reference_fields=fields)
        snapshot = decision.link.snapshot(self.side) if decision.link else None
        if decision.action in (Action.UPDATE, Action.UNCHANGED) and snapshot is not None:
            marker = self.destination.link_marker(item.flow, item.source, snapshot)
            if marker:  # the destination record does not say yet which record it is linked to
                changes = {**decision.changes, **marker}
                decision = replace(decision, action=Action.UPDATE, changes=changes)
        return decision

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
            if str(ref) in self._would_link:  # dry run: adopted, as far as this run goes
                landed, snapshot = self._would_link[str(ref)]
            else:
                link = self.store.find(ref)
                if link is None or link.status is not LinkStatus.LINKED:
                    continue  # plan() waits for it
                landed, snapshot = link.ref(self.side), link.snapshot(self.side)
            if landed is None:
                continue
            if landed.type == expected:
                values[name] = str(landed)  # resolved here: plan() takes it as is
                continue
            followed = (snapshot or {}).get(name)
            values[name] = None if is_empty(followed) else format_ref(self.side, expected, followed)
        return values

    # --- identity: never create a record the other side already made -----------------------

    def _identify(self, item: Incoming, decision: Plan) -> Plan:
        """Before a create: is the record already on the other side, or being put there?

        - It names its counterpart (a Custompms ``external_id``): link the two.
        - The other direction is creating (or crashed creating) a record just like it
          (same match key): that record is this one; link it, or wait while that run lives.
        - A create an earlier run of ours began: claim it, then find what it made.
        """
        if decision.resuming:
            return self._resume(item, decision)
        if item.counterpart is not None:
            return self._link_counterpart(item, decision)
        return self._match_pending(item, decision) or decision

    def _resume(self, item: Incoming, decision: Plan) -> Plan:
        """A create begun by an earlier run: claim it, then link what it made, if found.

        What it made holds the values that run sent (kept with the pending row) plus what
        the destination derived from them: only source edits made since are written to it.
        """
        try:
            link = self.store.begin_create(item.flow, item.source, claim=self.claim)
        except ClaimedElsewhereError as error:
            return replace(decision, action=Action.WAIT, note=str(error))
        op = self._create_op(item, decision, link)
        found = self.destination.find_created(op)
        if found is None:
            return replace(decision, link=link)
        destination = Ref(
            self.side, item.flow.record_type(self.side), self.destination.key_of(item.flow, found)
        )
        snapshots = self._snapshots(item, found, sent=link.snapshot(self.side))
        try:
            self.store.complete_create(item.source, destination, **snapshots)
        except LinkError as error:
            return replace(decision, action=Action.STUCK, note=f"{error}; link it by hand")
        return self._plan(item)

    def _link_counterpart(self, item: Incoming, decision: Plan) -> Plan:
        counterpart, source = item.counterpart, item.source
        assert counterpart is not None
        link = self.store.find(counterpart)
        snapshot = {f"{source.side.value}_snapshot": dict(item.source_values)}
        try:
            if link is None:  # the link store does not know it (e.g. its row was lost)
                asana, custompms = sorted((counterpart, source), key=lambda ref: ref.side.value)
                self.store.link(item.flow, asana, custompms, origin=counterpart.side, **snapshot)
            elif link.status is LinkStatus.UNLINKED:
                note = f"its counterpart {counterpart} was deleted on one side; not created again"
                return replace(decision, action=Action.SKIP, note=note)
            elif link.ref(source.side) is None:  # the create that made this record is pending
                self.store.complete_create(counterpart, source, **snapshot)
            elif link.ref(source.side) != source:
                note = (
                    f"names {counterpart} as its counterpart, which is linked to "
                    f"{link.ref(source.side)}: clear one record's external_id, or unlink the pair"
                )
                return replace(decision, action=Action.STUCK, note=note)
        except LinkError as error:
            return replace(decision, action=Action.STUCK, note=str(error))
        return self._plan(item)

    def _match_pending(self, item: Incoming, decision: Plan) -> Plan | None:
        """A record the other direction is creating from one of its own (see identity)."""
        key = match_key(item.flow, item.source.side, item.source_values)
        if key is None:
            return None
        matches = self.store.pending_matches(item.flow, self.side, key)
        since = parse_timestamp(item.created_at) if item.created_at else None
        if since is not None:  # a record older than the create cannot be its result
            matches = [m for m in matches if m.created_at - CLOCK_SKEW <= since]
        if not matches:
            return None
        busy = [m for m in matches if self.store.claim_live(m, self.claim)]
        if busy:
            note = f"being created from {busy[0].source} by another run; retried next run"
            return replace(decision, action=Action.WAIT, note=note)
        if len(matches) > 1:
            names = ", ".join(str(m.source) for m in matches)
            note = (
                f"ambiguous: {len(matches)} unfinished creates look like it ({names}); "
                "link it by hand"
            )
            return replace(decision, action=Action.STUCK, note=note)
        snapshot = {f"{item.source.side.value}_snapshot": dict(item.source_values)}
        try:
            self.store.complete_create(matches[0].source, item.source, **snapshot)
        except LinkError as error:
            return replace(decision, action=Action.STUCK, note=str(error))
        return self._plan(item)

    # --- adoption: link what the destination already holds (talk_sync.adoption) -------------

    def _hold(self, item: Incoming, decision: Plan) -> bool:
        """Whether ``item``, about to be created, may be a record the destination holds:
        then it is held, and adopted or reported ambiguous at the end of the run."""
        if self.candidates is None or decision.resuming:
            return False
        if item.counterpart is not None:  # a dry run (a real one linked it in _identify)
            found = self._counterparts.get(item.counterpart)
            candidates = [Candidate(item.counterpart, found, named=True)] if found else []
        else:
            candidates = self.candidates.lookup(item.flow, item.source, decision.values)
        free = [candidate for candidate in candidates if self._free(candidate.ref)]
        if not free:
            return False
        self._held[item.key] = _Held(item, free)
        return True

    def _free(self, ref: Ref) -> bool:
        """Whether ``ref`` may still be adopted: no link of any status (an unlinked record
        was deleted on one side, or unlinked by hand: never re-linked by itself)."""
        return ref not in self._taken and self.store.find(ref) is None

    def _adopt_held(self) -> None:
        """Adopt each held record's one candidate; report the ambiguous ones (kept, stuck).

        Runs once every record of the run is known: one candidate that two records want
        is only seen then. Adopted records are applied again, now linked: what they won is
        written, and their dependants resolve at the next checkpoint.
        """
        held, self._held = self._held, {}
        wanted = {key: [c for c in h.candidates if self._free(c.ref)] for key, h in held.items()}
        chosen, ambiguous = choose(wanted)
        again: list[Incoming] = []
        for key in sorted(ambiguous):
            item, candidates = held[key].item, wanted[key]
            if not candidates:  # each was adopted meanwhile (another run, or a name twin)
                again.append(item)
                continue
            refs = {candidate.ref for candidate in candidates}
            rivals = [
                held[other].item.source
                for other, theirs in wanted.items()
                if other != key and refs & {candidate.ref for candidate in theirs}
            ]
            reason = ambiguity(item, candidates, rivals)
            self.report.ambiguous(item.flow, item.source, sorted(map(str, refs)), reason)
            if not self.dry_run:
                self._keep(item, reason, stuck=reason)
        for key, candidate in chosen.items():
            # As a record of the candidate's flow (a customer adopting a workspace is the
            # workspace's), and linked: without the fields only a create uses.
            original = held[key].item
            item = retarget(original, candidate.flow or original.flow, self.side)
            item = replace(item, desired=item.flow.pick(self.side, item.desired))
            adopted = self._adopt(item, candidate)
            if adopted is not None:  # applied again: linked now, or as it was if it was not
                again.append(item if adopted else original)
        if again:
            self.apply(again)

    def _adopt(self, item: Incoming, candidate: Candidate) -> bool | None:
        """Link ``item`` to ``candidate`` with the merged snapshots; report each difference.

        Returns ``True`` when linked, ``False`` when not (either record got a link
        meanwhile, from another run or a delete): the item is applied again as it came;
        ``None`` in a dry run (nothing to apply).
        """
        flow = item.flow
        theirs, merged = self._adoption_merge(item, self._plan(item).values, candidate.record)
        how = "external_id" if candidate.named else "match key"
        if self.dry_run:
            self.report.adopted(flow, item.source, candidate.ref, how, merged.differences)
            self._would_link[str(item.source)] = (candidate.ref, theirs)
            self._taken.add(candidate.ref)
            return None
        if self.store.find(item.source) is not None or not self._free(candidate.ref):
            return False
        asana, custompms = sorted((item.source, candidate.ref), key=lambda ref: ref.side.value)
        snapshots = {
            f"{self.side.value}_snapshot": merged.snapshot,
            f"{item.source.side.value}_snapshot": self._source_values(item, theirs),
        }
        try:
            self.store.link(flow, asana, custompms, origin=item.source.side, **snapshots)
        except LinkError as error:  # another run linked one of them meanwhile
            logger.info("Not adopted, planned again: %s", error)
            return False
        self.report.adopted(flow, item.source, candidate.ref, how, merged.differences)
        return True

    def _adoption_merge(
        self, item: Incoming, values: Mapping[str, Any], record: Mapping[str, Any]
    ) -> tuple[dict[str, Any], AdoptionMerge]:
        """The destination ``record``'s snapshot, and its merge with ``item``'s ``values``."""
        theirs = self.destination.snapshot_of(item.flow, record)
        merged = adoption_merge(
            item.flow,
            self.side,
            values,
            theirs,
            policy=policy_for(self.adopt_policy, item.flow),
            ours_modified_at=item.modified_at,
            theirs_modified_at=self.destination.modified_at(item.flow, record),
        )
        return theirs, merged

    def _unmerged(self, decision: Plan) -> bool:
        """A link made without the destination's snapshot (by hand, by ``links rebuild``,
        or from an ``external_id``): its two records are merged before anything is written."""
        link = decision.link
        return (
            decision.action in (Action.UPDATE, Action.UNCHANGED)
            and link is not None
            and link.status is LinkStatus.LINKED
            and link.snapshot(self.side) is None
        )

    def _merge_linked(self, unmerged: list[tuple[Incoming, Plan]]) -> list[tuple[Incoming, Plan]]:
        """Merge each pair linked without snapshots (as an adoption), then plan it again."""
        if not unmerged:
            return []
        fetched = self.destination.fetch([decision.destination for _item, decision in unmerged])  # type: ignore[misc]
        planned = []
        for item, decision in unmerged:
            flow, ref = item.flow, decision.destination
            record = fetched.get(ref)  # type: ignore[arg-type]
            if record is None:
                detail = f"linked to {ref}, which no longer exists; unlinked"
                self.report.count(flow, Outcome.UNLINKED, record=item.source, detail=detail)
                if not self.dry_run:
                    self.store.unlink(item.source)
                continue
            theirs, merged = self._adoption_merge(item, decision.values, record)
            how = "external_id" if item.counterpart is not None else "linked by hand or rebuilt"
            self.report.adopted(flow, item.source, ref, how, merged.differences)  # type: ignore[arg-type]
            if self.dry_run:
                continue
            self.store.update_snapshots(
                item.source,
                **{
                    self.side.value: merged.snapshot,
                    item.source.side.value: self._source_values(item, theirs),
                },
            )
            planned.append((item, self._plan(item)))
        return planned

    # --- decisions ---------------------------------------------------------------------------

    def _decided(self, item: Incoming, decision: Plan, pending: list[_Pending]) -> _Effect:
        flow, source = item.flow, item.source
        if decision.action is Action.SKIP:
            self.report.count(flow, Outcome.SKIPPED, record=source, detail=decision.reason)
            return _Effect(item)
        if decision.action is Action.STUCK:
            self.report.count(flow, Outcome.SKIPPED, record=source, detail=decision.reason)
            return _Effect(item, stuck=decision.reason)
        waits_for = set(decision.unresolved.values())
        if decision.action is Action.WAIT and self.dry_run and waits_for <= self._would_create:
            # Its references would be created earlier in this run: so would it be.
            self._would_create.add(str(source))
            self.report.count(flow, Outcome.CREATED, record=source, fields=list(decision.values))
            return _Effect(item)
        if decision.action is Action.WAIT:
            self._wait(item, decision.reason, min(decision.unresolved, default=None))
            return _Effect(item)
        if decision.action is Action.UNCHANGED:
            self.report.count(flow, Outcome.UNCHANGED)
            link = decision.link
            values = self._source_values(item, link.snapshot(self.side) if link else None)
            known = link.snapshot(source.side) if link else None
            fresh = known != to_jsonable(values)
            return _Effect(item, clear=True, source_snapshot=values if fresh else None)
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

    def _wait(self, item: Incoming, reason: str, field_name: str | None = None) -> None:
        """Queue ``item`` for a retry at the next checkpoint (and keep it for the next run)."""
        self._retry[item.key] = item
        self._wait_reasons[item.key] = (reason, field_name)

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
        for key in [key for key in self._held if key[1] == str(item.source)]:
            del self._held[key]  # a deleted record adopts nothing (its delete has no flow)
        link = self.store.find(item.source)
        flow = link.flow if link is not None else item.flow
        if delete_policy_for(self.delete_policy, flow) is DeletePolicy.IGNORE:
            detail = "deleted in the source; delete policy is ignore"
            self.report.count(flow, Outcome.SKIPPED, record=item.source, detail=detail)
            return _Effect(item)
        if link is None:  # never synced: remembered, so its dependants know why they wait
            return _Effect(item, clear=True, deleted=True)
        if link.status is LinkStatus.UNLINKED:
            return _Effect(item, clear=True)  # already unlinked: nothing to do
        detail = f"deleted in {self.side.other}; {link.ref(self.side) or 'pending create'} kept"
        self.report.count(flow, Outcome.UNLINKED, record=item.source, detail=detail)
        return _Effect(item, clear=True, unlink=link)

    # --- writes ------------------------------------------------------------------------------

    def _begin_creates(self, pending: list[_Pending]) -> None:
        """Pending rows for every create, committed before the destination sees the writes.

        Each row is claimed by this run and carries the created record's match key. A
        create another live run has claimed meanwhile is not sent: it waits (next run).
        """
        creates = [p for p in pending if p.op.kind is OpKind.CREATE]
        if not creates:
            return
        contexts = self._create_contexts(creates)

        def begin(_session: Any) -> list[_Pending]:
            claimed_elsewhere = []
            for entry, context in zip(creates, contexts, strict=True):
                # What is sent, kept until the link completes: a resumed create then tells
                # source edits from what the destination derived.
                sent = dict(entry.op.values)
                if context is not None:
                    sent[CREATE_CONTEXT] = context
                try:
                    link = self.store.begin_create(
                        entry.item.flow,
                        entry.item.source,
                        claim=self.claim,
                        match_key=self.destination.match_key(entry.op),
                        **{f"{self.side.value}_snapshot": sent},
                        **self._source_snapshot(entry.item),
                    )
                except ClaimedElsewhereError:
                    claimed_elsewhere.append(entry)
                else:
                    entry.op = replace(entry.op, create_key=link.create_key)
            return claimed_elsewhere

        for entry in self.store.retrying(begin):
            pending.remove(entry)
            note = f"the create of {entry.item.source} is in flight in another run"
            self._wait(entry.item, note)

    def _create_contexts(self, creates: list[_Pending]) -> list[Mapping[str, Any] | None]:
        """Each create's context: its first attempt's when it resumes, else a fresh one."""
        kept: list[Mapping[str, Any] | None] = []
        for entry in creates:
            link = self.store.find(entry.item.source)
            snapshot = link.snapshot(self.side) if link is not None else None
            kept.append((snapshot or {}).get(CREATE_CONTEXT))
        fresh = iter(
            self.destination.create_context(
                [entry.op for entry, context in zip(creates, kept, strict=True) if context is None]
            )
        )
        return [context if context is not None else next(fresh) for context in kept]

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
            entry.outcome = Rejected(
                412, "changed again during each merge; retried next run", transient=True
            )

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
        kept, backoff = dict(self._kept), dict(self._backoff)

        def record(_session: Any) -> tuple[list[_Count], list[str]]:
            # A retried transaction starts from the same knowledge.
            self._kept, self._backoff = dict(kept), dict(backoff)
            counts: list[_Count] = []
            failures: list[str] = []
            for effect in effects:
                self._record_effect(effect)
            for entry in pending:
                self._record_outcome(entry, counts, failures)
            return counts, failures

        counts, failures = self.store.retrying(record)
        for count in counts:
            if count.outcome is Outcome.REJECTED:
                field_name = count.fields[0] if count.fields else None
                self.report.reject(
                    count.flow,
                    count.source,
                    count.detail or "",
                    field_name,
                    retry_at=count.retry_at,
                )
            else:
                self.report.count(
                    count.flow,
                    count.outcome,
                    record=count.source,
                    fields=count.fields,
                    detail=count.detail,
                )
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
        if effect.deleted:
            self.store.record_deleted(item.flow, item.source)
        if effect.source_snapshot is not None:
            self.store.update_snapshots(
                item.source, **{item.source.side.value: effect.source_snapshot}
            )
        if effect.stuck is not None:
            self._keep(item, effect.stuck, stuck=effect.stuck)
        if effect.clear:
            self._clear(item)

    def _keep(
        self,
        item: Incoming,
        reason: str,
        field: str | None = None,
        *,
        stuck: str | None = None,
        backoff: Backoff | None = None,
    ) -> Reject:
        """Keep ``item`` in the link store for the next run (``stuck``: a person must act;
        ``backoff``: refused, not to be sent again with the same values before it ends)."""
        kept = self.store.record_reject(
            self.side,
            item.flow.name,
            item.source,
            item.to_dict(),
            reason,
            field,
            stuck=stuck,
            fingerprint=item.fingerprint,
            backoff=backoff,
        )
        self._kept[item.key] = item
        if backoff is not None:
            self._backoff[item.key] = item.fingerprint
        return kept

    def _record_outcome(
        self,
        entry: _Pending,
        counts: list[_Count],
        failures: list[str],
    ) -> None:
        item, op, outcome = entry.item, entry.op, entry.outcome
        flow, source = item.flow, item.source
        stuck = None
        if isinstance(outcome, Written) and op.kind is OpKind.CREATE:
            key = self.destination.key_of(flow, outcome.record)
            created = Ref(self.side, flow.record_type(self.side), key)
            try:  # checked before anything changes, so the batch's transaction stays usable
                sent = {k: v for k, v in op.values.items() if k not in outcome.unsent}
                snapshots = self._snapshots(
                    item, outcome.record, sent=sent, unsent=outcome.unsent, kept=outcome.kept
                )
                self.store.complete_create(source, created, **snapshots)
            except LinkError as error:  # the destination answered with another pair's record
                outcome = Rejected(409, str(error))
                stuck = f"{error}: unlink one of the pairs, or clear the record's external_id"
            else:
                counts.append(_Count(flow, Outcome.CREATED, source, list(op.values), None))
                self._clear(item)
                return
        if isinstance(outcome, Written):  # an update (or a merge that kept theirs)
            sent = None if entry.merged_away else op.values
            snapshots = self._snapshots(
                item, outcome.record, sent=sent, unsent=outcome.unsent, kept=outcome.kept
            )
            self.store.update_snapshots(
                source,
                **{side.removesuffix("_snapshot"): values for side, values in snapshots.items()},
            )
            written = [name for name in op.values if name not in outcome.unsent]
            # Nothing written (a merge kept theirs, or every field was held back): unchanged.
            kind = Outcome.UPDATED if written and not entry.merged_away else Outcome.UNCHANGED
            counts.append(_Count(flow, kind, source, written, None))
            self._clear(item)
        elif isinstance(outcome, Rejected):
            if op.kind is OpKind.CREATE:
                self.store.fail_create(source)
            backoff = None if outcome.transient else self.retry_backoff
            kept = self._keep(item, outcome.reason, outcome.field, stuck=stuck, backoff=backoff)
            reason = f"{outcome.status} {outcome.reason}"
            fields = [outcome.field] if outcome.field else None
            counts.append(_Count(flow, Outcome.REJECTED, source, fields, reason, kept.retry_at))
        elif isinstance(outcome, Gone):
            if op.kind is OpKind.CREATE:
                self.store.cancel_create(source)
            elif delete_policy_for(self.delete_policy, flow) is DeletePolicy.UNLINK:
                self.store.unlink(source)
            self._clear(item)
            counts.append(_Count(flow, Outcome.UNLINKED, source, None, outcome.reason))
        else:
            failures.append(f"{source}: {getattr(outcome, 'reason', outcome)}")

    def _clear(self, item: Incoming) -> None:
        """Forget what was kept for the record, under any flow: it is applied (or deleted)."""
        for key in [key for key in self._kept if key[1] == str(item.source)]:
            self.store.clear_reject(self.side, key[0], item.source)
            del self._kept[key]
            self._backoff.pop(key, None)
            self._deferred.pop(key, None)

    def _source_snapshot(self, item: Incoming) -> dict[str, Any]:
        return {f"{item.source.side.value}_snapshot": dict(item.source_values)}

    def _snapshots(
        self,
        item: Incoming,
        record: Mapping[str, Any],
        *,
        sent: Mapping[str, Any] | None = None,
        unsent: frozenset[str] = frozenset(),
        kept: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """``*_snapshot`` keywords for the source values and a destination record.

        The fields this run ``sent`` keep the values sent: the destination may derive others
        from them (Asana makes a project's creator its owner when none is given), and until
        the reverse direction carries those back, the next run must not take them for edits
        to undo. Fields the destination could not take (``unsent``, e.g. read-only ones) keep
        what it holds. For the fields each side ``kept``, the source's snapshot records what
        the destination holds too (as :meth:`_fitted` does): neither direction then sees an
        edit to carry, and each side keeps its value until one of them is edited again.
        """
        written = self.destination.snapshot_of(item.flow, record)
        fields = item.flow.fields(self.side)
        for name, value in (sent or {}).items():
            if name in fields and name not in unsent:
                written[name] = value
        source_values = self._source_values(item, written)
        for name in kept:
            paired = item.flow.counterpart_field(self.side, name)
            if paired is not None and paired in source_values and name in written:
                source_values[paired] = written[name]
        return {
            f"{item.source.side.value}_snapshot": source_values,
            f"{self.side.value}_snapshot": written,
        }


@dataclass
class _Effect:
    """The link-store changes of a record that needs no write (or was decided without one)."""

    item: Incoming
    clear: bool = False
    #: The source snapshot to store, when it differs from the link's.
    source_snapshot: Mapping[str, Any] | None = None
    unlink: Link | None = None
    #: A record never linked was deleted: remember it (see ``LinkStore.record_deleted``).
    deleted: bool = False
    #: Why the record cannot be applied as things stand: kept and reported as stuck.
    stuck: str | None = None


class _Count(NamedTuple):
    """A report line to add once the batch's transaction committed."""

    flow: Flow
    outcome: Outcome
    source: Ref
    fields: list[str] | None
    detail: str | None
    #: A refused record's next try with the same values (``None``: the next run).
    retry_at: datetime | None = None


def _duration(delta: timedelta) -> str:
    """E.g. ``3 days``, ``5 hours``, ``12 minutes``, for messages."""
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
