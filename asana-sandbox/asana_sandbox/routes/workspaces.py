"""Workspaces: list, read, rename (the only write Asana allows on them)."""

from __future__ import annotations

from asana_sandbox.dispatch import Call, Reply, route


@route("get", "/workspaces")
def list_workspaces(call: Call) -> Reply:
    """The workspaces the token's user belongs to."""
    me = call.store.lookup("user", call.me) or {}
    return call.many("workspace", list(me.get("workspaces", ())))


@route("get", "/workspaces/{workspace_gid}")
def get_workspace(call: Call) -> Reply:
    """One workspace, full record."""
    return call.one(
        "workspace", call.get("workspace", call.path["workspace_gid"], label="workspace")
    )


@route("put", "/workspaces/{workspace_gid}")
def update_workspace(call: Call) -> Reply:
    """Rename: "the only field that can be modified for a workspace is its name"."""
    workspace = call.get("workspace", call.path["workspace_gid"], label="workspace")
    if "name" in call.data:
        workspace["name"] = call.data["name"]
    return call.one("workspace", workspace)
