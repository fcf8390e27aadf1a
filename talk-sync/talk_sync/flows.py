"""The five flows, each described in one place: what it links and how each field travels.

A :class:`Flow` declares, per side, the synced fields (:class:`Field`: type, the record type
a reference names, whether the other direction may write it and why not), the rows of its
property table (:class:`Row`: which Asana field carries which Custompms field, with a note),
what it deliberately leaves out, and on which side it creates records. The record types
themselves (:class:`RecordType`: API path, container fields, fields read besides the synced
ones, snapshot extras) are described once per side in :data:`RECORD_TYPES`.

Everything else is derived from these declarations: the targets' writable and read-only
fields, reference fields, ``opt_fields``, creating flows and snapshot extras, the match
keys' containers, and the QA checklist (:mod:`talk_sync.qa_checklist`). The field
*mapping* itself lives in meltano.yml (SDK stream maps), held against these descriptions by
tests/test_stream_maps_match_flows.py. Field names are each system's own: Asana's API
names, the Custompms contract's names. Reference fields (``ID``) hold destination keys once
resolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from types import MappingProxyType
from typing import Any

from talk_sync.normalize import FieldType
from talk_sync.refs import Side

T = FieldType


class Access(str, Enum):
    """What the other direction may do with a field of this side."""

    #: Written on create and on update.
    WRITABLE = "writable"
    #: Written on create only; a later change is reported per record, not written.
    CREATE_ONLY = "create-only"
    #: Carried by the mapping but never written: reported per record when it is set.
    REFUSED = "refused"
    #: This side's own value (the system sets it): the mapping does not carry it.
    READ_ONLY = "read-only"


@dataclass(frozen=True)
class Field:
    """A field of one side's record."""

    name: str
    type: FieldType
    access: Access = Access.WRITABLE
    #: The record type (on the same side) that this reference field names.
    references: str | None = None
    #: Why the other direction cannot write it (reported per record, and in the checklist).
    why: str | None = None
    #: Where the value is read when the record has no field ``name``: dotted paths tried in
    #: order (``memberships.project``: the first membership's project). The first one is
    #: also what is asked for in ``opt_fields``.
    read_from: tuple[str, ...] = ()
    #: Carried by the mapping for a create only (where to create): not synced, never diffed.
    placement: bool = False

    @property
    def received(self) -> bool:
        """Whether the mapping from the other side carries this field."""
        return self.access is not Access.READ_ONLY


@dataclass(frozen=True)
class Row:
    """One row of a flow's property table: an Asana field and the Custompms field it
    carries. ``None`` on one side, with a ``label``, for a value not held in a field there
    (e.g. a board task's board)."""

    asana: str | None
    custompms: str | None
    note: str = ""
    #: How the Asana side reads (reStructuredText), where it is not just the field.
    asana_label: str | None = None
    #: The Custompms data type as the checklist shows it, where the field type says too little.
    custompms_type: str | None = None


@dataclass(frozen=True)
class RecordType:
    """A record type of one side, as the targets read and write it."""

    side: Side
    name: str
    #: The API collection: Asana's path (``/tasks``), Custompms' resource (``tasks``); the
    #: tap's stream of these records has its name.
    path: str
    #: The fields that place a record, most specific first (a subtask lives under its
    #: parent, a top-level task in its project).
    containers: tuple[str, ...] = ()
    #: Fields read besides the synced ones (``opt_fields``): rich text, timestamps, ...
    also_read: tuple[str, ...] = ()
    #: The plain text field Asana also keeps as rich text (``html_`` + its name).
    rich_text: str | None = None
    #: Record fields kept in the link's snapshot besides the synced ones.
    snapshot_extras: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The field holding the record's key."""
        return "gid" if self.side is Side.ASANA else "id"

    @property
    def tombstone(self) -> str:
        """The field saying the record is deleted: the tap's marker of an Asana delete
        event, a Custompms tombstone's time."""
        return "is_deleted" if self.side is Side.ASANA else "deleted_at"

    @property
    def stream(self) -> str:
        """The tap stream of these records."""
        return self.path.strip("/")


