"""The five flows: which record types they link and which fields they sync, per side.

The field *mapping* lives in meltano.yml (SDK stream maps); this module only says which
fields each side syncs and their types, so diff and merge compare them correctly. Field
names are each system's own: Asana's API names, the Custompms contract's names. Reference
fields (``ID``) hold destination keys once resolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from talk_sync.normalize import FieldType
from talk_sync.refs import Side

T = FieldType


@dataclass(frozen=True)
class Flow:
    """One flow: an Asana record type linked to a Custompms record type."""

    number: int
    name: str
    asana_type: str
    custompms_type: str
    asana_fields: Mapping[str, FieldType] = field(repr=False)
    custompms_fields: Mapping[str, FieldType] = field(repr=False)
    #: Fields that hold the same value on both sides, Asana name -> Custompms name (plain
    #: values only: references hold each side's own keys).
    same_values: Mapping[str, str] = field(default_factory=dict, repr=False)

    def record_type(self, side: Side | str) -> str:
        """This flow's record type on ``side``."""
        return self.asana_type if Side(side) is Side.ASANA else self.custompms_type

    def fields(self, side: Side | str) -> Mapping[str, FieldType]:
        """The synced fields and their types on ``side``."""
        return self.asana_fields if Side(side) is Side.ASANA else self.custompms_fields

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


def _fields(**types: FieldType) -> Mapping[str, FieldType]:
    return MappingProxyType(types)


def _same(**pairs: str) -> Mapping[str, str]:
    return MappingProxyType(pairs)


_PROJECT_FIELDS = _fields(
    customer_id=T.ID,
    name=T.TEXT,
    description=T.OPTIONAL_TEXT,
    status=T.PROJECT_STATUS,
    start_date=T.DATE,
    end_date=T.DATE,
    owner_email=T.EMAIL,
    url=T.OPTIONAL_TEXT,
)

#: Project fields holding the same value in Asana (projects and board tasks) and Custompms.
_PROJECT_VALUES = {
    "name": "name",
    "notes": "description",
    "start_on": "start_date",
    "due_on": "end_date",
    "permalink_url": "url",
}

#: The five flows of DESIGN.md §1, in order.
FLOWS: tuple[Flow, ...] = (
    Flow(
        1,
        "workspace_customer",
        "workspace",
        "customer",
        asana_fields=_fields(name=T.TEXT, email_domains=T.DOMAIN_SET),
        custompms_fields=_fields(name=T.TEXT, email_domains=T.DOMAIN_SET),
        same_values=_same(name="name", email_domains="email_domains"),
    ),
    Flow(
        2,
        "team_customer",
        "team",
        "customer",
        asana_fields=_fields(
            name=T.TEXT,
            description=T.OPTIONAL_TEXT,
            organization=T.ID,
            permalink_url=T.OPTIONAL_TEXT,
        ),
        custompms_fields=_fields(
            name=T.TEXT, description=T.OPTIONAL_TEXT, parent_id=T.ID, url=T.OPTIONAL_TEXT
        ),
        same_values=_same(name="name", description="description", permalink_url="url"),
    ),
    Flow(
        3,
        "project_project",
        "project",
        "project",
        asana_fields=_fields(
            team=T.ID,
            name=T.TEXT,
            notes=T.OPTIONAL_TEXT,
            archived=T.BOOLEAN,
            completed=T.BOOLEAN,
            start_on=T.DATE,
            due_on=T.DATE,
            owner=T.EMAIL,
            permalink_url=T.OPTIONAL_TEXT,
        ),
        custompms_fields=_PROJECT_FIELDS,
        same_values=_same(**_PROJECT_VALUES, owner="owner_email"),
    ),
    Flow(
        4,
        "board_task_project",
        "task",
        "project",
        asana_fields=_fields(
            name=T.TEXT,
            notes=T.OPTIONAL_TEXT,
            completed=T.BOOLEAN,
            start_on=T.DATE,
            due_on=T.DATE,
            assignee=T.EMAIL,
            permalink_url=T.OPTIONAL_TEXT,
        ),
        custompms_fields=_PROJECT_FIELDS,
        same_values=_same(**_PROJECT_VALUES, assignee="owner_email"),
    ),
    Flow(
        5,
        "task_task",
        "task",
        "task",
        asana_fields=_fields(
            # The task's home project: Asana keeps it in ``memberships``/``projects``; the
            # target sets it on create (``projects: [gid]``) and moves it with addProject.
            project=T.ID,
            parent=T.ID,
            name=T.TEXT,
            notes=T.OPTIONAL_TEXT,
            completed=T.BOOLEAN,
            completed_at=T.DATETIME,
            start_on=T.DATE,
            due_on=T.DATE,
            assignee=T.EMAIL,
        ),
        custompms_fields=_fields(
            project_id=T.ID,
            parent_task_id=T.ID,
            name=T.TEXT,
            description=T.OPTIONAL_TEXT,
            status=T.ENUM,
            start_date=T.DATE,
            due_date=T.DATE,
            assignee_email=T.EMAIL,
            completed_at=T.DATETIME,
        ),
        same_values=_same(
            name="name",
            notes="description",
            start_on="start_date",
            due_on="due_date",
            assignee="assignee_email",
            completed_at="completed_at",
        ),
    ),
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
