"""Tasks: lists with Asana's filters, read, create, update, delete, memberships, parents."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from asana_sandbox import activity, dates
from asana_sandbox.clock import format_ms, parse_ms
from asana_sandbox.dispatch import Call, Reply, route
from asana_sandbox.errors import bad_request
from asana_sandbox.routes.common import assign, empty, resolve_user, set_text

Task = dict[str, Any]
_SCALARS = ("name", "resource_subtype", "approval_status", "assignee_status", "liked", "external")
_DATETIMES = ("due_at", "start_at")
LIST_FILTER_REQUIRED = (
    "Must specify exactly one of project, tag, section, user task list, or assignee + workspace"
)


def _ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def completed_filter(call: Call) -> Callable[[Task], bool]:
    """``completed_since``: incomplete tasks, or completed at/after the time (``now``: none)."""
    since = call.query.get("completed_since")
    if since is None:
        return lambda task: True
    if since == "now":
        return lambda task: not task.get("completed")
    cutoff = _ms(since)
    return lambda task: (
        not task.get("completed")
        or (task.get("completed_at") is not None and parse_ms(task["completed_at"]) >= cutoff)
    )


def _list_filter(call: Call) -> Callable[[Task], bool]:
    keep_completed = completed_filter(call)
    modified_since = call.query.get("modified_since")
    if modified_since is None:
        return keep_completed
    cutoff = _ms(modified_since)
    return lambda task: keep_completed(task) and parse_ms(task["modified_at"]) >= cutoff


@route("get", "/tasks")
def list_tasks(call: Call) -> Reply:
    """Tasks of a project or section, or of an assignee in a workspace."""
    store, query = call.store, call.query
    accept = _list_filter(call)
    if "project" in query:
        project = call.ref("project", query["project"], label="project")
        return call.many("task", store.tasks_by_project.get(project["gid"], []), accept)
    if "section" in query:
        section = call.ref("section", query["section"], label="section")
        gid = section["gid"]
        return call.many(
            "task",
            store.tasks_by_project.get(section["project"], []),
            lambda task: accept(task) and any(m.get("section") == gid for m in task["memberships"]),
        )
    if "assignee" in query and "workspace" in query:
        assignee = resolve_user(call, query["assignee"], "assignee")
        workspace = call.ref("workspace", query["workspace"], label="workspace")["gid"]
        return call.many(
            "task",
            list(store.records["task"]),
            lambda task: (
                task.get("assignee") == assignee and task["workspace"] == workspace and accept(task)
            ),
        )
    raise bad_request(LIST_FILTER_REQUIRED)


@route("get", "/projects/{project_gid}/tasks")
def list_project_tasks(call: Call) -> Reply:
    """Top-level members of a project, in project order (subtasks only if members)."""
    project = call.get("project", call.path["project_gid"], label="project")
    return call.many(
        "task", call.store.tasks_by_project.get(project["gid"], []), completed_filter(call)
    )


@route("get", "/tasks/{task_gid}/subtasks")
def list_subtasks(call: Call) -> Reply:
    """Direct subtasks of a task (one level, as Asana)."""
    task = call.get("task", call.path["task_gid"], label="task")
    return call.many("task", call.store.subtasks.get(task["gid"], []))


@route("get", "/tasks/{task_gid}")
def get_task(call: Call) -> Reply:
    """One task, full record."""
    return call.one("task", call.get("task", call.path["task_gid"], label="task"))


def _apply(call: Call, task: Task, data: dict[str, Any], *, creating: bool) -> list[str]:
    """Write what a create or update sends; return the names of the fields that changed."""
    store = call.store
    changed: list[str] = []
    dates.check_task_request(data)
    for name in _SCALARS:
        if name in data:
            assign(task, name, data[name], changed)
    for name in ("due_on", "start_on"):
        if name in data:
            assign(task, name, data[name], changed)
    for name in _DATETIMES:
        if name in data:
            # Asana answers date-times in UTC with milliseconds, whatever offset was sent.
            value = data[name] and format_ms(parse_ms(data[name]))
            assign(task, name, value, changed)
    # due_on and due_at are one due date: setting one clears the other (same for start).
    if data.get("due_at"):
        task["due_on"] = task["due_at"][:10]
    elif "due_on" in data:
        task["due_at"] = None
    if data.get("start_at"):
        task["start_on"] = task["start_at"][:10]
    elif "start_on" in data:
        task["start_at"] = None
    dates.check_task_record(task)
    set_text(call, task, data, changed)
    if "assignee" in data:
        value = data["assignee"]
        assignee = None if value is None else resolve_user(call, value, "assignee")
        assign(task, "assignee", assignee, changed)
    if "completed" in data:
        done = bool(data["completed"])
        if done != bool(task.get("completed")):
            task["completed"] = done
            task["completed_at"] = store.now() if done else None
            task["completed_by"] = call.me if done else None
            changed.append("completed")
    if data.get("custom_fields"):
        key = next(iter(data["custom_fields"]))
        raise bad_request(f"custom_fields: Custom field with ID {key} does not exist")
    if not creating and "parent" in data:
        raise bad_request("parent: Use POST /tasks/{task_gid}/setParent to change a task's parent")
    return changed


@route("post", "/tasks")
def create_task(call: Call) -> Reply:
    """Create a task in a workspace, in projects, or under a parent."""
    return _create(call, call.data.get("parent"))


@route("post", "/tasks/{task_gid}/subtasks")
def create_subtask(call: Call) -> Reply:
    """Create a subtask under the path's task."""
    call.get("task", call.path["task_gid"], label="task")
    return _create(call, call.path["task_gid"])


