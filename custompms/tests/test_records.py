"""Single-record operations: create, read, patch, delete, and the rules they enforce."""

from __future__ import annotations

import re

import httpx
import pytest

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_create_returns_the_full_record_with_server_fields(api: httpx.Client, make) -> None:
    customer = make.customer(email_domains=["acme.example"], external_id="crm:1")
    response = api.post(
        "/projects",
        json={"customer_id": customer["id"], "name": "Portal", "start_date": "2026-01-05"},
    )
    assert response.status_code == 201
    project = response.json()
    assert response.headers["location"] == f"/api/v1/projects/{project['id']}"
    assert project["status"] == "active"  # the default
    assert project["version"] == 1
    assert project["deleted_at"] is None
    assert project["created_at"] == project["updated_at"]
    assert TIMESTAMP.match(project["updated_at"])
    assert project["start_date"] == "2026-01-05"
    assert project["end_date"] is None
    assert api.get(f"/projects/{project['id']}").json() == project
    assert api.get(f"/customers/{customer['id']}").json()["external_id"] == "crm:1"


def test_task_fields_round_trip_and_timestamps_are_normalised_to_utc(
    api: httpx.Client, make
) -> None:
    project = make.project()
    parent = make.task(project_id=project["id"])
    task = make.task(
        project_id=project["id"],
        parent_task_id=parent["id"],
        status="done",
        due_date="2026-12-01",
        assignee_email="lee@acme.example",
        completed_at="2026-11-30T18:00:00+02:00",
    )
    assert task["parent_task_id"] == parent["id"]
    assert task["status"] == "done"
    assert task["completed_at"] == "2026-11-30T16:00:00.000000Z"


