"""Finding what a create whose answer was lost made in Asana.

Asana has no idempotency key, so a create is never resent blindly: when its answer is lost
(a dropped connection, a timeout, a 5xx after the call may have run), or when a run
resumes a create an earlier run began, :func:`find_created` lists the container (the
parent's subtasks, the project's tasks, the team's or workspace's projects, the
organization's teams) for records with the same name created at or after the create
began (less :data:`CLOCK_SKEW`). The engine links the oldest one no link claims yet, and
only when there is none is the create sent again.

Teams have no ``created_at``: before a team create, :func:`create_context` records the
organization's teams of that name that exist already, and only a team that is not one of
them can be the create's result (never "any team of that name").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from talk_sync import CreateAttempt, WriteOp
from talk_sync.timestamps import CLOCK_SKEW, format_timestamp, parse_timestamp

from target_asana_talk.client import AsanaClient
from target_asana_talk.model import container


def find_created(
    client: AsanaClient, op: WriteOp, attempt: CreateAttempt, workspace_gid: str | None
) -> list[Mapping[str, Any]]:
    """The records the create ``op`` begun as ``attempt`` may have made, oldest first."""
    asana_type, values = op.flow.asana_type, op.values
    listing = container(asana_type, values, workspace_gid)
    if listing is None:
        return []
    path, params = listing
    since = attempt.began_at - CLOCK_SKEW
    if asana_type == "task" and "project" in params:
        params["modified_since"] = format_timestamp(since)
    existed: set[str] | None = None
    if asana_type == "team":
        if attempt.context is None:  # begun before contexts were recorded: finds none
            return []
        existed = set(attempt.context.get("existing") or [])
    name = values.get("name") or ""
    candidates = []
    for record in client.list(path, **params):
        if record.get("name") != name:
            continue
        if existed is not None and str(record["gid"]) in existed:
            continue
        created = parse_timestamp(record["created_at"]) if record.get("created_at") else None
        if created is not None and created < since:
            continue
        candidates.append(record)
    return sorted(candidates, key=lambda record: str(record.get("created_at") or ""))


def create_context(
    client: AsanaClient, ops: Sequence[WriteOp], workspace_gid: str | None
) -> list[Mapping[str, Any] | None]:
    """For a team create, the gids of the organization's teams of that name before it."""
    teams: dict[str, list[dict[str, Any]]] = {}
    contexts: list[Mapping[str, Any] | None] = []
    for op in ops:
        organization = op.values.get("organization") or workspace_gid
        if op.flow.asana_type != "team" or not organization:
            contexts.append(None)
            continue
        if organization not in teams:  # one listing per organization and batch
            teams[organization] = client.list(
                f"/workspaces/{organization}/teams", opt_fields="name"
            )
        name = op.values.get("name") or ""
        existing = sorted(str(t["gid"]) for t in teams[organization] if t.get("name") == name)
        contexts.append({"existing": existing})
    return contexts