def _memberships(call: Call, data: dict[str, Any]) -> list[dict[str, str]]:
    store = call.store
    memberships: list[dict[str, str]] = []
    for item in data.get("memberships") or []:
        project = call.ref("project", item.get("project"), label="memberships.project")
        section = item.get("section") or store.default_section(project["gid"])
        if section is not None:
            call.ref("section", section, label="memberships.section")
        memberships.append({"project": project["gid"], "section": section})
    for gid in data.get("projects") or []:
        project = call.ref("project", gid, label="projects")
        if all(m["project"] != project["gid"] for m in memberships):
            memberships.append(
                {"project": project["gid"], "section": store.default_section(project["gid"])}
            )
    return memberships


def _create(call: Call, parent_gid: str | None) -> Reply:
    store, data = call.store, call.data
    parent = call.ref("task", parent_gid, label="parent") if parent_gid else None
    memberships = _memberships(call, data)
    if data.get("tags"):
        raise bad_request(f"tags: Unknown object: {data['tags'][0]}")
    if data.get("workspace"):
        workspace = call.ref("workspace", data["workspace"], label="workspace")["gid"]
    elif memberships:
        workspace = store.records["project"][memberships[0]["project"]]["workspace"]
    elif parent is not None:
        workspace = parent["workspace"]
    else:
        raise bad_request("workspace: Missing input")
    for membership in memberships:
        if store.records["project"][membership["project"]]["workspace"] != workspace:
            raise bad_request("projects: Project is not in the task's workspace")
    now = store.now()
    task: Task = {
        "gid": store.new_gid(),
        "name": "",
        "resource_subtype": "default_task",
        "created_by": call.me,
        "created_at": now,
        "modified_at": now,
        "completed": False,
        "completed_at": None,
        "completed_by": None,
        "notes": "",
        "html_notes": "<body></body>",
        "memberships": memberships,
        "parent": parent["gid"] if parent else None,
        "workspace": workspace,
        "followers": [call.me],
    }
    _apply(call, task, data, creating=True)
    for follower in data.get("followers") or []:
        gid = resolve_user(call, follower, "followers")
        if gid not in task["followers"]:
            task["followers"].append(gid)
    if task.get("assignee") and task["assignee"] not in task["followers"]:
        task["followers"].append(task["assignee"])
    store.add("task", task)
    for membership in memberships:
        activity.added(
            store,
            call.me,
            "task",
            task,
            ("project", store.records["project"][membership["project"]]),
        )
    if parent is not None:
        activity.added(store, call.me, "task", task, ("task", parent))
    return call.one("task", task, status=201)


@route("put", "/tasks/{task_gid}")
def update_task(call: Call) -> Reply:
    """Change the fields sent; ``modified_at`` moves when something changed."""
    store = call.store
    task = call.get("task", call.path["task_gid"], label="task")
    # Validate on a copy: a request rejected with a 400 must not change anything.
    draft = dict(task)
    changed = _apply(call, draft, call.data, creating=False)
    task.update(draft)
    if changed:
        task["modified_at"] = store.now()
        activity.changed(store, call.me, "task", task, changed)
    return call.one("task", task)


