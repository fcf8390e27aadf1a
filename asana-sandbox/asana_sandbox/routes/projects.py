"""Projects: list (per workspace, per team, filtered), read, create, update, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asana_sandbox import activity, dates
from asana_sandbox.dispatch import Call, Reply, route
from asana_sandbox.errors import ApiError, bad_request
from asana_sandbox.routes.common import assign, empty, resolve_user, set_text
from asana_sandbox.store import Store

_SCALARS = (
    "name",
    "archived",
    "color",
    "icon",
    "default_view",
    "start_on",
    "public",
    "privacy_setting",
    "default_access_level",
    "minimum_access_level_for_customization",
    "minimum_access_level_for_sharing",
)
DEFAULT_SECTION = "Untitled section"
#: The description's GatewayTimeout response: "This request took too long to complete."
TIMED_OUT = "This request took too long to complete."


def _archived_filter(call: Call) -> Callable[[dict[str, Any]], bool] | None:
    """The ``archived`` query parameter as a predicate (None: no filter)."""
    archived = call.query.get("archived")
    if archived is None:
        return None
    return lambda project: bool(project.get("archived")) == archived


def _small_domain(call: Call, workspaces: list[str]) -> None:
    """``--large-domain-projects N``: listing all projects of a workspace with more than N
    projects times out (504), as the description warns ("may timeout for large domains")."""
    limit = call.sandbox.settings.large_domain_projects
    if limit is None:
        return
    if any(len(call.store.projects_by_workspace.get(gid, ())) > limit for gid in workspaces):
        if call.counted:
            call.sandbox.stats.large_domain_timeouts += 1
        raise ApiError(504, TIMED_OUT)


@route("get", "/projects")
def list_projects(call: Call) -> Reply:
    """Projects of a workspace or team (every visible project without either)."""
    store = call.store
    if "team" in call.query:
        team = call.ref("team", call.query["team"], label="team")
        order = store.projects_by_team.get(team["gid"], [])
    elif "workspace" in call.query:
        workspace = call.ref("workspace", call.query["workspace"], label="workspace")
        _small_domain(call, [workspace["gid"]])
        order = store.projects_by_workspace.get(workspace["gid"], [])
    else:
        me = store.records["user"].get(call.me) or {}
        _small_domain(call, list(me.get("workspaces", ())))
        order = list(store.records["project"])
    return call.many("project", order, _archived_filter(call))


@route("get", "/workspaces/{workspace_gid}/projects")
def list_workspace_projects(call: Call) -> Reply:
    """Projects of a workspace."""
    workspace = call.get("workspace", call.path["workspace_gid"], label="workspace")
    _small_domain(call, [workspace["gid"]])
    return call.many(
        "project",
        call.store.projects_by_workspace.get(workspace["gid"], []),
        _archived_filter(call),
    )


@route("get", "/teams/{team_gid}/projects")
def list_team_projects(call: Call) -> Reply:
    """Projects of a team."""
    team = call.get("team", call.path["team_gid"], label="team")
    return call.many(
        "project", call.store.projects_by_team.get(team["gid"], []), _archived_filter(call)
    )


@route("get", "/projects/{project_gid}")
def get_project(call: Call) -> Reply:
    """One project, full record."""
    return call.one("project", call.get("project", call.path["project_gid"], label="project"))


def _apply(call: Call, project: dict[str, Any], data: dict[str, Any]) -> list[str]:
    """Write the fields a request sends; return the names of those that changed."""
    dates.check_project_request(data)
    changed: list[str] = []
    for name in _SCALARS:
        if name in data:
            assign(project, name, data[name], changed)
    if "due_on" in data or "due_date" in data:
        assign(project, "due_on", data.get("due_on", data.get("due_date")), changed)
    set_text(call, project, data, changed)
    if "owner" in data:
        owner = data["owner"]
        assign(
            project,
            "owner",
            None if owner is None else resolve_user(call, owner, "owner"),
            changed,
        )
    dates.check_project_record(project)
    return changed


def create(call: Call, workspace_gid: str | None, team_gid: str | None) -> Reply:
    """Create a project (shared by the three create routes)."""
    store, data = call.store, call.data
    if not data.get("name"):
        raise bad_request("name: Missing input")
    team = call.ref("team", team_gid, label="team") if team_gid else None
    if workspace_gid is None and team is not None:
        workspace_gid = team["organization"]
    if workspace_gid is None:
        raise bad_request("workspace: Missing input")
    workspace = call.ref("workspace", workspace_gid, label="workspace")
    if workspace.get("is_organization") and team is None:
        raise bad_request(
            "team: You must specify a team when creating a project in an organization"
        )
    if team is not None and team["organization"] != workspace["gid"]:
        raise bad_request("team: The team is not in this workspace")
    now = store.now()
    project: dict[str, Any] = {
        "gid": store.new_gid(),
        "name": "",
        "workspace": workspace["gid"],
        "team": team["gid"] if team else None,
        "owner": call.me,
        "created_at": now,
        "modified_at": now,
        "members": [call.me],
        "followers": [call.me],
    }
    _apply(call, project, data)
    for follower in str(data.get("followers") or "").split(","):
        if follower.strip():
            gid = resolve_user(call, follower.strip(), "followers")
            if gid not in project["followers"]:
                project["followers"].append(gid)
    store.add("project", project)
    store.add("section", _section(store, project["gid"], DEFAULT_SECTION, now))
    return call.one("project", project, status=201)


def _section(store: Store, project_gid: str, name: str, now: str) -> dict[str, Any]:
    return {"gid": store.new_gid(), "name": name, "project": project_gid, "created_at": now}


@route("post", "/projects")
def create_project(call: Call) -> Reply:
    """Create a project in ``workspace`` (and ``team`` in an organization)."""
    return create(call, call.data.get("workspace"), call.data.get("team"))


@route("post", "/workspaces/{workspace_gid}/projects")
def create_workspace_project(call: Call) -> Reply:
    """Create a project in the path's workspace."""
    call.get("workspace", call.path["workspace_gid"], label="workspace")
    return create(call, call.path["workspace_gid"], call.data.get("team"))


@route("post", "/teams/{team_gid}/projects")
def create_team_project(call: Call) -> Reply:
    """Create a project shared with the path's team."""
    call.get("team", call.path["team_gid"], label="team")
    return create(call, None, call.path["team_gid"])


@route("put", "/projects/{project_gid}")
def update_project(call: Call) -> Reply:
    """Change the fields sent; ``modified_at`` moves when something changed."""
    store = call.store
    project = call.get("project", call.path["project_gid"], label="project")
    team = call.data.get("team")
    if team is not None and team != project.get("team"):
        raise bad_request("team: The team of a project cannot be changed via the API")
    # Validate on a copy: a request rejected with a 400 must not change anything.
    draft = dict(project)
    changed = _apply(call, draft, call.data)
    project.update(draft)
    if changed:
        project["modified_at"] = store.now()
        activity.changed(store, call.me, "project", project, changed)
    return call.one("project", project)


@route("delete", "/projects/{project_gid}")
def delete_project(call: Call) -> Reply:
    """Delete a project; its tasks stay in the workspace without this membership."""
    store = call.store
    project = call.get("project", call.path["project_gid"], label="project")
    members = list(store.tasks_by_project.get(project["gid"], []))
    activity.deleted(store, call.me, "project", project, [project["gid"]])
    store.delete_project(project["gid"])
    now = store.now()
    for gid in members:
        task = store.records["task"].get(gid)
        if task is not None:
            task["modified_at"] = now
    return empty()
