"""The three resources: their models, storage columns and reference rules, in one table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel

from custompms import models


@dataclass(frozen=True)
class Resource:
    """Everything the store and the routes need to know about one resource."""

    name: str
    """URL segment and SQLite table name, e.g. ``customers``."""
    singular: str
    record: type[models._Record]
    create: type[BaseModel]
    patch: type[BaseModel]
    bulk_item: type[BaseModel]
    references: Mapping[str, str] = field(default_factory=dict)
    """Field -> resource it must name (an existing, non-deleted record)."""
    hierarchy: str | None = None
    """Self-reference forming a tree (parent_id): writes may not create a cycle."""
    json_fields: frozenset[str] = frozenset()
    """Fields stored as JSON text (lists)."""

    @property
    def writable(self) -> tuple[str, ...]:
        """Writable fields, in contract order."""
        return tuple(self.patch.model_fields)


CUSTOMERS = Resource(
    name="customers",
    singular="customer",
    record=models.Customer,
    create=models.CustomerCreate,
    patch=models.CustomerPatch,
    bulk_item=models.CustomerBulkItem,
    references={"parent_id": "customers"},
    hierarchy="parent_id",
    json_fields=frozenset({"email_domains"}),
)
PROJECTS = Resource(
    name="projects",
    singular="project",
    record=models.Project,
    create=models.ProjectCreate,
    patch=models.ProjectPatch,
    bulk_item=models.ProjectBulkItem,
    references={"customer_id": "customers"},
)
TASKS = Resource(
    name="tasks",
    singular="task",
    record=models.Task,
    create=models.TaskCreate,
    patch=models.TaskPatch,
    bulk_item=models.TaskBulkItem,
    references={"project_id": "projects", "parent_task_id": "tasks"},
    hierarchy="parent_task_id",
)

RESOURCES: dict[str, Resource] = {r.name: r for r in (CUSTOMERS, PROJECTS, TASKS)}
