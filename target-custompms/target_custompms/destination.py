"""Custompms as a talk-sync destination: write operations become bulk upsert items.

- A create is an item keyed by ``external_id`` = the source ref (``asana-task:77``): a
  replay after a crash updates the record the first attempt created instead of creating
  another one, which is what makes creates idempotent in bulk (the single-record
  ``POST`` would use the pending link's ``Idempotency-Key`` instead).
- An update is an item with ``id`` and ``version`` = the snapshot's version (the bulk form
  of ``If-Match``) and only the changed fields; a stale version fails that item with 412
  and the current record, which the engine merges.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

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
from talk_sync.normalize import to_jsonable
from typing_extensions import override

from target_custompms.client import MAX_BULK_ITEMS, CustompmsClient, CustompmsError, TransientError

#: Custompms resource (URL path) of each record type.
RESOURCES = {"customer": "customers", "project": "projects", "task": "tasks"}

#: Problem types that mean the record is deleted (a tombstone) or gone.
_GONE_TYPES = ("urn:custompms:problem:gone", "urn:custompms:problem:not-found")


class CustompmsDestination(Destination):
    """Writes talk-sync operations to Custompms through bulk upserts of ``batch_size`` items."""

    side = Side.CUSTOMPMS
    reference_fields: ClassVar[Mapping[str, str]] = {
        "customer_id": "customer",
        "parent_id": "customer",
        "project_id": "project",
        "parent_task_id": "task",
    }

    def __init__(self, client: CustompmsClient, *, batch_size: int = MAX_BULK_ITEMS) -> None:
        self.client = client
        self.batch_size = min(batch_size, MAX_BULK_ITEMS)
        #: Items sent to Custompms in this run (what the report's write counts come from).
        self.items_sent = 0

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
        return outcomes  # type: ignore[return-value]

    def _upsert(self, resource: str, ops: list[WriteOp]) -> list[WriteOutcome]:
        try:
            results = self.client.bulk_upsert(resource, [_item(op) for op in ops])
        except TransientError as error:
            return [Failed(str(error))] * len(ops)
        except CustompmsError as error:
            if error.status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
                raise  # bad credentials: every write would fail the same way
            field = _field(error.problem)
            return [Rejected(error.status or 0, str(error), field)] * len(ops)
        self.items_sent += len(ops)
        return [_outcome(result) for result in results]

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
    def fetch(self, refs: Sequence[Ref]) -> dict[Ref, Mapping[str, Any] | None]:
        return {ref: self.client.get(RESOURCES[ref.type], ref.key) for ref in refs}

    @override
    def key_of(self, flow: Flow, record: Mapping[str, Any]) -> str:
        return str(record["id"])

    @override
    def modified_at(self, flow: Flow, record: Mapping[str, Any]) -> Any:
        return record.get("updated_at")


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