def _types(*types: RecordType) -> Mapping[str, RecordType]:
    return MappingProxyType({record_type.name: record_type for record_type in types})


#: Custompms record fields kept in the link's Custompms snapshot besides the synced ones:
#: target-custompms sends ``version`` as its If-Match, so a Custompms edit made after this
#: run is detected (412) and merged, never overwritten; and it sets an empty
#: ``external_id`` to the linked Asana ref (``links rebuild`` reads the links there).
_CUSTOMPMS_EXTRAS = ("version", "updated_at", "external_id")
_ASANA_STAMPS = ("workspace", "created_at", "modified_at")

#: The record types of each side.
RECORD_TYPES: Mapping[Side, Mapping[str, RecordType]] = MappingProxyType(
    {
        Side.ASANA: _types(
            RecordType(Side.ASANA, "workspace", "/workspaces"),
            RecordType(
                Side.ASANA,
                "team",
                "/teams",
                containers=("organization",),
                also_read=("html_description",),
                rich_text="description",
            ),
            RecordType(
                Side.ASANA,
                "project",
                "/projects",
                containers=("team",),
                also_read=("html_notes", *_ASANA_STAMPS),
                rich_text="notes",
            ),
            RecordType(
                Side.ASANA,
                "task",
                "/tasks",
                containers=("parent", "project"),
                also_read=("html_notes", "due_at", *_ASANA_STAMPS),
                rich_text="notes",
            ),
        ),
        Side.CUSTOMPMS: _types(
            RecordType(
                Side.CUSTOMPMS,
                "customer",
                "customers",
                containers=("parent_id",),
                snapshot_extras=_CUSTOMPMS_EXTRAS,
            ),
            RecordType(
                Side.CUSTOMPMS,
                "project",
                "projects",
                containers=("customer_id",),
                snapshot_extras=_CUSTOMPMS_EXTRAS,
            ),
            RecordType(
                Side.CUSTOMPMS,
                "task",
                "tasks",
                containers=("parent_task_id", "project_id"),
                snapshot_extras=_CUSTOMPMS_EXTRAS,
            ),
        ),
    }
)


