"""What the sandbox knows about each Asana resource type: compact, full and linked fields.

Records are stored as plain dicts holding scalars and gids; this model says which fields
are references to other records, which are derived, and what an unmodelled field reads as.
Field names and the compact/full split follow the *Compact and *Response schemas of the
official description.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ResourceType:
    """Field model of one resource type."""

    name: str
    compact: tuple[str, ...]
    full: tuple[str, ...]
    refs: dict[str, str] = field(default_factory=dict)
    ref_lists: dict[str, str] = field(default_factory=dict)
    structs: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)

    def link_target(self, name: str) -> str | None:
        """The resource type a field points to, if it is a reference."""
        return self.refs.get(name) or self.ref_lists.get(name)


_ACCESS_LEVELS = {
    "edit_team_name_or_description_access_level": "all_team_members",
    "edit_team_visibility_or_trash_team_access_level": "all_team_members",
    "member_invite_management_access_level": "all_team_members",
    "guest_invite_management_access_level": "all_team_members",
    "join_request_management_access_level": "all_team_members",
    "team_member_removal_access_level": "all_team_members",
    "team_content_management_access_level": "no_restriction",
}

WORKSPACE = ResourceType(
    name="workspace",
    compact=("gid", "resource_type", "name"),
    full=("gid", "resource_type", "name", "email_domains", "is_organization"),
)

USER = ResourceType(
    name="user",
    compact=("gid", "resource_type", "name"),
    full=("gid", "resource_type", "name", "email", "photo", "workspaces"),
    ref_lists={"workspaces": "workspace"},
    defaults={"photo": None, "custom_fields": []},
)

TEAM = ResourceType(
    name="team",
    compact=("gid", "resource_type", "name"),
    full=(
        "gid",
        "resource_type",
        "name",
        "description",
        "html_description",
        "organization",
        "permalink_url",
        "visibility",
        *_ACCESS_LEVELS,
        "endorsed",
        "custom_field_settings",
    ),
    refs={"organization": "workspace"},
    defaults={
        "description": "",
        "html_description": "<body></body>",
        "visibility": "secret",
        "endorsed": False,
        "custom_field_settings": [],
        **_ACCESS_LEVELS,
    },
)

PROJECT = ResourceType(
    name="project",
    compact=("gid", "resource_type", "name"),
    full=(
        "gid",
        "resource_type",
        "name",
        "archived",
        "color",
        "icon",
        "created_at",
        "current_status",
        "current_status_update",
        "custom_field_settings",
        "default_view",
        "due_date",
        "due_on",
        "html_notes",
        "members",
        "modified_at",
        "notes",
        "public",
        "privacy_setting",
        "start_on",
        "default_access_level",
        "minimum_access_level_for_customization",
        "minimum_access_level_for_sharing",
        "custom_fields",
        "completed",
        "completed_at",
        "completed_by",
        "followers",
        "owner",
        "team",
        "permalink_url",
        "project_brief",
        "created_from_template",
        "workspace",
    ),
    refs={
        "owner": "user",
        "team": "team",
        "workspace": "workspace",
        "completed_by": "user",
    },
    ref_lists={"members": "user", "followers": "user"},
    defaults={
        "archived": False,
        "color": None,
        "icon": None,
        "current_status": None,
        "current_status_update": None,
        "custom_field_settings": [],
        "custom_fields": [],
        "default_view": "list",
        "due_on": None,
        "start_on": None,
        "notes": "",
        "html_notes": "<body></body>",
        "public": False,
        "privacy_setting": "public_to_workspace",
        "default_access_level": "editor",
        "minimum_access_level_for_customization": "editor",
        "minimum_access_level_for_sharing": "editor",
        "completed": False,
        "completed_at": None,
        "completed_by": None,
        "project_brief": None,
        "created_from_template": None,
        "owner": None,
        "team": None,
        "members": [],
        "followers": [],
    },
)

SECTION = ResourceType(
    name="section",
    compact=("gid", "resource_type", "name"),
    full=("gid", "resource_type", "name", "created_at", "project", "projects"),
    refs={"project": "project"},
    ref_lists={"projects": "project"},
)

TASK = ResourceType(
    name="task",
    compact=("gid", "resource_type", "name", "resource_subtype"),
    full=(
        "gid",
        "resource_type",
        "name",
        "resource_subtype",
        "approval_status",
        "assignee_status",
        "completed",
        "completed_at",
        "completed_by",
        "created_at",
        "dependencies",
        "dependents",
        "due_at",
        "due_on",
        "external",
        "html_notes",
        "hearted",
        "hearts",
        "is_rendered_as_separator",
        "liked",
        "likes",
        "memberships",
        "modified_at",
        "notes",
        "num_hearts",
        "num_likes",
        "num_subtasks",
        "start_at",
        "start_on",
        "actual_time_minutes",
        "assignee",
        "assignee_section",
        "custom_fields",
        "followers",
        "parent",
        "projects",
        "tags",
        "workspace",
        "permalink_url",
    ),
    refs={
        "assignee": "user",
        "assigned_by": "user",
        "assignee_section": "section",
        "completed_by": "user",
        "created_by": "user",
        "parent": "task",
        "workspace": "workspace",
    },
    ref_lists={"followers": "user", "projects": "project", "tags": "tag"},
    structs={"memberships": {"project": "project", "section": "section"}},
    defaults={
        "resource_subtype": "default_task",
        "assignee_status": "upcoming",
        "assigned_by": None,
        "assignee_section": None,
        "completed": False,
        "completed_at": None,
        "completed_by": None,
        "dependencies": [],
        "dependents": [],
        "due_at": None,
        "due_on": None,
        "notes": "",
        "html_notes": "<body></body>",
        "hearted": False,
        "hearts": [],
        "is_rendered_as_separator": False,
        "liked": False,
        "likes": [],
        "num_hearts": 0,
        "num_likes": 0,
        "start_at": None,
        "start_on": None,
        "actual_time_minutes": None,
        "assignee": None,
        "custom_fields": [],
        "custom_type": None,
        "custom_type_status_option": None,
        "followers": [],
        "parent": None,
        "tags": [],
    },
)

TYPES: dict[str, ResourceType] = {
    t.name: t for t in (WORKSPACE, USER, TEAM, PROJECT, SECTION, TASK)
}
