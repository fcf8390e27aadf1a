"""Sections (read-only here): the columns of a board, the headings of a list."""

from __future__ import annotations

from asana_sandbox.dispatch import Call, Reply, route
from asana_sandbox.routes.tasks import completed_filter


@route("get", "/projects/{project_gid}/sections")
def list_sections(call: Call) -> Reply:
    """Sections of a project, in order."""
    project = call.get("project", call.path["project_gid"], label="project")
    return call.many("section", call.store.sections_by_project.get(project["gid"], []))


@route("get", "/sections/{section_gid}")
def get_section(call: Call) -> Reply:
    """One section, full record."""
    return call.one("section", call.get("section", call.path["section_gid"], label="section"))


@route("get", "/sections/{section_gid}/tasks")
def list_section_tasks(call: Call) -> Reply:
    """Tasks in a section, in project order."""
    store = call.store
    section = call.get("section", call.path["section_gid"], label="section")
    gid = section["gid"]
    keep_completed = completed_filter(call)

    def accept(task: dict) -> bool:
        in_section = any(m.get("section") == gid for m in task.get("memberships", ()))
        return in_section and keep_completed(task)

    return call.many("task", store.tasks_by_project.get(section["project"], []), accept)