@dataclass(frozen=True)
class Flow:
    """One flow: an Asana record type linked to a Custompms record type."""

    number: int
    name: str
    asana_type: str
    custompms_type: str
    #: The Asana fields the flow carries, in order (placement fields too).
    asana: tuple[Field, ...] = field(repr=False)
    #: The Custompms fields the flow carries, in order.
    custompms: tuple[Field, ...] = field(repr=False)
    #: The property table, in the order the checklist shows it.
    rows: tuple[Row, ...] = field(repr=False)
    #: The sides this flow creates records on when a record has no link yet (the other
    #: flow of the same record type creates on the sides it leaves out).
    creates_on: frozenset[Side] = field(default=frozenset(Side), repr=False)
    #: Why a record is not created on the sides this flow leaves out of ``creates_on``.
    creates_note: str = field(default="", repr=False)
    #: What is deliberately not synced, and why (one sentence each).
    not_synced: tuple[str, ...] = field(default=(), repr=False)

    def record_type(self, side: Side | str) -> str:
        """This flow's record type on ``side``."""
        return self.asana_type if Side(side) is Side.ASANA else self.custompms_type

    def record_type_of(self, side: Side | str) -> RecordType:
        """The description of this flow's record type on ``side``."""
        side = Side(side)
        return RECORD_TYPES[side][self.record_type(side)]

    def declared(self, side: Side | str) -> tuple[Field, ...]:
        """Every field of ``side`` the flow declares (placement fields too), in order."""
        return self.asana if Side(side) is Side.ASANA else self.custompms

    def field(self, side: Side | str, name: str) -> Field:
        """The declared field ``name`` of ``side``."""
        for declared in self.declared(side):
            if declared.name == name:
                return declared
        raise KeyError(f"{self.name}: no {Side(side)} field {name!r}")

    @cached_property
    def asana_fields(self) -> Mapping[str, FieldType]:
        """The synced Asana fields and their types."""
        return _synced(self.asana)

    @cached_property
    def custompms_fields(self) -> Mapping[str, FieldType]:
        """The synced Custompms fields and their types."""
        return _synced(self.custompms)

    @cached_property
    def same_values(self) -> Mapping[str, str]:
        """Fields that hold the same value on both sides, Asana name -> Custompms name:
        rows pairing two fields of one type (plain values only: references hold each
        side's own keys)."""
        pairs = {}
        for row in self.rows:
            if row.asana is None or row.custompms is None:
                continue
            kind = self.asana_fields.get(row.asana)
            if (
                kind is not None
                and kind is not T.ID
                and kind is self.custompms_fields.get(row.custompms)
            ):
                pairs[row.asana] = row.custompms
        return MappingProxyType(pairs)

    def fields(self, side: Side | str) -> Mapping[str, FieldType]:
        """The synced fields and their types on ``side``."""
        return self.asana_fields if Side(side) is Side.ASANA else self.custompms_fields

    def received_fields(self, side: Side | str) -> tuple[str, ...]:
        """The fields of ``side`` that the other side's mapping carries (placement too)."""
        return tuple(f.name for f in self.declared(side) if f.received)

    def placement_fields(self, side: Side | str) -> tuple[str, ...]:
        """Fields of ``side`` the mapping carries for a create only (never diffed)."""
        return tuple(f.name for f in self.declared(side) if f.placement)

    def snapshot_extras(self, side: Side | str) -> tuple[str, ...]:
        """Record fields kept in ``side``'s snapshot besides the synced ones."""
        return self.record_type_of(side).snapshot_extras

    def parent_field(self, side: Side | str) -> str | None:
        """The field of ``side`` naming a parent record of the same type (a subtask's
        ``parent``), if the flow has one."""
        own = self.record_type(side)
        return next((f.name for f in self.declared(side) if f.references == own), None)

    def creates(self, side: Side | str) -> bool:
        """Whether this flow creates a record on ``side`` for a record with no link yet."""
        return Side(side) in self.creates_on

    def counterpart_field(self, side: Side | str, name: str) -> str | None:
        """The other side's field holding the same value as ``side``'s field ``name``."""
        if Side(side) is Side.ASANA:
            return self.same_values.get(name)
        return next((a for a, c in self.same_values.items() if c == name), None)

    def pick(self, side: Side | str, record: Mapping[str, Any]) -> dict[str, Any]:
        """The synced fields of ``side`` present in ``record`` (e.g. to store as a snapshot)."""
        fields = self.fields(side)
        return {name: value for name, value in record.items() if name in fields}

    def __str__(self) -> str:
        return self.name


def _synced(fields: tuple[Field, ...]) -> Mapping[str, FieldType]:
    return MappingProxyType({f.name: f.type for f in fields if not f.placement})


# --- the declarations ------------------------------------------------------------------------

A, C = Side.ASANA, Side.CUSTOMPMS
F = Field
READ_ONLY, CREATE_ONLY, REFUSED = Access.READ_ONLY, Access.CREATE_ONLY, Access.REFUSED

_PERMALINK = F("permalink_url", T.OPTIONAL_TEXT, READ_ONLY, why="Asana's own link to the record")
_BY_EMAIL = "users matched by email; an email with no Asana user is left out and reported"


def _project_fields() -> tuple[Field, ...]:
    return (
        F("customer_id", T.ID, references="customer"),
        F("name", T.TEXT),
        F("description", T.OPTIONAL_TEXT),
        F("status", T.PROJECT_STATUS),
        F("start_date", T.DATE),
        F("end_date", T.DATE),
        F("owner_email", T.EMAIL),
        F("url", T.OPTIONAL_TEXT),
    )


