"""Asana's records as this target writes them, derived from the flow descriptions.

Which fields each record type reads and writes, where its records live, and the rules
Asana holds their values to (dates, plain and rich text, users named by email). Nothing
here calls Asana: :mod:`~target_asana_talk.calls` plans the calls from it, and
:mod:`~target_asana_talk.destination` sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from talk_sync import Ref, Side
from talk_sync.flows import RECORD_TYPES, Access, fields_of, read_fields, unwritable
from talk_sync.normalize import FieldType

from target_asana_talk.client import Reply

_TYPES = RECORD_TYPES[Side.ASANA]
#: Fields read for each Asana record type (``opt_fields``): the synced ones and timestamps,
#: and the rich text of notes (a description edit must keep its formatting).
OPT_FIELDS = {name: ",".join(read_fields(Side.ASANA, name)) for name in _TYPES}
#: Collection path of each record type.
PATHS = {name: record_type.path for name, record_type in _TYPES.items()}
#: Synced fields Asana lets a client write with ``PUT``/``POST``, per record type (moves of
#: references go through their own calls).
WRITABLE = {
    name: tuple(
        f.name
        for f in fields_of(Side.ASANA, name)
        if f.access is Access.WRITABLE and f.references is None
    )
    for name in _TYPES
}
#: Synced fields Asana does not let a client change: reported per record, never sent.
UNSUPPORTED = {key: f.why for key, f in unwritable(Side.ASANA).items()}
#: How each of those is out of reach (read-only, or refused when set).
UNSUPPORTED_ACCESS = {key: f.access for key, f in unwritable(Side.ASANA).items()}
#: The plain text field of each record type that Asana also keeps as rich text (``html_`` +).
RICH_TEXT = {name: t.rich_text for name, t in _TYPES.items() if t.rich_text}
#: Text fields Asana wants as strings (``None`` is sent as ``""``).
TEXT_FIELDS = frozenset(
    f.name
    for name in _TYPES
    for f in fields_of(Side.ASANA, name)
    if f.name in WRITABLE[name] and f.type in (FieldType.TEXT, FieldType.OPTIONAL_TEXT)
)
#: Fields holding a user: the values are emails, Asana wants user gids.
USER_FIELDS = frozenset(
    f.name for name in _TYPES for f in fields_of(Side.ASANA, name) if f.type is FieldType.EMAIL
)


def date_rule_broken(asana_type: str, values: Mapping[str, Any]) -> str | None:
    """Which of Asana's date rules a project's or task's start and due dates break, if any."""
    start, due = values.get("start_on"), values.get("due_at") or values.get("due_on")
    if asana_type not in ("project", "task") or not start:
        return None
    if not due:
        return "Asana keeps no start date without a due date"
    if asana_type == "project" and str(start) == str(due)[:10]:
        return "Asana refuses a project whose start and due dates are the same day"
    return None


def read_params(asana_type: str) -> dict[str, Any]:
    """The query parameters that read a record of ``asana_type`` with its synced fields."""
    return {"opt_fields": OPT_FIELDS[asana_type]}


def container(
    asana_type: str, values: Mapping[str, Any], workspace_gid: str | None
) -> tuple[str, dict[str, Any]] | None:
    """Where a new record of ``asana_type`` with ``values`` lives: a list path and its
    parameters (``None``: nowhere known). A team, or a project of no team, goes to the
    record's organization, else to ``workspace_gid``."""
    params = read_params(asana_type)
    organization = values.get("organization") or workspace_gid
    if asana_type == "task" and values.get("parent"):
        return f"/tasks/{values['parent']}/subtasks", params
    if asana_type == "task" and values.get("project"):
        return "/tasks", {**params, "project": values["project"]}
    if asana_type == "project" and values.get("team"):
        return f"/teams/{values['team']}/projects", params
    if asana_type == "project" and organization:
        return f"/workspaces/{organization}/projects", params
    if asana_type == "team" and organization:
        return f"/workspaces/{organization}/teams", params
    return None


def current_record(ref: Ref, reply: Reply) -> Mapping[str, Any] | None:
    """A read record (``None`` when Asana no longer has it); any other failure raises."""
    if reply.status == HTTPStatus.NOT_FOUND:
        return None
    if not reply.ok:
        raise reply.error(f"GET {ref}")
    record: Mapping[str, Any] = reply.data
    return record
