"""Pure pieces: opt_fields from schemas, event folding, ordering and cursors."""

from __future__ import annotations

from talk_sync import asana_api
from tap_asana_talk import schemas
from tap_asana_talk.events import TaskChanges
from tap_asana_talk.task_sync import ProjectCursor, order_parents_first


def test_opt_fields_request_exactly_the_schema() -> None:
    fields = asana_api.opt_fields(schemas.TASK, own_fields=schemas.OWN_FIELDS).split(",")
    for wanted in (
        "name",
        "due_on",
        "assignee.email",
        "parent.name",
        "memberships.section.name",
        "custom_fields.display_value",
        "num_subtasks",
    ):
        assert wanted in fields
    assert "gid" not in fields
    assert "is_deleted" not in fields


def test_schemas_type_dates_and_timestamps() -> None:
    props = schemas.TASK["properties"]
    assert props["due_on"]["format"] == "date"
    assert props["due_at"]["format"] == "date-time"
    assert props["modified_at"]["format"] == "date-time"
    assert schemas.PROJECT["properties"]["start_on"]["format"] == "date"


def task_event(gid: str, action: str, at: str = "2026-01-01T00:00:00.000Z") -> dict:
    return {
        "action": action,
        "type": "task",
        "created_at": at,
        "resource": {"gid": gid, "resource_type": "task"},
    }


def test_last_event_per_task_wins() -> None:
    changes = TaskChanges()
    changes.apply(
        [
            task_event("1", "changed"),
            task_event("2", "deleted", "2026-01-02T00:00:00.000Z"),
            task_event("3", "deleted"),
            task_event("3", "undeleted"),
            task_event("4", "added"),
            task_event("4", "deleted", "2026-01-03T00:00:00.000Z"),
            {
                "action": "added",
                "type": "story",
                "resource": {"gid": "9", "resource_type": "story"},
            },
        ]
    )
    assert changes.touched == {"1", "3"}
    assert changes.deleted == {"2": "2026-01-02T00:00:00.000Z", "4": "2026-01-03T00:00:00.000Z"}


def test_no_task_events_means_no_changes() -> None:
    changes = TaskChanges()
    changes.apply([{"action": "changed", "type": "project", "resource": {"gid": "5"}}])
    assert not changes


def test_parents_come_before_their_subtasks() -> None:
    records = [
        {"gid": "5", "parent": {"gid": "9"}},
        {"gid": "9", "parent": None},
        {"gid": "1", "parent": {"gid": "5"}},
        {"gid": "3", "parent": {"gid": "404"}},
    ]
    assert [r["gid"] for r in order_parents_first(records)] == ["3", "9", "5", "1"]


def test_cursor_round_trips_through_state() -> None:
    cursor = ProjectCursor(sync="abc", since="2026-01-01T00:00:00.000Z")
    assert ProjectCursor.from_state(cursor.to_state()) == cursor
    assert ProjectCursor.from_state(None) == ProjectCursor()
