"""One in-memory destination for the engine's and the targets' tests (no HTTP, no server).

:class:`MemoryDestination` holds the records of one side by namespaced ref
(``records["custompms-task:7"]``) and behaves as the real destinations do where the engine
relies on it:

- creates are idempotent by ``create_key`` (a replay answers the record the key made first,
  as Custompms's upserts do);
- an update carries the snapshot's ``version``: a record that has one and has moved on since
  answers :class:`~talk_sync.destination.Stale` with its current values (Custompms's If-Match);
- an update of a record it does not hold answers :class:`~talk_sync.destination.Gone`;
- records named in ``fail_names``, ``busy_names`` or ``reject_names`` fail transiently, are
  refused with a refusal that passes by itself, or are refused for good;
- with ``adopts=True`` it lists its records of a flow's type as adoption candidates.

Every op it is sent is kept in :attr:`MemoryDestination.ops` (``creates``, ``updates``), and
the test edits a record as someone would in that system with :meth:`MemoryDestination.edit`.
Tests that need another behaviour subclass it and override one hook (``write_one``, ``fit``,
``find_created``...).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, ClassVar

from talk_sync.destination import (
    Destination,
    Failed,
    Gone,
    OpKind,
    Rejected,
    Stale,
    WriteOp,
    WriteOutcome,
    Written,
)
from talk_sync.flows import Flow, reference_fields
from talk_sync.refs import Ref, Side, parse_ref

#: The reference fields of each side's records, as the two targets declare them.
REFERENCE_FIELDS: Mapping[Side, Mapping[str, str]] = {side: reference_fields(side) for side in Side}

#: The field holding a record's key on each side.
KEY_FIELDS: Mapping[Side, str] = {Side.CUSTOMPMS: "id", Side.ASANA: "gid"}

#: The field holding a record's own modification time on each side.
MODIFIED_FIELDS: Mapping[Side, str] = {Side.CUSTOMPMS: "updated_at", Side.ASANA: "modified_at"}


class MemoryDestination(Destination):
    """The records of one side in a dict, by namespaced ref; every op sent is kept."""

    #: The refusal a name in ``reject_names`` gets.
    REJECT_REASON: ClassVar[str] = "name is not allowed"

    def __init__(
        self,
        side: Side | str = Side.CUSTOMPMS,
        records: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        adopts: bool = False,
        reference_fields: Mapping[str, str] | None = None,
    ) -> None:
        self.side = Side(side)
        self.reference_fields = dict(
            REFERENCE_FIELDS[self.side] if reference_fields is None else reference_fields
        )
        self.key_field = KEY_FIELDS[self.side]
        #: ``"custompms-task:7"`` -> the record as the system holds it.
        self.records: dict[str, dict[str, Any]] = {}
        for ref, record in (records or {}).items():
            self.put(ref, record)
        self.adopts = adopts
        #: Every op sent, in order.
        self.ops: list[WriteOp] = []
        #: The scopes candidates were listed for, in order.
        self.listings: list[Hashable] = []
        self.by_create_key: dict[str, str] = {}
        self.reject_names: set[str] = set()  # refused for good, with reject_status
        self.reject_status = 422
        self.busy_names: set[str] = set()  # refused with a refusal that passes by itself
        self.fail_names: set[str] = set()  # failing transiently
        self._next_key = 1

    # --- Destination -------------------------------------------------------------------------

    def write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        return [self.write_one(op) for op in ops]

    def write_one(self, op: WriteOp) -> WriteOutcome:
        """Carry out one op (override to change how one op is answered)."""
        self.ops.append(op)
        name = op.values.get("name")
        if name in self.fail_names:
            return Failed("503 unavailable")
        if name in self.busy_names:
            return Rejected(412, "changed during each merge", transient=True)
        if name in self.reject_names:
            return Rejected(self.reject_status, self.REJECT_REASON, "name")
        if op.kind is OpKind.CREATE:
            return Written(dict(self._create(op)))
        assert op.destination is not None
        record = self.records.get(str(op.destination))
        if record is None:
            return Gone()
        if "version" in record and (op.snapshot or {}).get("version") != record["version"]:
            return Stale(dict(record))
        record.update(op.values)
        if "version" in record:
            record["version"] += 1
        return Written(dict(record))

    def fetch(self, refs: Sequence[Ref]) -> dict[Ref, Mapping[str, Any] | None]:
        return {ref: self._copy(self.records.get(str(ref))) for ref in refs}

    def key_of(self, flow: Flow, record: Mapping[str, Any]) -> str:
        return str(record[self.key_field])

    def candidate_scope(self, flow: Flow, values: Mapping[str, Any]) -> Hashable | None:
        return flow.record_type(self.side) if self.adopts else None

    def list_candidates(self, flow: Flow, scope: Hashable) -> Sequence[Mapping[str, Any]]:
        self.listings.append(scope)
        prefix = f"{self.side.value}-{scope}:"
        return [dict(record) for ref, record in self.records.items() if ref.startswith(prefix)]

    # --- what the test sees and does ---------------------------------------------------------

    @property
    def creates(self) -> list[WriteOp]:
        return [op for op in self.ops if op.kind is OpKind.CREATE]

    @property
    def updates(self) -> list[WriteOp]:
        return [op for op in self.ops if op.kind is OpKind.UPDATE]

    def put(self, ref: Ref | str, record: Mapping[str, Any]) -> dict[str, Any]:
        """Hold ``record`` as ``ref`` (a record that exists before the test's runs)."""
        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        held = {self.key_field: parsed.native_key, **record}
        self.records[str(parsed)] = held
        return held

    def edit(self, ref: Ref | str, *, at: str | None = None, **changes: Any) -> None:
        """Someone edits the record in this system, at ``at`` (its modification time)."""
        record = self.records[str(ref)]
        record.update(changes)
        record[MODIFIED_FIELDS[self.side]] = at
        if "version" in record:
            record["version"] += 1

    def of_type(self, record_type: str) -> list[dict[str, Any]]:
        """The records of ``record_type`` held."""
        prefix = f"{self.side.value}-{record_type}:"
        return [record for ref, record in self.records.items() if ref.startswith(prefix)]

    def one(self, record_type: str, **match: Any) -> dict[str, Any]:
        """The one record of ``record_type`` with the values of ``match``."""
        found = [
            record
            for record in self.of_type(record_type)
            if all(record.get(name) == value for name, value in match.items())
        ]
        assert len(found) == 1, found
        return found[0]

    def ref_of(self, record_type: str, record: Mapping[str, Any]) -> str:
        """The namespaced ref of a record held, e.g. ``custompms-task:7``."""
        return f"{self.side.value}-{record_type}:{record[self.key_field]}"

    # --- internals -----------------------------------------------------------------------------

    def _create(self, op: WriteOp) -> dict[str, Any]:
        if op.create_key in self.by_create_key:  # an idempotent replay
            return self.records[self.by_create_key[op.create_key]]
        record_type = op.flow.record_type(self.side)
        key = self._new_key()
        ref = f"{self.side.value}-{record_type}:{key}"
        native = int(key) if self.side is Side.CUSTOMPMS else key
        self.records[ref] = record = {**op.values, self.key_field: native, "version": 1}
        self.by_create_key[op.create_key or ref] = ref
        return record

    def _new_key(self) -> str:
        """A key no record of this side holds (one counter over every type, as a database's)."""
        held = {ref.rsplit(":", 1)[1] for ref in self.records}
        while str(self._next_key) in held:
            self._next_key += 1
        self._next_key += 1
        return str(self._next_key - 1)

    @staticmethod
    def _copy(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
        return None if record is None else dict(record)
