"""A small, realistic sample dataset for demos, loaded idempotently.

Every sample record carries an ``external_id`` starting with ``seed:``; seeding creates only
the ones that are missing, so running it twice (or on a database in use) changes nothing twice,
and never overwrites edits made to the sample records since.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from custompms.resources import CUSTOMERS, PROJECTS, TASKS, Resource
from custompms.store import Store

# (external_id, fields); references name other sample records by external_id.
SAMPLE: dict[str, list[tuple[str, dict[str, Any]]]] = {
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

_REFERENCE_FIELDS = ("parent_id", "customer_id", "project_id", "parent_task_id")


def seed(store: Store) -> dict[str, int]:
    """Create the missing sample records; returns how many were created per resource."""
    ids: dict[str, int] = {}
    created: dict[str, int] = {}
    for resource in (CUSTOMERS, PROJECTS, TASKS):
        created[resource.name] = 0
        for external_id, fields in SAMPLE[resource.name]:
            existing = store.find_by_external_id(resource, external_id)
            if existing is None:
                values = _resolved(resource, {**fields, "external_id": external_id}, ids)
                _, existing, _ = store.create(resource, values)
                created[resource.name] += 1
            ids[external_id] = existing["id"]
    return created


def _resolved(resource: Resource, fields: Mapping[str, Any], ids: Mapping[str, int]) -> Any:
    # Swap sample references for ids, then validate like any create (defaults included).
    values = {k: ids[v] if k in _REFERENCE_FIELDS else v for k, v in fields.items()}
    return resource.create.model_validate(values).model_dump()
