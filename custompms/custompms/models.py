"""Request and response models of the Custompms contract.

Each resource has four shapes:

- ``<R>Create``: the body of ``POST /api/v1/<r>`` (required fields required);
- ``<R>Patch``: the body of ``PATCH /api/v1/<r>/{id}`` (every field optional);
- ``<R>BulkItem``: one item of ``POST /api/v1/<r>/bulk`` (patch fields plus ``id``/``version``);
- ``<R>``: the record the server returns (every field present, server fields included).

Ids and text are strict (no silent coercion of ``"5"`` to ``5``), dates must be ISO text, and
models forbid unknown fields, so a typo
in a client is a 422 naming the field rather than a silently ignored value. Fields that may not
be null take ``None`` as their "absent" default in the patch shapes; an explicit ``null`` is
still rejected because the default is never validated.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from enum import Enum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictInt,
    StringConstraints,
)

MAX_BULK_RECORDS = 1000
"""Largest number of records accepted by one bulk call (and largest page size)."""


def _storable(value: str) -> str:
    # JSON can carry lone surrogates ("\ud800") that no UTF-8 database can store.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _iso_date_text(value: object) -> object:
    # Lax parsing would also take numbers (and numeric strings) as Unix times.
    if not (isinstance(value, str) and _ISO_DATE.match(value)):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


def _rfc3339_text(value: object) -> object:
    if not (isinstance(value, str) and _RFC3339.match(value)):
        raise ValueError("must be an RFC 3339 timestamp with an offset")
    return value


def _text(**constraints: Any) -> Any:
    """A strict string type with length/pattern constraints, storable in SQLite."""
    return Annotated[str, Strict(), StringConstraints(**constraints), AfterValidator(_storable)]


Name = _text(min_length=1, max_length=500)
Description = _text(max_length=100_000)
Url = _text(min_length=1, max_length=2048)
Email = _text(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
Domain = _text(min_length=1, max_length=253)
ExternalId = _text(min_length=1, max_length=255)
IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]
UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_utc)]
"""A moment with an explicit offset, normalised to UTC."""
RecordId = Annotated[int, Strict(), Field(ge=1, le=2**63 - 1)]
"""Server-assigned ids are SQLite rowids: positive 64-bit integers."""
Timestamp = Annotated[
    str,
    Field(
        description="RFC 3339 UTC timestamp with microseconds, e.g. 2026-11-25T23:10:00.123456Z.",
        json_schema_extra={"format": "date-time"},
    ),
]


class ProjectStatus(str, Enum):
    """Lifecycle of a project."""

    PLANNED = "planned"
    ACTIVE = "active"
    COMPLETED = "completed"
    ARCHIVED = "archived"


class TaskStatus(str, Enum):
    """Whether a task is finished."""

    OPEN = "open"
    DONE = "done"


def _drop_null_defaults(schema: dict[str, Any]) -> None:
    # A patch field left out means "unchanged", not null: `"default": null` on a field that
    # may not be null would tell generated clients the opposite.
    for prop in schema.get("properties", {}).values():
        nullable = any(option.get("type") == "null" for option in prop.get("anyOf", []))
        if "default" in prop and prop["default"] is None and not nullable:
            del prop["default"]


class _Input(BaseModel):
    """Base of every request body: closed (unknown fields are errors)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_drop_null_defaults)


# --- writable fields, all optional (PATCH shape) -------------------------------------------------


class CustomerPatch(_Input):
    """Writable customer fields; send only those to change."""

    external_id: ExternalId | None = Field(
        default=None, description="Client-chosen key, unique among all customers (tombstones too)."
    )
    name: Name = Field(default=None, description="Display name (1-500 characters).")
    description: Description | None = None
    parent_id: RecordId | None = Field(default=None, description="Id of the parent customer.")
    email_domains: list[Domain] = Field(
        default=None, max_length=100, description="Mail domains of the customer's people."
    )
    url: Url | None = None


class ProjectPatch(_Input):
    """Writable project fields; send only those to change."""

    external_id: ExternalId | None = Field(
        default=None, description="Client-chosen key, unique among all projects (tombstones too)."
    )
    customer_id: RecordId = Field(default=None, description="Id of the owning customer.")
    name: Name = Field(default=None, description="Display name (1-500 characters).")
    description: Description | None = None
    status: ProjectStatus = Field(default=None, description="Lifecycle status.")
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None
    owner_email: Email | None = None
    url: Url | None = None


class TaskPatch(_Input):
    """Writable task fields; send only those to change."""

    external_id: ExternalId | None = Field(
        default=None, description="Client-chosen key, unique among all tasks (tombstones too)."
    )
    project_id: RecordId = Field(default=None, description="Id of the project the task is in.")
    parent_task_id: RecordId | None = Field(
        default=None, description="Id of the parent task (subtasks); any project."
    )
    name: Name = Field(default=None, description="Display name (1-500 characters).")
    description: Description | None = None
    status: TaskStatus = Field(default=None, description="open or done.")
    start_date: IsoDate | None = None
    due_date: IsoDate | None = None
    assignee_email: Email | None = None
    completed_at: UtcDatetime | None = Field(
        default=None, description="When the task was completed (RFC 3339 with offset)."
    )


