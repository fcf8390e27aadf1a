"""The per-record decision both targets share: create, update, nothing, wait or skip."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from talk_sync.flows import get_flow
from talk_sync.linkstore import LinkStore
from talk_sync.plan import Action, plan
from talk_sync.refs import Side
from talk_sync.testing.strategies import records, respell_record

TASK = get_flow("task_task")


@pytest.fixture
def store(tmp_path: Path) -> LinkStore:
    with LinkStore(tmp_path / "links.db") as opened:
        opened.link(3, "asana-project:9", "custompms-project:5", origin="asana")
        yield opened


def test_new_record_is_created_with_references_resolved(store: LinkStore) -> None:
    desired = {"name": "Write spec", "project_id": "asana-project:9", "parent_task_id": None}
    decision = plan(
        store, 5, "asana-task:1", desired, reference_fields=["project_id", "parent_task_id"]
    )
    assert decision.action is Action.CREATE
    assert not decision.resuming
    assert decision.changes == {"name": "Write spec", "project_id": 5, "parent_task_id": None}
    store.begin_create(5, "asana-task:1")
    again = plan(store, 5, "asana-task:1", desired, reference_fields=["project_id"])
    assert again.action is Action.CREATE
    assert again.resuming
    assert again.reason == "resuming create talk-sync/asana-task:1/custompms-task/1"


def test_unlinked_reference_waits(store: LinkStore) -> None:
    decision = plan(
        store,
        5,
        "asana-task:1",
        {"project_id": "asana-project:404"},
        reference_fields=["project_id"],
    )
    assert decision.action is Action.WAIT
    assert decision.unresolved == {"project_id": "asana-project:404"}
    assert decision.reason == "not linked yet: project_id asana-project:404"


def test_linked_record_sends_only_changes(store: LinkStore) -> None:
    snapshot = {"name": "Spec", "description": None, "due_date": "2026-01-02", "project_id": 5}
    store.link(5, "asana-task:1", "custompms-task:8", origin="asana", custompms_snapshot=snapshot)
    desired = {
        "name": "Spec",
        "description": "",
        "due_date": "2026-01-03",
        "project_id": "asana-project:9",
    }
    decision = plan(store, "task_task", "asana-task:1", desired, reference_fields=["project_id"])
    assert decision.action is Action.UPDATE
    assert str(decision.destination) == "custompms-task:8"
    assert decision.changes == {"due_date": "2026-01-03"}
    store.update_snapshots("asana-task:1", custompms={**snapshot, "due_date": "2026-01-03"})
    echo = plan(store, 5, "asana-task:1", desired, reference_fields=["project_id"])
    assert (echo.action, echo.changes) == (Action.UNCHANGED, {})


def test_unlinked_record_is_skipped(store: LinkStore) -> None:
    store.link(5, "asana-task:1", "custompms-task:8", origin="asana")
    store.unlink("custompms-task:8")
    decision = plan(store, 5, "asana-task:1", {"name": "x"})
    assert decision.action is Action.SKIP
    assert "not created again" in decision.reason


def test_record_that_changed_flow_is_skipped(store: LinkStore) -> None:
    store.link("board_task_project", "asana-task:1", "custompms-project:6", origin="asana")
    decision = plan(store, "task_task", "asana-task:1", {"name": "x"})
    assert decision.action is Action.SKIP
    assert decision.reason == (
        "linked in flow board_task_project, arrived as flow task_task; left as is"
    )


def test_reverse_direction(store: LinkStore) -> None:
    store.link(
        2,
        "asana-team:3",
        "custompms-customer:4",
        origin="asana",
        asana_snapshot={"name": "Ops", "description": ""},
    )
    decision = plan(store, 2, "custompms-customer:4", {"name": "Ops", "description": None})
    assert (decision.action, str(decision.destination)) == (Action.UNCHANGED, "asana-team:3")


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_a_written_record_comes_back_unchanged(store: LinkStore, data: st.DataObject) -> None:
    # Whatever was last written is the snapshot; the same values, however spelled, are
    # no change: this is the zero-writes-on-the-second-sync property.
    fields = {k: v for k, v in TASK.custompms_fields.items() if k not in ("project_id",)}
    written = data.draw(records(fields))
    link = store.find("asana-task:1") or store.link(
        5, "asana-task:1", "custompms-task:1", origin=Side.ASANA
    )
    store.update_snapshots(link.source, custompms=written)
    echoed = data.draw(respell_record(written, fields))
    assert plan(store, 5, "asana-task:1", echoed).action is Action.UNCHANGED


def test_reference_to_a_record_unlinked_by_a_delete_never_blocks(store: LinkStore) -> None:
    # The project was deleted on one side: its link is kept as unlinked and never resolves.
    store.unlink("asana-project:9")
    snapshot = {"name": "Spec", "project_id": 5}
    store.link(5, "asana-task:1", "custompms-task:8", origin="asana", custompms_snapshot=snapshot)
    fields = ["project_id"]

    edited = plan(
        store,
        5,
        "asana-task:1",
        {"name": "Spec v2", "project_id": "asana-project:9"},
        reference_fields=fields,
    )
    assert edited.action is Action.UPDATE  # the edit arrives; the task stays where it is
    assert edited.changes == {"name": "Spec v2"}
    assert edited.gone == {"project_id": "asana-project:9"}

    new = plan(
        store,
        5,
        "asana-task:2",
        {"name": "Orphan", "project_id": "asana-project:9"},
        reference_fields=fields,
    )
    assert new.action is Action.STUCK  # it can never be created there: a person must act
    assert new.reason == (
        "refers to records deleted on one side (project_id asana-project:9); not created: "
        "move it under a synced record or delete it"
    )
