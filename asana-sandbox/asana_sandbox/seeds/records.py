"""Record constructors shared by the seeds (the stored shape routes also produce)."""

from __future__ import annotations

from typing import Any

from asana_sandbox.clock import format_ms, parse_ms
from asana_sandbox.rich_text import html_of
from asana_sandbox.store import Store


def at(base: str, *, minutes: float = 0) -> str:
    """A timestamp ``minutes`` after ``base``."""
    return format_ms(parse_ms(base) + int(minutes * 60_000))


def workspace(gid: str, name: str, *, organization: bool, domains: list[str]) -> dict[str, Any]:
    """A workspace or organization."""
    return {"gid": gid, "name": name, "is_organization": organization, "email_domains": domains}


def user(
    gid: str, name: str, email: str, workspaces: list[str], teams: list[str]
) -> dict[str, Any]:
    """A user and where they belong."""
    return {"gid": gid, "name": name, "email": email, "workspaces": workspaces, "teams": teams}


def team(gid: str, name: str, organization: str, description: str = "") -> dict[str, Any]:
    """A team of an organization."""
    return {
        "gid": gid,
        "name": name,
        "organization": organization,
        "description": description,
        "html_description": html_of(description),
        "visibility": "request_to_join",
    }


def project(
    gid: str,
    name: str,
    *,
    workspace: str,
    team: str | None,
    owner: str,
    created_at: str,
    modified_at: str,
    **fields: Any,
) -> dict[str, Any]:
    """A project; extra fields (archived, default_view, due_on...) as stored."""
    return {
        "gid": gid,
        "name": name,
        "workspace": workspace,
        "team": team,
        "owner": owner,
        "created_at": created_at,
        "modified_at": modified_at,
        "members": [owner],
        "followers": [owner],
        **fields,
    }


def section(gid: str, name: str, project: str, created_at: str) -> dict[str, Any]:
    """A section of a project."""
    return {"gid": gid, "name": name, "project": project, "created_at": created_at}


def task(
    gid: str,
    name: str,
    *,
    workspace: str,
    created_by: str,
    created_at: str,
    modified_at: str,
    memberships: list[dict[str, str | None]] | None = None,
    parent: str | None = None,
    assignee: str | None = None,
    completed_at: str | None = None,
    notes: str = "",
    **fields: Any,
) -> dict[str, Any]:
    """A task or subtask; extra fields (due_on, start_on, due_at...) as stored."""
    followers = [created_by] + ([assignee] if assignee and assignee != created_by else [])
    return {
        "gid": gid,
        "name": name,
        "resource_subtype": "default_task",
        "created_by": created_by,
        "created_at": created_at,
        "modified_at": modified_at,
        "completed": completed_at is not None,
        "completed_at": completed_at,
        "completed_by": assignee or created_by if completed_at else None,
        "assignee": assignee,
        "notes": notes,
        "html_notes": html_of(notes),
        "memberships": memberships or [],
        "parent": parent,
        "workspace": workspace,
        "followers": followers,
        **fields,
    }


def empty(store: Store) -> None:
    """The least a sandbox needs: one personal workspace and its user."""
    ws = store.add(
        "workspace", workspace(store.new_gid(), "My workspace", organization=False, domains=[])
    )
    store.add(
        "user", user(store.new_gid(), "Sandbox User", "sandbox.user@example.com", [ws["gid"]], [])
    )