@pytest.mark.parametrize(
    ("resource", "body", "field"),
    [
        ("customers", {}, "name"),
        ("customers", {"name": ""}, "name"),
        ("customers", {"name": "x" * 501}, "name"),
        ("customers", {"name": "A", "parent_id": "1"}, "parent_id"),
        ("customers", {"name": "A", "email_domains": None}, "email_domains"),
        ("customers", {"name": "A", "colour": "red"}, "colour"),
        ("projects", {"name": "P"}, "customer_id"),
        ("projects", {"name": "P", "customer_id": 1, "status": "paused"}, "status"),
        ("projects", {"name": "P", "customer_id": 1, "start_date": "01/02/2026"}, "start_date"),
        ("projects", {"name": "P", "customer_id": 1, "owner_email": "nobody"}, "owner_email"),
        ("tasks", {"name": "T"}, "project_id"),
        ("tasks", {"name": "T", "project_id": 1, "completed_at": "2026-01-01"}, "completed_at"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(
    api: httpx.Client, blamed, resource: str, body: dict, field: str
) -> None:
    response = api.post(f"/{resource}", json=body)
    assert response.status_code == 422
    assert blamed(response) == {field}


def test_references_must_name_existing_live_records(api: httpx.Client, make, blamed) -> None:
    response = api.post("/projects", json={"name": "P", "customer_id": 10**9})
    assert response.status_code == 422
    assert blamed(response) == {"customer_id"}

    project = make.project()
    gone = make.task(project_id=project["id"])
    api.delete(f"/tasks/{gone['id']}")
    response = api.post(
        "/tasks", json={"name": "T", "project_id": project["id"], "parent_task_id": gone["id"]}
    )
    assert response.status_code == 422
    assert blamed(response) == {"parent_task_id"}


def test_a_record_cannot_become_its_own_ancestor(api: httpx.Client, make, blamed) -> None:
    top = make.customer()
    child = make.customer(parent_id=top["id"])
    response = api.patch(f"/customers/{top['id']}", json={"parent_id": child["id"]})
    assert response.status_code == 422
    assert blamed(response) == {"parent_id"}


def test_external_id_is_unique_even_among_tombstones(api: httpx.Client, make, blamed) -> None:
    first = make.customer(external_id="asana-team:77")
    api.delete(f"/customers/{first['id']}")
    response = api.post("/customers", json={"name": "again", "external_id": "asana-team:77"})
    assert response.status_code == 409
    assert blamed(response) == {"external_id"}
    assert response.json()["existing_id"] == first["id"]


def test_idempotency_key_replays_the_first_response_and_creates_nothing(
    api: httpx.Client, make
) -> None:
    customer = make.customer()
    body = {"customer_id": customer["id"], "name": "Once"}
    key = {"Idempotency-Key": f"create-once-{customer['id']}"}
    first = api.post("/projects", json=body, headers=key)
    replay = api.post("/projects", json=body, headers=key)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    listed = api.get("/projects", params={"limit": 1000}).json()["data"]
    assert [p["id"] for p in listed if p["name"] == "Once"] == [first.json()["id"]]
    # Keys are per resource: the same key on customers is a different request.
    other = api.post("/customers", json={"name": "Other"}, headers=key)
    assert other.status_code == 201
    assert "idempotent-replayed" not in other.headers


def test_patch_changes_fields_and_bumps_version_and_updated_at(api: httpx.Client, make) -> None:
    task = make.task()
    response = api.patch(f"/tasks/{task['id']}", json={"status": "done", "description": "ok"})
    assert response.status_code == 200
    changed = response.json()
    assert changed["status"] == "done"
    assert changed["description"] == "ok"
    assert changed["name"] == task["name"]
    assert changed["version"] == 2
    assert changed["updated_at"] > task["updated_at"]
    assert changed["created_at"] == task["created_at"]


def test_a_patch_that_changes_nothing_changes_nothing(api: httpx.Client, make) -> None:
    task = make.task(description="same")
    for body in ({}, {"description": "same"}, {"name": task["name"], "status": "open"}):
        response = api.patch(f"/tasks/{task['id']}", json=body)
        assert response.status_code == 200
        assert response.json() == task


def test_patch_can_clear_nullable_fields_but_not_required_ones(
    api: httpx.Client, make, blamed
) -> None:
    task = make.task(description="to clear")
    cleared = api.patch(f"/tasks/{task['id']}", json={"description": None}).json()
    assert cleared["description"] is None
    response = api.patch(f"/tasks/{task['id']}", json={"name": None})
    assert response.status_code == 422
    assert blamed(response) == {"name"}


@pytest.mark.parametrize("header", ["1", '"1"', 'W/"1"'])
def test_if_match_accepts_bare_quoted_and_weak_versions(
    api: httpx.Client, make, header: str
) -> None:
    task = make.task()
    response = api.patch(f"/tasks/{task['id']}", json={"name": "new"}, headers={"If-Match": header})
    assert response.status_code == 200
    assert response.json()["version"] == 2


def test_stale_if_match_is_412_with_the_current_record(api: httpx.Client, make, blamed) -> None:
    task = make.task()
    api.patch(f"/tasks/{task['id']}", json={"name": "theirs"})
    for method in ("PATCH", "DELETE"):
        response = api.request(
            method,
            f"/tasks/{task['id']}",
            json={"name": "mine"} if method == "PATCH" else None,
            headers={"If-Match": '"1"'},
        )
        assert response.status_code == 412
        assert blamed(response) == {"If-Match"}
        problem = response.json()
        assert problem["current_version"] == 2
        assert problem["current"]["name"] == "theirs"
    assert api.get(f"/tasks/{task['id']}").json()["name"] == "theirs"


def test_malformed_if_match_is_422_naming_the_header(api: httpx.Client, make, blamed) -> None:
    task = make.task()
    response = api.patch(f"/tasks/{task['id']}", json={}, headers={"If-Match": "v1"})
    assert response.status_code == 422
    assert blamed(response) == {"If-Match"}


def test_delete_is_a_soft_delete_and_idempotent(api: httpx.Client, make, blamed) -> None:
    task = make.task()
    response = api.delete(f"/tasks/{task['id']}", headers={"If-Match": "1"})
    assert response.status_code == 200
    tombstone = response.json()
    assert tombstone["deleted_at"] is not None
    assert tombstone["deleted_at"] == tombstone["updated_at"]
    assert tombstone["version"] == 2
    assert api.get(f"/tasks/{task['id']}").json() == tombstone
    again = api.delete(f"/tasks/{task['id']}")
    assert again.status_code == 200
    assert again.json() == tombstone
    response = api.patch(f"/tasks/{task['id']}", json={"name": "zombie"})
    assert response.status_code == 409
    assert blamed(response) == {"id"}


def test_unknown_records_are_404(api: httpx.Client, blamed) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = api.request(method, "/customers/999999", json={} if method == "PATCH" else None)
        assert response.status_code == 404
        assert blamed(response) == {"id"}


def test_updated_at_strictly_increases_within_a_resource(api: httpx.Client, make) -> None:
    customer = make.customer()
    stamps = [customer["updated_at"]]
    for index in range(20):
        record = api.patch(f"/customers/{customer['id']}", json={"name": f"n{index}"}).json()
        stamps.append(record["updated_at"])
        stamps.append(make.customer()["updated_at"])
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)