# --- create shapes: required fields required, defaults filled -------------------------------------


class CustomerCreate(CustomerPatch):
    """Body of a customer create."""

    name: Name = Field(description="Display name (1-500 characters).")
    email_domains: list[Domain] = Field(
        default_factory=list, max_length=100, description="Mail domains of the customer's people."
    )


class ProjectCreate(ProjectPatch):
    """Body of a project create."""

    customer_id: RecordId = Field(description="Id of the owning customer.")
    name: Name = Field(description="Display name (1-500 characters).")
    status: ProjectStatus = Field(default=ProjectStatus.ACTIVE, description="Lifecycle status.")


class TaskCreate(TaskPatch):
    """Body of a task create."""

    project_id: RecordId = Field(description="Id of the project the task is in.")
    name: Name = Field(description="Display name (1-500 characters).")
    status: TaskStatus = Field(default=TaskStatus.OPEN, description="open or done.")


# --- bulk items -----------------------------------------------------------------------------------


class _BulkKeys(BaseModel):
    """How a bulk item finds the record it updates, and its optimistic-concurrency check."""

    id: RecordId | None = Field(
        default=None,
        description="Update this record. Without it the item upserts by external_id, "
        "or creates when neither is given.",
    )
    version: StrictInt | None = Field(
        default=None, description="Expected current version; a mismatch fails the item with 412."
    )


class CustomerBulkItem(CustomerPatch, _BulkKeys):
    """One customer to upsert."""


class ProjectBulkItem(ProjectPatch, _BulkKeys):
    """One project to upsert."""


class TaskBulkItem(TaskPatch, _BulkKeys):
    """One task to upsert."""


# --- records as returned ---------------------------------------------------------------------


class _Record(BaseModel):
    """Fields every record carries; all server-set except external_id."""

    id: int = Field(description="Assigned by the server on create; never reused.")
    external_id: str | None = Field(
        description="Client-chosen key, unique within the resource among all records."
    )
    created_at: Timestamp
    updated_at: Timestamp = Field(description="Strictly increasing within the resource.")
    version: int = Field(description="1 on create, +1 on each change.")
    deleted_at: Timestamp | None = Field(description="Set when the record is deleted (tombstone).")


class Customer(_Record):
    """A customer as stored."""

    name: str
    description: str | None
    parent_id: int | None
    email_domains: list[str]
    url: str | None


class Project(_Record):
    """A project as stored."""

    customer_id: int
    name: str
    description: str | None
    status: ProjectStatus
    start_date: date | None
    end_date: date | None
    owner_email: str | None
    url: str | None


class Task(_Record):
    """A task as stored."""

    project_id: int
    parent_task_id: int | None
    name: str
    description: str | None
    status: TaskStatus
    start_date: date | None
    due_date: date | None
    assignee_email: str | None
    completed_at: Timestamp | None


# --- envelopes -------------------------------------------------------------------------------


RecordT = TypeVar("RecordT", bound=_Record)


class BulkStatus(str, Enum):
    """Outcome of one bulk item."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    ERROR = "error"


class ProblemError(BaseModel):
    """One thing at fault: exactly one of field, header or parameter names it."""

    field: str | None = Field(default=None, description="Body field, dotted for nested values.")
    header: str | None = None
    parameter: str | None = Field(default=None, description="Query or path parameter.")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="URI identifying the kind of problem.")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ProblemError] = Field(default_factory=list)
    existing_id: int | None = Field(
        default=None, description="On 409 external_id conflicts: the record holding it."
    )
    current_version: int | None = Field(
        default=None, description="On 412: the record's current version."
    )
    current: dict[str, Any] | None = Field(default=None, description="On 412: the current record.")


class BulkResult(BaseModel, Generic[RecordT]):
    """Outcome of one bulk item, in request order."""

    index: int = Field(description="Position of the item in the request.")
    status: BulkStatus
    id: int | None
    version: int | None
    record: RecordT | None = Field(description="The record after the write; null on error.")
    error: Problem | None = Field(description="Why the item failed; null on success.")

    @classmethod
    def model_parametrized_name(cls, params: tuple[type[Any], ...]) -> str:
        """Name the schema after the record, e.g. ``CustomerBulkResult``."""
        return f"{params[0].__name__}BulkResult"


class BulkResponse(BaseModel, Generic[RecordT]):
    """Per-item results of a bulk upsert."""

    results: list[BulkResult[RecordT]]

    @classmethod
    def model_parametrized_name(cls, params: tuple[type[Any], ...]) -> str:
        """Name the schema after the record, e.g. ``CustomerBulkResponse``."""
        return f"{params[0].__name__}BulkResponse"


class Page(BaseModel, Generic[RecordT]):
    """One page of records ordered by (updated_at, id)."""

    data: list[RecordT]
    next_cursor: str | None = Field(
        description="Pass as cursor to get the next page; null when nothing is left."
    )

    @classmethod
    def model_parametrized_name(cls, params: tuple[type[Any], ...]) -> str:
        """Name the schema after the record, e.g. ``CustomerPage``."""
        return f"{params[0].__name__}Page"


class Health(BaseModel):
    """Liveness answer."""

    status: str = "ok"