#: The five flows, in order.
FLOWS: tuple[Flow, ...] = (
    Flow(
        1,
        "workspace_customer",
        "workspace",
        "customer",
        asana=(
            F("name", T.TEXT),
            F(
                "email_domains",
                T.DOMAIN_SET,
                READ_ONLY,
                why="Asana cannot change a workspace's email domains",
            ),
        ),
        custompms=(F("name", T.TEXT), F("email_domains", T.DOMAIN_SET)),
        rows=(
            Row("name", "name", "Asana lets a client change nothing else on a workspace"),
            Row(
                "email_domains",
                "email_domains",
                custompms_type="array of strings (compared as a case-insensitive set)",
            ),
        ),
        creates_on=frozenset({C}),
        creates_note="Asana cannot create a workspace: a new customer becomes a team (flow 2)",
        not_synced=(
            "customer ``description``, ``parent_id`` and ``url``: a workspace is a top-level "
            "customer, and Asana has no description or URL for a workspace",
            "``is_organization``: no counterpart in Custompms",
        ),
    ),
    Flow(
        2,
        "team_customer",
        "team",
        "customer",
        asana=(
            F("name", T.TEXT),
            F("description", T.OPTIONAL_TEXT),
            F(
                "organization",
                T.ID,
                CREATE_ONLY,
                references="workspace",
                why="Asana cannot move a team to another organization",
            ),
            _PERMALINK,
        ),
        custompms=(
            F("name", T.TEXT),
            F("description", T.OPTIONAL_TEXT),
            F("parent_id", T.ID, references="customer"),
            F("url", T.OPTIONAL_TEXT),
        ),
        rows=(
            Row("name", "name"),
            Row(
                "description",
                "description",
                "a rich description is written as ``html_description``, formatting kept",
            ),
            Row(
                "organization",
                "parent_id",
                "the workspace's customer (a new team goes to the parent's workspace, else "
                "``workspace_gid``)",
                asana_label="``organization.gid``",
            ),
            Row("permalink_url", "url"),
        ),
        not_synced=(
            "``visibility``: Asana access control, no counterpart in Custompms",
            "customer ``email_domains``: a team has none",
            "timestamps: Asana teams carry none, so a conflict on a team goes to Custompms "
            "under ``newer_wins``",
        ),
    ),
    Flow(
        3,
        "project_project",
        "project",
        "project",
        asana=(
            F(
                "team",
                T.ID,
                CREATE_ONLY,
                references="team",
                why="Asana cannot move a project to another team",
            ),
            F("name", T.TEXT),
            F("notes", T.OPTIONAL_TEXT),
            F("archived", T.BOOLEAN),
            F(
                "completed",
                T.BOOLEAN,
                REFUSED,
                why="a project's completed is read-only in Asana's API",
            ),
            F("start_on", T.DATE),
            F("due_on", T.DATE),
            F("owner", T.EMAIL, read_from=("owner.email",)),
            _PERMALINK,
            # A customer that is a workspace gives no team: the project is created in that
            # workspace.
            F("organization", T.ID, CREATE_ONLY, references="workspace", placement=True),
        ),
        custompms=_project_fields(),
        rows=(
            Row(
                "team",
                "customer_id",
                "the team's customer, else the workspace's (a workspace customer gives a "
                "project in that workspace)",
                asana_label="``team.gid``, else ``workspace.gid``",
            ),
            Row("name", "name"),
            Row("notes", "description", "a rich description is written as ``html_notes``"),
            Row(
                "archived",
                "status",
                "``archived`` if archived, else ``completed`` if completed, else ``active``",
                custompms_type="``planned`` | ``active`` | ``completed`` | ``archived``",
            ),
            Row(
                "completed",
                "status",
                "Custompms ``planned`` compares equal to ``active``, so Asana never resets a "
                "planned project",
                custompms_type="``planned`` | ``active`` | ``completed`` | ``archived``",
            ),
            Row("start_on", "start_date", "dates stay dates"),
            Row("due_on", "end_date"),
            Row("owner", "owner_email", _BY_EMAIL, asana_label="``owner.email``"),
            Row("permalink_url", "url"),
        ),
        not_synced=(
            "``color``, ``default_view``, ``privacy_setting``, ``current_status`` (status "
            "updates), ``custom_fields``, members and followers: Custompms has none of them",
            "``completed_at``: Custompms projects keep no completion time",
        ),
    ),
    Flow(
        4,
        "board_task_project",
        "task",
        "project",
        asana=(
            F("name", T.TEXT),
            F("notes", T.OPTIONAL_TEXT),
            F("completed", T.BOOLEAN),
            F("start_on", T.DATE),
            F("due_on", T.DATE),
            F("assignee", T.EMAIL, read_from=("assignee.email",)),
            _PERMALINK,
        ),
        custompms=_project_fields(),
        rows=(
            Row(
                None,
                "customer_id",
                "the customer of the board's own Custompms project",
                asana_label="the board (``memberships[].project.gid``)",
            ),
            Row("name", "name"),
            Row("notes", "description", "a rich description is written as ``html_notes``"),
            Row(
                "completed",
                "status",
                "``completed`` if completed, else ``active``; a task cannot be archived "
                "(``archived`` is written as completed)",
                custompms_type="``planned`` | ``active`` | ``completed`` | ``archived``",
            ),
            Row("start_on", "start_date"),
            Row("due_on", "end_date", "``due_on``, else the date of ``due_at``"),
            Row("assignee", "owner_email", _BY_EMAIL, asana_label="``assignee.email``"),
            Row("permalink_url", "url"),
        ),
        creates_on=frozenset({C}),
        creates_note="a new Custompms project becomes an Asana project (flow 3), not a task",
        not_synced=(
            "the board section (column), tags, followers and custom fields: Custompms "
            "projects have none of them",
            "the board task's subtasks are flow-5 tasks of this project",
        ),
    ),
    Flow(
        5,
        "task_task",
        "task",
        "task",
        asana=(
            # The task's home project: Asana keeps it in ``memberships``/``projects``; the
            # target sets it on create (``projects: [gid]``) and moves it with addProject.
            F(
                "project",
                T.ID,
                references="project",
                read_from=("memberships.project", "projects"),
            ),
            F("parent", T.ID, references="task"),
            F("name", T.TEXT),
            F("notes", T.OPTIONAL_TEXT),
            F("completed", T.BOOLEAN),
            F("completed_at", T.DATETIME, READ_ONLY, why="Asana sets it when a task is completed"),
            F("start_on", T.DATE),
            F("due_on", T.DATE),
            F("assignee", T.EMAIL, read_from=("assignee.email",)),
        ),
        custompms=(
            F("project_id", T.ID, references="project"),
            F("parent_task_id", T.ID, references="task"),
            F("name", T.TEXT),
            F("description", T.OPTIONAL_TEXT),
            F("status", T.ENUM),
            F("start_date", T.DATE),
            F("due_date", T.DATE),
            F("assignee_email", T.EMAIL),
            F("completed_at", T.DATETIME),
        ),
        rows=(
            Row(
                "project",
                "project_id",
                "a top-level task's first project; a subtask's ``project_id`` is its "
                "parent's project; a task under a board task becomes its subtask",
                asana_label="first ``memberships[].project.gid``",
            ),
            Row(
                "parent",
                "parent_task_id",
                "null when the parent is a board task (which is the project)",
                asana_label="``parent.gid``",
            ),
            Row("name", "name"),
            Row(
                "notes",
                "description",
                "whitespace kept; empty and null are the same; rich notes as ``html_notes``",
            ),
            Row(
                "completed",
                "status",
                "``done`` if completed, else ``open``",
                custompms_type="``open`` | ``done``",
            ),
            Row("start_on", "start_date", "a start date is sent with the due date"),
            Row("due_on", "due_date", "``due_on``, else the date of ``due_at``"),
            Row("assignee", "assignee_email", _BY_EMAIL, asana_label="``assignee.email``"),
            Row("completed_at", "completed_at", "Asana sets it"),
        ),
        not_synced=(
            "the time of day of ``due_at`` / ``start_at``: Custompms keeps dates",
            "extra projects of a multi-homed task: Custompms has one project per task (the first)",
            "sections, tags, followers, ``html_notes`` (its edits keep the formatting), "
            "custom fields, ``approval_status``, ``resource_subtype`` (milestones and "
            "approvals become plain tasks), ``completed_by``",
        ),
    ),
)

