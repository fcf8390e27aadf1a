"""Custompms as a talk-sync destination: write operations become bulk upsert items.

- A create is an item keyed by ``external_id`` = the source ref (``asana-task:77``): a
  replay after a crash updates the record the first attempt created instead of creating
  another one, which is what makes creates idempotent in bulk (the single-record
  ``POST`` would use the pending link's ``Idempotency-Key`` instead).
- A record linked to an Asana record gets that record's ref as its ``external_id`` (unless
  it holds one of another convention): ``talk-sync links rebuild`` finds every link there.
  Existing records are listed once per run when a create may adopt one.
- An update is an item with ``id`` and ``version`` = the snapshot's version (the bulk form
  of ``If-Match``) and only the changed fields; a stale version fails that item with 412
  and the current record, which the engine merges.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import replace
from http import HTTPStatus
from typing import Any

from talk_sync import (
    Destination,
    Failed,
    Flow,
    Gone,
    OpKind,
    Ref,
    Rejected,
    Side,
    Stale,
    WriteOp,
    WriteOutcome,
    Written,
)
from talk_sync.errors import TransientApiError
from talk_sync.flows import RECORD_TYPES, reference_fields
from talk_sync.normalize import to_jsonable
from talk_sync.refs import asana_ref_in
from typing_extensions import override

from target_custompms.client import MAX_BULK_ITEMS, CustompmsClient, CustompmsError

#: Custompms resource (URL path) of each record type.
RESOURCES = {name: t.path for name, t in RECORD_TYPES[Side.CUSTOMPMS].items()}

#: Kept in a record's snapshot when another Custompms record (a tombstone, say) holds the
#: Asana ref its ``external_id`` would record: not offered again while it does.
EXTERNAL_ID_TAKEN = "_external_id_taken_by_another"

#: Problem types that mean the record is deleted (a tombstone) or gone.
_GONE_TYPES = ("urn:custompms:problem:gone", "urn:custompms:problem:not-found")


class CustompmsDestination(Destination):
    """Writes talk-sync operations to Custompms through bulk upserts of ``batch_size`` items."""

    side = Side.CUSTOMPMS
    reference_fields: Mapping[str, str] = reference_fields(Side.CUSTOMPMS)

    def __init__(self, client: CustompmsClient, *, batch_size: int = MAX_BULK_ITEMS) -> None:
        self.client = client
        self.batch_size = min(batch_size, MAX_BULK_ITEMS)
        #: Items sent to Custompms in this run (what the report's write counts come from).
        self.items_sent = 0
        #: Each resource's records, listed once per run for adoption.
        self._listed: dict[str, list[dict[str, Any]]] = {}

    @override
    def write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        outcomes: list[WriteOutcome | None] = [None] * len(ops)
        by_resource: dict[str, list[int]] = defaultdict(list)
        for index, op in enumerate(ops):
            by_resource[RESOURCES[op.flow.custompms_type]].append(index)
        for resource, indexes in by_resource.items():
            for start in range(0, len(indexes), self.batch_size):
                chunk = indexes[start : start + self.batch_size]
                results = self._upsert(resource, [ops[i] for i in chunk])
                for index, outcome in zip(chunk, results, strict=True):
                    outcomes[index] = outcome
        answered = [outcome for outcome in outcomes if outcome is not None]
        if len(answered) != len(ops):  # each op sits in one chunk, and a chunk answers each
            raise CustompmsError(f"{len(ops) - len(answered)} of {len(ops)} writes unanswered")
        return answered

    def _upsert(self, resource: str, ops: list[WriteOp]) -> list[WriteOutcome]:
        try:
            results = self.client.bulk_upsert(resource, [_item(op) for op in ops])
        except TransientApiError as error:
            return [Failed(str(error))] * len(ops)
        except CustompmsError as error:
            if error.status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
                raise  # bad credentials: every write would fail the same way
            field = _field(error.problem)
            return [Rejected(error.status or 0, str(error), field)] * len(ops)
        self.items_sent += len(ops)
        outcomes = [_outcome(result) for result in results]
        return self._without_taken_external_ids(resource, ops, outcomes)

    def _without_taken_external_ids(
        self, resource: str, ops: list[WriteOp], outcomes: list[WriteOutcome]
    ) -> list[WriteOutcome]:
        """Send again, without it, each update refused only for the ``external_id`` it
        would record: another record (a tombstone, say) holds that ref, and the update's
        own changes must not wait for it. The record notes it (:data:`EXTERNAL_ID_TAKEN`),
        so that the ref is not offered again."""
        again = [
            index
            for index, (op, outcome) in enumerate(zip(ops, outcomes, strict=True))
            if op.kind is OpKind.UPDATE
            and "external_id" in op.values
            and isinstance(outcome, Rejected)
            and outcome.field == "external_id"
        ]
        if not again:
            return outcomes
        retried = [replace(ops[i], values=_without(ops[i].values, "external_id")) for i in again]
        for index, outcome in zip(again, self._upsert(resource, retried), strict=True):
            if isinstance(outcome, Written):
                record = {**outcome.record, EXTERNAL_ID_TAKEN: ops[index].values["external_id"]}
                outcome = Written(record, unsent=outcome.unsent | {"external_id"})
            outcomes[index] = outcome
        return outcomes

    @override
    def unplaceable(self, flow: Flow, values: Mapping[str, Any]) -> str | None:
        # The contract requires a task's project; Asana tasks can be in none.
        if flow.custompms_type != "task" or values.get("project_id"):
            return None
        return (
            "project_id: the Asana task is in no project (only in someone's My Tasks, or in "
            "a membership of a kind the mapping does not know); a Custompms task needs one"
        )

    @override
    def candidate_scope(self, flow: Flow, values: Mapping[str, Any]) -> Hashable | None:
        # The contract lists a resource whole (no filter by container): one listing per run.
        return RESOURCES[flow.custompms_type]

    @override
    def list_candidates(self, flow: Flow, scope: Hashable) -> Sequence[Mapping[str, Any]]:
        resource = str(scope)
        if resource not in self._listed:  # customers serve two flows: listed once
            self._listed[resource] = self.client.list(resource)
        return self._listed[resource]

    @override
    def counterpart_of(self, record: Mapping[str, Any]) -> Ref | None:
        return asana_ref_in(record.get("external_id"))

    @override
    def link_marker(self, flow: Flow, source: Ref, snapshot: Mapping[str, Any]) -> dict[str, Any]:
        # Only a known, empty external_id: one of another convention (a CRM's key, say) is
        # the customer's, and a snapshot without the key says nothing of the record's.
        known_empty = "external_id" in snapshot and not snapshot["external_id"]
        if known_empty and snapshot.get(EXTERNAL_ID_TAKEN) != str(source):
            return {"external_id": str(source)}
        return {}

    @override
    def fetch(self, refs: Sequence[Ref]) -> dict[Ref, Mapping[str, Any] | None]:
        return {ref: self.client.get(RESOURCES[ref.type], ref.key) for ref in refs}

    @override
    def key_of(self, flow: Flow, record: Mapping[str, Any]) -> str:
        return str(record["id"])

    @override
    def modified_at(self, flow: Flow, record: Mapping[str, Any]) -> Any:
        return record.get("updated_at")


def _without(values: Mapping[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in values.items() if key != name}


def _item(op: WriteOp) -> dict[str, Any]:
    # Values may hold dates and datetimes the SDK parsed: send their contract spellings.
    values = to_jsonable(op.values)
    if op.kind is OpKind.CREATE:
        return {**values, "external_id": str(op.source)}
    assert op.destination is not None
    item: dict[str, Any] = {"id": op.destination.native_key, **values}
    if op.snapshot and op.snapshot.get("version") is not None:
        item["version"] = op.snapshot["version"]
    return item


def _outcome(result: Mapping[str, Any]) -> WriteOutcome:
    if result.get("status") != "error":
        return Written(result["record"])
    problem = result.get("error") or {}
    status = int(problem.get("status") or 0)
    if status == HTTPStatus.PRECONDITION_FAILED:
        return Stale(problem.get("current"))
    if problem.get("type") in _GONE_TYPES and _field(problem) in (None, "id", "external_id"):
        return Gone(f"{status} {problem.get('detail') or problem.get('title')}")
    message = problem.get("detail") or problem.get("title") or "refused"
    errors = problem.get("errors") or []
    if errors and errors[0].get("message"):
        message = errors[0]["message"]
    return Rejected(status, str(message), _field(problem))


def _field(problem: Mapping[str, Any]) -> str | None:
    for error in problem.get("errors") or []:
        if error.get("field"):
            return str(error["field"])
    return None
