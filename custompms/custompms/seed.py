"""Named sample datasets for demos and tests, loaded idempotently.

``sample`` (the default): 3 customers, 3 projects and 6 tasks. Every sample record carries
an ``external_id`` starting with ``seed:``.

``demo``: ``sample`` plus records that Asana's ``demo`` seed (asana-sandbox) holds too, as
a team already using both systems would have them: the customer "Acme Consulting" (the
Asana organization) and its child "Operations" (an Asana team), Operations' project
"Hiring" and three of its tasks, one with another due date than in Asana. These carry no
``external_id``: the first sync adopts them (links them to their Asana twins) instead of
duplicating them.

``overlap``: what Asana's ``overlap`` seed holds, mostly, under names spelt alike (case,
whitespace), plus records only Custompms has; no ``external_id`` at all. Its records are
created at 2026-06-01T00:00:00Z (``updated_at`` too): between the two timestamps Asana's
``overlap`` records carry, so a newer-wins policy picks either side. What the first sync
must make of it is written down in ``tests/test_first_sync_adoption.py`` (``EXPECTED``).

Seeding creates only the records that are missing, so running it twice (or on a database in
use) changes nothing twice, and never overwrites edits made since: a record with an
``external_id`` is found by it; one without, by its name in its container (the same parent
customer; the same customer; the same project and parent task).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from custompms.resources import CUSTOMERS, PROJECTS, TASKS, Resource
from custompms.storage import Clock, to_micros
from custompms.store import Record, Store, _Write

#: A seed record: (key, fields). References in ``fields`` name other records of the seed by
#: key. A key starting with :data:`EXTERNAL_ID_PREFIX` is also the record's ``external_id``
#: (the sample's records); any other key only names the record within the seed, which then
#: carries no ``external_id``, like a record a person typed in.
Entry = tuple[str, dict[str, Any]]
EXTERNAL_ID_PREFIX = "seed:"

# (external_id, fields); references name other sample records by external_id.
SAMPLE: dict[str, list[Entry]] = {
    "customers": [
        (
            "seed:customer:acme",
            {
                "name": "Acme Corporation",
                "description": "Industrial supplies, long-standing account.",
                "email_domains": ["acme.example"],
                "url": "https://acme.example",
            },
        ),
        (
            "seed:customer:acme-eu",
            {
                "name": "Acme Europe",
                "parent_id": "seed:customer:acme",
                "email_domains": ["acme.example", "acme-eu.example"],
            },
        ),
        ("seed:customer:globex", {"name": "Globex", "email_domains": ["globex.example"]}),
    ],
    "projects": [
        (
            "seed:project:acme-portal",
            {
                "customer_id": "seed:customer:acme",
                "name": "Customer portal relaunch",
                "status": "active",
                "start_date": "2026-09-01",
                "end_date": "2026-12-18",
                "owner_email": "dana@acme.example",
            },
        ),
        (
            "seed:project:acme-eu-gdpr",
            {
                "customer_id": "seed:customer:acme-eu",
                "name": "GDPR data audit",
                "status": "planned",
                "start_date": "2027-01-11",
            },
        ),
        (
            "seed:project:globex-erp",
            {
                "customer_id": "seed:customer:globex",
                "name": "ERP migration",
                "status": "completed",
                "start_date": "2026-03-02",
                "end_date": "2026-08-28",
                "owner_email": "hank@globex.example",
            },
        ),
    ],
    "tasks": [
        (
            "seed:task:portal-design",
            {
                "project_id": "seed:project:acme-portal",
                "name": "Design review",
                "status": "done",
                "due_date": "2026-10-02",
                "assignee_email": "dana@acme.example",
                "completed_at": "2026-10-01T15:30:00Z",
            },
        ),
        (
            "seed:task:portal-build",
            {
                "project_id": "seed:project:acme-portal",
                "name": "Build the login flow",
                "description": "SSO first, passwords as fallback.",
                "start_date": "2026-10-05",
                "due_date": "2026-11-27",
                "assignee_email": "lee@acme.example",
            },
        ),
        (
            "seed:task:portal-build-sso",
            {
                "project_id": "seed:project:acme-portal",
                "parent_task_id": "seed:task:portal-build",
                "name": "SAML integration",
                "due_date": "2026-11-20",
            },
        ),
        (
            "seed:task:portal-build-tests",
            {
                "project_id": "seed:project:acme-portal",
                "parent_task_id": "seed:task:portal-build",
                "name": "End-to-end tests for login",
            },
        ),
        (
            "seed:task:gdpr-inventory",
            {
                "project_id": "seed:project:acme-eu-gdpr",
                "name": "Inventory personal data stores",
            },
        ),
        (
            "seed:task:erp-cutover",
            {
                "project_id": "seed:project:globex-erp",
                "name": "Cut-over weekend",
                "status": "done",
                "due_date": "2026-08-22",
                "completed_at": "2026-08-23T09:12:00+02:00",
            },
        ),
    ],
}


#: Records Asana's ``demo`` seed holds too (its organization, the Operations team, its
#: "Hiring" project and three of its tasks), with the values Asana has, except the due date
#: of "Onboarding checklist" (2026-02-24 in Asana). No ``external_id``.
DEMO_OVERLAP: dict[str, list[Entry]] = {
    "customers": [
        (
            "demo:customer:acme-consulting",
            {"name": "Acme Consulting", "email_domains": ["acme-consulting.example"]},
        ),
        (
            "demo:customer:operations",
            {
                "name": "Operations",
                "parent_id": "demo:customer:acme-consulting",
                "description": "The operations team",
            },
        ),
    ],
    "projects": [
        (
            "demo:project:hiring",
            {
                "customer_id": "demo:customer:operations",
                "name": "Hiring",
                "status": "active",
                "end_date": "2026-06-04",
                "owner_email": "alex.morgan@acme-consulting.example",
            },
        ),
    ],
    "tasks": [
        (
            "demo:task:designer-intern",
            {
                "project_id": "demo:project:hiring",
                "name": "Designer intern",
                "description": "Designer intern for Hiring.",
                "start_date": "2026-01-30",
                "due_date": "2026-02-14",
                "assignee_email": "marco.rossi@acme-consulting.example",
            },
        ),
        (
            "demo:task:onboarding-checklist",
            {
                "project_id": "demo:project:hiring",
                "name": "Onboarding checklist",
                "description": "Onboarding checklist for Hiring.",
                "due_date": "2026-03-03",
                "assignee_email": "tom.becker@acme-consulting.example",
            },
        ),
        (
            "demo:task:interview-training",
            {
                "project_id": "demo:project:hiring",
                "name": "Interview training",
                "description": "Interview training for Hiring.",
                "due_date": "2026-03-05",
                "assignee_email": "priya.shah@acme-consulting.example",
            },
        ),
    ],
}

_ALEX, _PRIYA, _TOM = (
    f"{name}@northwind.example" for name in ("alex.morgan", "priya.shah", "tom.becker")
)

#: The Custompms side of the first sync on live data; Asana's side is asana-sandbox's
#: ``overlap`` seed. No ``external_id``.
OVERLAP: dict[str, list[Entry]] = {
    "customers": [
        (
            "overlap:customer:northwind",
            {"name": "Northwind Consulting", "email_domains": ["northwind.example"]},
        ),
        (
            "overlap:customer:globex",
            {
                "name": "GLOBEX",  # Asana: "Globex"
                "parent_id": "overlap:customer:northwind",
                "description": "Globex account team",
            },
        ),
        (
            "overlap:customer:initech",
            {
                "name": "Initech",
                "parent_id": "overlap:customer:northwind",
                "description": "Initech account team",
            },
        ),
        (
            "overlap:customer:soylent",  # only in Custompms
            {
                "name": "Soylent",
                "parent_id": "overlap:customer:northwind",
                "description": "Soylent account team",
            },
        ),
    ],
    "projects": [
        (
            "overlap:project:erp",
            {
                "customer_id": "overlap:customer:globex",
                "name": "ERP Migration",  # Asana: "ERP migration"
                "end_date": "2026-12-18",
                "owner_email": _ALEX,
            },
        ),
        (
            "overlap:project:support",  # only in Custompms
            {
                "customer_id": "overlap:customer:globex",
                "name": "Support contract",
                "end_date": "2027-06-30",
                "owner_email": _TOM,
            },
        ),
        (
            "overlap:project:reporting",
            {
                "customer_id": "overlap:customer:initech",
                "name": "Reporting revamp",
                "end_date": "2026-12-15",  # Asana: 2026-12-31
                "owner_email": _PRIYA,
            },
        ),
        (
            "overlap:project:board",  # Asana's "Client projects" board itself
            {
                "customer_id": "overlap:customer:initech",
                "name": "Client projects",
                "description": "One card per client engagement.",
                "owner_email": _ALEX,
            },
        ),
        (
            "overlap:project:payroll",  # a card of that board in Asana
            {
                "customer_id": "overlap:customer:initech",
                "name": "Initech: Payroll upgrade",
                "description": "Payroll system upgrade for Initech.",
                "start_date": "2026-07-01",
                "end_date": "2026-10-30",
                "owner_email": _PRIYA,
            },
        ),
        (
            "overlap:project:green",  # only in Custompms
            {
                "customer_id": "overlap:customer:soylent",
                "name": "Green launch",
                "end_date": "2026-12-01",
                "owner_email": _ALEX,
            },
        ),
    ],
    "tasks": [
        (
            "overlap:task:kickoff",
            {
                "project_id": "overlap:project:erp",
                "name": "Kickoff meeting",
                "due_date": "2026-07-01",
                "assignee_email": _ALEX,
            },
        ),
        (
            "overlap:task:mapping",
            {
                "project_id": "overlap:project:erp",
                "name": "Data mapping",
                "description": "Map the legacy tables to the new schema.",
                "due_date": "2026-10-01",  # Asana: 2026-10-15
                "assignee_email": _PRIYA,
            },
        ),
        (
            "overlap:task:customer-table",
            {
                "project_id": "overlap:project:erp",
                "parent_task_id": "overlap:task:mapping",
                "name": "Customer table",
                "due_date": "2026-09-15",
                "assignee_email": _PRIYA,
            },
        ),
        (
            "overlap:task:cutover",
            {
                "project_id": "overlap:project:erp",
                "name": "Cut-over plan",
                "description": "Weekend cut-over; rollback by Sunday noon.",  # Asana: "Draft."
                "due_date": "2026-11-20",
                "assignee_email": _ALEX,
            },
        ),
        (
            "overlap:task:training",  # only in Custompms
            {
                "project_id": "overlap:project:erp",
                "name": "User training",
                "due_date": "2026-12-01",
                "assignee_email": _PRIYA,
            },
        ),
        (
            "overlap:task:kpi",
            {
                "project_id": "overlap:project:reporting",
                "name": "KPI  Definitions ",  # Asana: "KPI definitions"
                "due_date": "2026-09-30",
                "assignee_email": _PRIYA,
            },
        ),
        (
            "overlap:task:dashboard",
            {
                "project_id": "overlap:project:reporting",
                "name": "Dashboard mockups",
                "status": "done",  # Asana: not completed
                "due_date": "2026-08-15",
                "assignee_email": _TOM,
            },
        ),
        (
            "overlap:task:review",  # Asana has two tasks named "Review" here
            {
                "project_id": "overlap:project:reporting",
                "name": "Review",
                "description": "Review the KPI definitions with finance.",
                "due_date": "2026-11-20",
                "assignee_email": _PRIYA,
            },
        ),
        (
            "overlap:task:workshop",
            {
                "project_id": "overlap:project:payroll",
                "name": "Requirements workshop",
                "due_date": "2026-07-15",
                "assignee_email": _TOM,
            },
        ),
        (
            "overlap:task:supplier-list",  # only in Custompms
            {
                "project_id": "overlap:project:green",
                "name": "Supplier list",
                "due_date": "2026-10-15",
                "assignee_email": _ALEX,
            },
        ),
    ],
}


@dataclass(frozen=True)
class Seed:
    """A named dataset: its records per resource and, optionally, when they were made."""

    records: Mapping[str, Sequence[Entry]]
    #: RFC 3339: the records' ``created_at`` and ``updated_at`` (a microsecond apart, in
    #: order), as if made then; ``None``: now. Never before the newest record already in the
    #: table, so that ``updated_at`` keeps increasing in commit order.
    created_at: str | None = None


def _joined(*parts: Mapping[str, Sequence[Entry]]) -> dict[str, list[Entry]]:
    return {
        resource.name: [entry for part in parts for entry in part.get(resource.name, ())]
        for resource in (CUSTOMERS, PROJECTS, TASKS)
    }


SEEDS: dict[str, Seed] = {
    "sample": Seed(SAMPLE),
    "demo": Seed(_joined(SAMPLE, DEMO_OVERLAP)),
    "overlap": Seed(OVERLAP, created_at="2026-06-01T00:00:00Z"),
}
DEFAULT_SEED = "sample"

_REFERENCE_FIELDS = ("parent_id", "customer_id", "project_id", "parent_task_id")
#: The fields that place a record, per resource: a record without an ``external_id`` is
#: the one of its name in the same place.
_CONTAINER_FIELDS = {
    "customers": ("parent_id",),
    "projects": ("customer_id",),
    "tasks": ("project_id", "parent_task_id"),
}


def seed(store: Store, name: str = DEFAULT_SEED) -> dict[str, int]:
    """Create the missing records of a named seed; returns how many were created per resource.

    Raises ``KeyError`` naming the known seeds for an unknown name.
    """
    try:
        chosen = SEEDS[name]
    except KeyError:
        raise KeyError(f"unknown seed {name!r}; choose from {', '.join(sorted(SEEDS))}") from None
    at = None
    if chosen.created_at is not None:
        at = to_micros(datetime.fromisoformat(chosen.created_at.replace("Z", "+00:00")))
    ids: dict[str, int] = {}
    created: dict[str, int] = {}
    for resource in (CUSTOMERS, PROJECTS, TASKS):
        created[resource.name] = 0
        for key, fields in chosen.records.get(resource.name, ()):
            values = dict(fields)
            if key.startswith(EXTERNAL_ID_PREFIX):
                values["external_id"] = key
            values = _resolved(resource, values, ids)
            existing = _existing(store, resource, values)
            if existing is None:
                existing = _create(store, resource, values, at)
                created[resource.name] += 1
            ids[key] = existing["id"]
    return created


def _resolved(resource: Resource, fields: Mapping[str, Any], ids: Mapping[str, int]) -> Any:
    # Swap seed references for ids, then validate like any create (defaults included).
    values = {k: ids[v] if k in _REFERENCE_FIELDS else v for k, v in fields.items()}
    return resource.create.model_validate(values).model_dump()


def _existing(store: Store, resource: Resource, values: Mapping[str, Any]) -> Record | None:
    if values.get("external_id") is not None:
        return store.find_by_external_id(resource, values["external_id"])
    place = _CONTAINER_FIELDS[resource.name]
    where = " AND ".join(f"{field} IS ?" for field in ("name", *place))
    with store.db.read() as conn:
        row = conn.execute(
            f"SELECT id FROM {resource.name} WHERE {where} AND deleted_at IS NULL "  # noqa: S608
            "ORDER BY id LIMIT 1",
            (values["name"], *(values.get(field) for field in place)),
        ).fetchone()
    return None if row is None else store.get(resource, row["id"])


class _ClockFrom(Clock):
    """The write clock of a seed made in the past: ``start`` for the first record of a table,
    a microsecond later for each next one, and never before the table's newest record."""

    def __init__(self, conn: sqlite3.Connection, table: str, start: int) -> None:
        super().__init__(conn, table)
        self._start = start

    def tick(self) -> int:
        self._last = max(self._start, self._last + 1)
        return self._last


def _create(store: Store, resource: Resource, values: Mapping[str, Any], at: int | None) -> Record:
    if at is None:
        return store.create(resource, values)[1]
    with store.db.write() as conn:
        write = _Write(conn, resource)
        write.clock = _ClockFrom(conn, resource.name, at)
        return write.insert(values)