@route("delete", "/tasks/{task_gid}")
def delete_task(call: Call) -> Reply:
    """Delete a task and its subtasks (Asana moves them to the trash)."""
    store = call.store
    task = call.get("task", call.path["task_gid"], label="task")
    doomed = [task] + [store.records["task"][gid] for gid in store.descendants(task["gid"])]
    for record in doomed:
        activity.deleted(store, call.me, "task", record, store.event_targets(record))
    store.delete_task(task["gid"])
    return empty()


@route("post", "/tasks/{task_gid}/addProject")
def add_project(call: Call) -> Reply:
    """Add the task to a project (or move it within one), optionally into a section."""
    store, data = call.store, call.data
    task = call.get("task", call.path["task_gid"], label="task")
    project = call.ref("project", data["project"], label="project")
    if project["workspace"] != task["workspace"]:
        raise bad_request("project: Project is not in the task's workspace")
    section = data.get("section")
    if (
        section is not None
        and call.ref("section", section, label="section")["project"] != project["gid"]
    ):
        raise bad_request("section: Section is not in this project")
    membership = next((m for m in task["memberships"] if m["project"] == project["gid"]), None)
    is_new = membership is None
    if membership is None:
        membership = {"project": project["gid"], "section": None}
        task["memberships"].append(membership)
    membership["section"] = (
        section or membership["section"] or store.default_section(project["gid"])
    )
    order = store.tasks_by_project[project["gid"]]
    store.place(order, task["gid"], data.get("insert_before"), data.get("insert_after"))
    task["modified_at"] = store.now()
    if is_new:
        activity.added(store, call.me, "task", task, ("project", project))
    return empty()


@route("post", "/tasks/{task_gid}/removeProject")
def remove_project(call: Call) -> Reply:
    """Remove the task from a project (the task itself stays)."""
    store = call.store
    task = call.get("task", call.path["task_gid"], label="task")
    project = call.ref("project", call.data["project"], label="project")
    if any(m["project"] == project["gid"] for m in task["memberships"]):
        targets = store.event_targets(task)
        task["memberships"] = [m for m in task["memberships"] if m["project"] != project["gid"]]
        order = store.tasks_by_project.get(project["gid"], [])
        if task["gid"] in order:
            order.remove(task["gid"])
        task["modified_at"] = store.now()
        activity.removed(store, call.me, "task", task, ("project", project), targets)
    return empty()


@route("post", "/tasks/{task_gid}/setParent")
def set_parent(call: Call) -> Reply:
    """Make the task a subtask of another task, or a top-level task with ``parent: null``."""
    store, data = call.store, call.data
    task = call.get("task", call.path["task_gid"], label="task")
    new_gid = data["parent"]
    new_parent = call.ref("task", new_gid, label="parent") if new_gid is not None else None
    if new_parent is not None:
        if new_parent["gid"] == task["gid"] or task["gid"] in {
            a["gid"] for a in store.ancestors(new_parent)
        }:
            raise bad_request("parent: A task cannot be its own ancestor")
        if new_parent["workspace"] != task["workspace"]:
            raise bad_request("parent: Parent is not in the task's workspace")
    old_gid = task.get("parent")
    if old_gid != (new_parent["gid"] if new_parent else None):
        if old_gid:
            targets = store.event_targets(task)
            siblings = store.subtasks.get(old_gid, [])
            if task["gid"] in siblings:
                siblings.remove(task["gid"])
            old_parent = store.records["task"].get(old_gid)
            task["parent"] = None
            if old_parent is not None:
                activity.removed(store, call.me, "task", task, ("task", old_parent), targets)
        task["parent"] = new_parent["gid"] if new_parent else None
        task["modified_at"] = store.now()
        if new_parent is not None:
            store.place(
                store.subtasks[new_parent["gid"]],
                task["gid"],
                data.get("insert_before"),
                data.get("insert_after"),
            )
            activity.added(store, call.me, "task", task, ("task", new_parent))
    elif new_parent is not None:
        store.place(
            store.subtasks[new_parent["gid"]],
            task["gid"],
            data.get("insert_before"),
            data.get("insert_after"),
        )
    return call.one("task", task)
