"""Users: per workspace, per team, and one by gid, email or ``me``."""

from __future__ import annotations

from asana_sandbox.dispatch import Call, Reply, route
from asana_sandbox.routes.common import resolve_user


@route("get", "/workspaces/{workspace_gid}/users")
def list_workspace_users(call: Call) -> Reply:
    """Users of a workspace."""
    workspace = call.get("workspace", call.path["workspace_gid"], label="workspace")
    return call.many("user", call.store.users_by_workspace.get(workspace["gid"], []))


@route("get", "/teams/{team_gid}/users")
def list_team_users(call: Call) -> Reply:
    """Members of a team."""
    team = call.get("team", call.path["team_gid"], label="team")
    return call.many("user", call.store.users_by_team.get(team["gid"], []))


@route("get", "/users")
def list_users(call: Call) -> Reply:
    """Users of a workspace or a team (every user the token can see without a filter)."""
    store = call.store
    if "team" in call.query:
        order = store.users_by_team.get(
            call.ref("team", call.query["team"], label="team")["gid"], []
        )
    elif "workspace" in call.query:
        workspace = call.ref("workspace", call.query["workspace"], label="workspace")
        order = store.users_by_workspace.get(workspace["gid"], [])
    else:
        order = list(store.records["user"])
    return call.many("user", order)


@route("get", "/users/{user_gid}")
def get_user(call: Call) -> Reply:
    """One user, full record."""
    gid = call.path["user_gid"]
    if gid != "me" and "@" not in gid:
        return call.one("user", call.get("user", gid, label="user"))
    return call.one("user", call.store.records["user"][resolve_user(call, gid, "user")])
