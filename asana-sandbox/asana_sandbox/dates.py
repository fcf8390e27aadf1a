"""Asana's start/due date rules for tasks and projects, as its official description states them.

ProjectBase.start_on: "*Note: `due_on` or `due_at` must be present in the request when
setting or unsetting the `start_on` parameter. Additionally, `start_on` and `due_on` cannot
be the same date.*"
TaskBase.start_on: "*Note: `due_on` or `due_at` must be present in the request when setting
or unsetting the `start_on` parameter.*" (no same-date rule for tasks).
TaskBase.start_at: "*Note: `due_at` must be present in the request when setting or unsetting
the `start_at` parameter.*"

The request rules look at the request body only, so updating ``start_on`` alone is refused
even when the record already has a due date. The record rules look at the result of the
write: no start date without a due date, and the start on or before the due date.
"""

from __future__ import annotations

from typing import Any

from asana_sandbox.errors import bad_request

#: Projects declare ``due_date``, a deprecated alias of ``due_on``; tasks declare ``due_at``.
PROJECT_DUE_FIELDS = frozenset({"due_on", "due_date"})
TASK_DUE_FIELDS = frozenset({"due_on", "due_at"})


def check_task_request(data: dict[str, Any]) -> None:
    """The request rules of TaskBase.start_on and start_at, and one due date at a time."""
    if data.get("due_on") and data.get("due_at"):
        raise bad_request("You may only provide one of due_on or due_at")
    if "start_on" in data and not TASK_DUE_FIELDS & data.keys():
        raise bad_request(
            "start_on: due_on or due_at must be present in the request when setting or "
            "unsetting start_on"
        )
    if "start_at" in data and "due_at" not in data:
        raise bad_request(
            "start_at: due_at must be present in the request when setting or unsetting start_at"
        )


def check_task_record(task: dict[str, Any]) -> None:
    """A task's dates after a write: a start needs a due date and may not come after it."""
    start, due = task.get("start_on"), task.get("due_on")
    if task.get("resource_subtype") == "milestone" and start:
        raise bad_request("start_on: Milestones cannot have a start date")
    if start and not due:
        raise bad_request("start_on: A task with a start date must have a due date")
    if task.get("start_at") and not task.get("due_at"):
        raise bad_request("start_at: A task with a start time must have a due time (due_at)")
    if start and due and start > due:
        raise bad_request("start_on: The start date must be on or before the due date")


def check_project_request(data: dict[str, Any]) -> None:
    """The request rule of ProjectBase.start_on (a project has no ``due_at``)."""
    if "start_on" in data and not PROJECT_DUE_FIELDS & data.keys():
        raise bad_request(
            "start_on: due_on must be present in the request when setting or unsetting start_on"
        )


def check_project_record(project: dict[str, Any]) -> None:
    """A project's dates after a write: a start needs a later due date (never the same day)."""
    start, due = project.get("start_on"), project.get("due_on")
    if start and not due:
        raise bad_request("start_on: A project with a start date must have a due date")
    if start and due and start == due:
        raise bad_request("start_on: start_on and due_on cannot be the same date")
    if start and due and start > due:
        raise bad_request("start_on: The start date must be before the due date")