#: Not synced by any flow, and why.
NOT_SYNCED_AT_ALL = (
    "``users``: Custompms has no people; a user appears as the email in ``owner_email`` "
    "and ``assignee_email``",
    "Asana portfolios, goals, comments (stories) and attachments",
)

_BY_KEY: dict[object, Flow] = {key: flow for flow in FLOWS for key in (flow.number, flow.name)}


def get_flow(key: Flow | int | str) -> Flow:
    """The flow for a number (``1``-``5``, also ``"5"``), a name (``"task_task"``) or a Flow."""
    if isinstance(key, Flow):
        return key
    if isinstance(key, str) and key.isdigit():
        key = int(key)
    try:
        return _BY_KEY[key]
    except (KeyError, TypeError):
        known = ", ".join(f"{flow.number}/{flow.name}" for flow in FLOWS)
        raise ValueError(f"unknown flow {key!r} (known: {known})") from None


def flow_for(asana_type: str, custompms_type: str) -> Flow:
    """The flow linking ``asana_type`` to ``custompms_type`` (e.g. task + project -> flow 4)."""
    for flow in FLOWS:
        if (flow.asana_type, flow.custompms_type) == (asana_type, custompms_type):
            return flow
    raise ValueError(f"no flow links asana {asana_type!r} to custompms {custompms_type!r}")


