"""Custompms as a talk-sync destination: operations to bulk items, results to outcomes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from talk_sync import Failed, Gone, OpKind, Rejected, Stale, WriteOp, Written, get_flow, parse_ref
from talk_sync.errors import TransientApiError
from target_custompms.client import CustompmsError
from target_custompms.destination import CustompmsDestination


class FakeClient:
    """Records bulk calls; answers each item from ``answer`` (or raises ``error``)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[tuple[str, list[dict[str, Any]]]] = []
        self.error = error

    def bulk_upsert(self, resource: str, items: Sequence[Mapping[str, Any]]) -> list[dict]:
        self.calls.append((resource, list(items)))
        if self.error:
            raise self.error
        return [answer(item) for item in items]


def answer(item: Mapping[str, Any]) -> dict[str, Any]:
    name = item.get("name")
    if name == "stale":
        problem = {"status": 412, "type": "urn:custompms:problem:version-mismatch"}
        return {"status": "error", "error": {**problem, "current": {"id": 5, "version": 9}}}
    if name == "gone":
        problem = {"status": 409, "type": "urn:custompms:problem:gone", "detail": "deleted"}
        return {"status": "error", "error": {**problem, "errors": [{"field": "id"}]}}
    if name == "bad-ref":
        errors = [{"field": "project_id", "message": "tasks record 1 is deleted"}]
        problem = {"status": 422, "type": "urn:custompms:problem:invalid-reference"}
        return {"status": "error", "error": {**problem, "errors": errors}}
    return {"status": "created", "record": {**item, "id": 1, "version": 1}}


def op(kind: OpKind, flow: str, source: str, **values: Any) -> WriteOp:
    if kind is OpKind.CREATE:
        return WriteOp(kind, get_flow(flow), parse_ref(source), values, create_key="k")
    target = {"task_task": "custompms-task:5", "workspace_customer": "custompms-customer:5"}[flow]
    return WriteOp(
        kind, get_flow(flow), parse_ref(source), values, parse_ref(target), {"version": 3}
    )


def test_ops_become_bulk_items_per_resource_in_batches() -> None:
    client = FakeClient()
    destination = CustompmsDestination(client, batch_size=2)  # type: ignore[arg-type]
    ops = [
        op(OpKind.CREATE, "task_task", "asana-task:1", name="a"),
        op(OpKind.CREATE, "workspace_customer", "asana-workspace:2", name="w"),
        op(OpKind.UPDATE, "task_task", "asana-task:3", name="b"),
        op(OpKind.CREATE, "task_task", "asana-task:4", name="c"),
    ]
    outcomes = destination.write(ops)
    assert [type(o) for o in outcomes] == [Written] * 4
    assert client.calls == [
        (
            "tasks",
            [
                {"name": "a", "external_id": "asana-task:1"},
                {"id": 5, "version": 3, "name": "b"},
            ],
        ),
        ("tasks", [{"name": "c", "external_id": "asana-task:4"}]),
        ("customers", [{"name": "w", "external_id": "asana-workspace:2"}]),
    ]
    assert destination.items_sent == 4


def test_item_errors_become_outcomes() -> None:
    destination = CustompmsDestination(FakeClient())  # type: ignore[arg-type]
    stale, gone, bad = destination.write(
        [
            op(OpKind.UPDATE, "task_task", "asana-task:1", name="stale"),
            op(OpKind.UPDATE, "task_task", "asana-task:2", name="gone"),
            op(OpKind.CREATE, "task_task", "asana-task:3", name="bad-ref"),
        ]
    )
    assert stale == Stale({"id": 5, "version": 9})
    assert isinstance(gone, Gone)
    assert bad == Rejected(422, "tasks record 1 is deleted", "project_id")


def test_request_failures_become_outcomes_or_stop_the_run() -> None:
    ops = [op(OpKind.CREATE, "task_task", "asana-task:1", name="a")]
    transient = CustompmsDestination(FakeClient(TransientApiError("503 after 6 attempts")))  # type: ignore[arg-type]
    assert transient.write(ops) == [Failed("503 after 6 attempts")]
    refused = CustompmsDestination(FakeClient(CustompmsError("400 bad body", 400)))  # type: ignore[arg-type]
    assert refused.write(ops) == [Rejected(400, "400 bad body", None)]
    unauthorized = CustompmsDestination(FakeClient(CustompmsError("401", 401)))  # type: ignore[arg-type]
    with pytest.raises(CustompmsError):
        unauthorized.write(ops)


def test_a_linked_record_gets_its_asana_ref_as_external_id_once() -> None:
    destination = CustompmsDestination(FakeClient())  # type: ignore[arg-type]
    task, source = get_flow("task_task"), parse_ref("asana-task:7")
    assert destination.link_marker(task, source, {"external_id": None}) == {
        "external_id": "asana-task:7"
    }
    assert destination.link_marker(task, source, {"external_id": "asana-task:7"}) == {}
    # Another convention (a CRM's key) is the customer's: left alone.
    assert destination.link_marker(task, source, {"external_id": "crm:12"}) == {}
    # A snapshot without the key says nothing about the record: nothing is overwritten.
    assert destination.link_marker(task, source, {"name": "x"}) == {}


def test_candidates_are_listed_once_per_resource_and_name_their_asana_record() -> None:
    class ListingClient(FakeClient):
        def __init__(self) -> None:
            super().__init__()
            self.listed: list[str] = []

        def list(self, resource: str) -> list[dict[str, Any]]:
            self.listed.append(resource)
            return [{"id": 1, "name": "Acme", "external_id": "asana-team:3"}]

    client = ListingClient()
    destination = CustompmsDestination(client)  # type: ignore[arg-type]
    for flow in (get_flow("workspace_customer"), get_flow("team_customer")):
        scope = destination.candidate_scope(flow, {"name": "Acme"})
        (record,) = destination.list_candidates(flow, scope)
    assert client.listed == ["customers"]
    assert destination.counterpart_of(record) == parse_ref("asana-team:3")
    assert destination.counterpart_of({"external_id": "seed:customer:acme"}) is None


def test_an_external_id_another_record_holds_does_not_hold_up_the_update() -> None:
    class TakenClient(FakeClient):
        def bulk_upsert(self, resource: str, items: Sequence[Mapping[str, Any]]) -> list[dict]:
            self.calls.append((resource, list(items)))
            if any("external_id" in item for item in items):  # a tombstone holds the ref
                problem = {"status": 409, "type": "urn:custompms:problem:external-id-conflict"}
                error = {**problem, "errors": [{"field": "external_id", "message": "in use"}]}
                return [{"status": "error", "error": error} for _ in items]
            return [{"status": "updated", "record": {**i, "version": 4}} for i in items]

    client = TakenClient()
    destination = CustompmsDestination(client)  # type: ignore[arg-type]
    update = op(OpKind.UPDATE, "task_task", "asana-task:7", name="n", external_id="asana-task:7")
    (outcome,) = destination.write([update])
    assert isinstance(outcome, Written)
    assert client.calls[-1] == ("tasks", [{"id": 5, "version": 3, "name": "n"}])
    # Not offered again while another record holds it.
    snapshot = {**outcome.record, "external_id": None}
    assert destination.link_marker(get_flow("task_task"), parse_ref("asana-task:7"), snapshot) == {}
