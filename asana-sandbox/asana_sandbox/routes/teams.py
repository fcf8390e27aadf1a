"""Teams: list per organization, read, create and update (Asana cannot delete teams)."""

from __future__ import annotations

from typing import Any

from asana_sandbox.dispatch import Call, Reply, route
from asana_sandbox.errors import ApiError, bad_request
from asana_sandbox.resources import TEAM
from asana_sandbox.routes.common import set_text

#: Written as given; description and html_description go through set_text.
_WRITABLE = tuple(
    name
    for name in TEAM.defaults
    if name not in ("custom_field_settings", "description", "html_description")
)


def _apply(call: Call, team: dict[str, Any], data: dict[str, Any]) -> None:
    for name in ("name", *_WRITABLE):
        if name in data:
            team[name] = data[name]
    set_text(call, team, data, [], plain="description")


@route("get", "/workspaces/{workspace_gid}/teams")
def list_workspace_teams(call: Call) -> Reply:
    """Teams of an organization (a personal workspace has none)."""
    workspace = call.get("workspace", call.path["workspace_gid"], label="workspace")
    return call.many("team", call.store.teams_by_workspace.get(workspace["gid"], []))


@route("get", "/teams/{team_gid}")
def get_team(call: Call) -> Reply:
    """One team, full record."""
    return call.one("team", call.get("team", call.path["team_gid"], label="team"))


@route("post", "/teams")
def create_team(call: Call) -> Reply:
    """A new team in an organization; the creator becomes a member."""
    store, data = call.store, call.data
    if not data.get("name"):
        raise bad_request("name: Missing input")
    if "organization" not in data:
        raise bad_request("organization: Missing input")
    organization = call.ref("workspace", data["organization"], label="organization")
    if not organization.get("is_organization"):
        raise ApiError(403, "organization: Non-organization workspaces do not have teams")
    team: dict[str, Any] = {"gid": store.new_gid(), "organization": organization["gid"]}
    _apply(call, team, data)
    store.add("team", team)
    store.users_by_team[team["gid"]].append(call.me)
    call.sandbox.store.records["user"][call.me].setdefault("teams", []).append(team["gid"])
    return call.one("team", team, status=201)


@route("put", "/teams/{team_gid}")
def update_team(call: Call) -> Reply:
    """Change a team's name, description or settings (not its organization)."""
    team = call.get("team", call.path["team_gid"], label="team")
    organization = call.data.get("organization")
    if organization is not None and organization != team["organization"]:
        raise bad_request("organization: A team's organization cannot be changed")
    _apply(call, team, call.data)
    return call.one("team", team)