# --- derived per side ------------------------------------------------------------------------


def reference_fields(side: Side | str) -> Mapping[str, str]:
    """The reference fields of ``side`` and the record type each names, over every flow."""
    side = Side(side)
    references = {
        f.name: f.references for flow in FLOWS for f in flow.declared(side) if f.references
    }
    return MappingProxyType(references)


def unwritable(side: Side | str) -> Mapping[tuple[str, str], Field]:
    """The synced fields of ``side`` the other direction cannot change, per (record type,
    field): create-only, refused and read-only ones (each with why)."""
    side = Side(side)
    return MappingProxyType(
        {
            (flow.record_type(side), f.name): f
            for flow in FLOWS
            for f in flow.declared(side)
            if f.access is not Access.WRITABLE and not f.placement and f.why
        }
    )


def fields_of(side: Side | str, record_type: str) -> tuple[Field, ...]:
    """The synced fields of a record type of ``side`` over every flow of that type, once each."""
    side = Side(side)
    found: dict[str, Field] = {}
    for flow in FLOWS:
        if flow.record_type(side) == record_type:
            for f in flow.declared(side):
                if not f.placement:
                    found.setdefault(f.name, f)
    return tuple(found.values())


def read_fields(side: Side | str, record_type: str) -> tuple[str, ...]:
    """What to read of a record type of ``side``: its synced fields (as read, e.g.
    ``owner.email``) and the record type's other fields (Asana's ``opt_fields``)."""
    side = Side(side)
    names = [f.read_from[0] if f.read_from else f.name for f in fields_of(side, record_type)]
    return tuple(dict.fromkeys([*names, *RECORD_TYPES[side][record_type].also_read]))
