"""Reading a project's event feed into the set of tasks to re-read or mark deleted.

``GET /events?resource=<project>&sync=<token>`` reports changes to the project's tasks
*and their subtasks* (which ``GET /tasks?project=`` never lists, and whose edits do not
bump the parent's ``modified_at``), including deletes. Asana hands out at most 100 events
per call with ``has_more``; an expired or missing token answers 412 with a fresh one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tap_asana_talk.schemas import IS_DELETED, TASK

#: Event actions after which a task must be read again.
_REREAD_ACTIONS = frozenset({"added", "changed", "removed", "undeleted"})


@dataclass
class TaskChanges:
    """What a run of events says about the project's tasks (the last action per task wins)."""

    touched: set[str] = field(default_factory=set)
    deleted: dict[str, str | None] = field(default_factory=dict)
    #: Tasks added to the project itself (not subtasks): their subtasks are new here too.
    entered: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        """True when any task needs attention."""
        return bool(self.touched or self.deleted)

    def apply(self, events: Iterable[dict[str, Any]]) -> None:
        """Fold events, oldest first, into the change set."""
        for event in events:
            resource = event.get("resource") or {}
            if (resource.get("resource_type") or event.get("type")) != "task":
                continue
            gid = resource.get("gid")
            action = event.get("action")
            if not gid:
                continue
            if action == "deleted":
                self.touched.discard(gid)
                self.deleted[gid] = event.get("created_at")
            elif action in _REREAD_ACTIONS:
                self.deleted.pop(gid, None)
                self.touched.add(gid)
                if (
                    action == "added"
                    and (event.get("parent") or {}).get("resource_type") == "project"
                ):
                    self.entered.add(gid)


def deleted_record(
    gid: str, deleted_at: str | None, schema: dict[str, Any] = TASK
) -> dict[str, Any]:
    """The record a deleted task (or project) is emitted as (``modified_at``: when deleted).

    Every other property of the schema is present and null, so a stream map that reads any
    field (``name: name``) works on a delete too instead of failing on a missing name.
    """
    return {
        **dict.fromkeys(schema["properties"]),
        "gid": gid,
        IS_DELETED: True,
        "modified_at": deleted_at,
    }
