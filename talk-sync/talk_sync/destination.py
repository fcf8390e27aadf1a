"""What the engine needs from a destination system (:class:`Destination`, implemented by
each target), the write operations it sends there and their outcomes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from talk_sync.flows import Flow
from talk_sync.identity import match_key
from talk_sync.records import synced_values
from talk_sync.refs import Ref, Side


class OpKind(str, Enum):
    """A write operation's kind."""

    CREATE = "create"
    UPDATE = "update"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class CreateAttempt:
    """A create as the link store began it: what a destination without idempotency keys
    needs to find the record it made (:meth:`Destination.find_created`)."""

    #: When the create was begun (its pending link's ``created_at``).
    began_at: datetime
    #: The create context recorded when it began (:meth:`Destination.create_context`).
    context: Mapping[str, Any] | None = None


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
    #: The create as begun (``CREATE`` only, once its pending link is stored): a create
    #: whose answer is lost is looked up with it (:meth:`Destination.created_record`).
    attempt: CreateAttempt | None = None

    @property
    def updated(self) -> Ref:
        """The record an update writes (every ``UPDATE`` names one)."""
        if self.destination is None:
            raise ValueError(f"{self.kind} of {self.source} names no destination record")
        return self.destination


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
    #: Which of some records of this side have a link already (of any status): the one
    #: read-only question about the link store a destination may ask, one query for all the
    #: records. The engine sets it when it is built, so that :meth:`created_record` never
    #: takes another pair's record; until then no record counts as linked.
    linked: Callable[[Sequence[Ref]], set[Ref]] = staticmethod(lambda refs: set())

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

    def find_created(self, op: WriteOp, attempt: CreateAttempt) -> Sequence[Mapping[str, Any]]:
        """The records an interrupted create may have made, best (oldest) first: for
        systems without idempotency keys, looked up instead of sending the create again.

        The engine passes over the candidates already linked and takes the first left
        (:meth:`created_record`). The default finds nothing: the create is replayed with the
        same ``create_key``, which an idempotent destination answers with the record it
        created first.
        """
        return []

    def created_record(self, op: WriteOp) -> Mapping[str, Any] | None:
        """The record the create ``op`` made, if :meth:`find_created` finds one that no
        link holds yet (``None`` also for an op not begun: nothing says when it began)."""
        if op.attempt is None:
            return None
        candidates = list(self.find_created(op, op.attempt))
        if not candidates:
            return None
        record_type = op.flow.record_type(self.side)
        refs = [Ref(self.side, record_type, self.key_of(op.flow, c)) for c in candidates]
        taken = self.linked(refs)
        return next((c for c, ref in zip(candidates, refs, strict=True) if ref not in taken), None)
