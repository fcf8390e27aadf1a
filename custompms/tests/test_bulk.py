"""Bulk upsert: one transaction, per-record results, bad records failing alone."""

from __future__ import annotations

import httpx


def bulk(api: httpx.Client, resource: str, records: list) -> list[dict]:
    response = api.post(f"/{resource}/bulk", json={"records": records})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(len(records)))
    return results


def test_creates_updates_and_reports_unchanged(api: httpx.Client, make) -> None:
    project = make.project()
    existing = make.task(project_id=project["id"], external_id="asana-task:1")
    results = bulk(
        api,
        "tasks",
        [
            {"project_id": project["id"], "name": "new", "external_id": "asana-task:2"},
            {"external_id": "asana-task:1", "name": "renamed"},  # upsert by external_id
            {"id": existing["id"], "status": "open"},  # no actual change
        ],
    )
    assert [r["status"] for r in results] == ["created", "updated", "unchanged"]
    assert results[0]["record"]["external_id"] == "asana-task:2"
    assert results[0]["version"] == 1
    assert results[1]["id"] == existing["id"]
    assert results[1]["version"] == 2
    assert results[1]["record"]["name"] == "renamed"
    assert results[2]["version"] == 2
    assert all(r["error"] is None for r in results)
    assert api.get(f"/tasks/{results[0]['id']}").json() == results[0]["record"]


def test_a_bad_record_fails_alone(api: httpx.Client, make) -> None:
    project = make.project()
    target = make.task(project_id=project["id"])
    results = bulk(
        api,
        "tasks",
        [
            {"project_id": project["id"], "name": "good 1"},
            {"project_id": project["id"]},  # name missing
            "not an object",
            {"project_id": 10**9, "name": "dangling"},
            {"id": 10**9, "name": "nobody"},
            {"id": target["id"], "name": "stale", "version": 7},
            {"id": target["id"], "name": "x" * 501},
            {"project_id": project["id"], "name": "good 2"},
        ],
    )
    statuses = [r["status"] for r in results]
    assert statuses == ["created"] + ["error"] * 6 + ["created"]
    errors = [r["error"] for r in results[1:7]]
    assert [e["status"] for e in errors] == [422, 422, 422, 404, 412, 422]
    assert [e["errors"][0]["field"] for e in errors] == [
        "name",
        "record",
        "project_id",
        "id",
        "version",
        "name",
    ]
    assert errors[4]["current_version"] == 1
    assert all(r["record"] is None and r["id"] is None for r in results[1:7])
    assert api.get(f"/tasks/{target['id']}").json() == target


def test_a_failed_record_leaves_no_partial_write(api: httpx.Client, make) -> None:
    customer = make.customer(external_id="taken")
    other = make.customer()
    # The rename passes validation, then the external_id conflict fails the item: both undone.
    results = bulk(api, "customers", [{"id": other["id"], "name": "N", "external_id": "taken"}])
    assert results[0]["error"]["status"] == 409
    assert results[0]["error"]["existing_id"] == customer["id"]
    assert api.get(f"/customers/{other['id']}").json() == other


def test_records_may_reference_records_created_earlier_in_the_same_call(
    api: httpx.Client, make
) -> None:
    project = make.project()
    parent = bulk(api, "tasks", [{"project_id": project["id"], "name": "parent"}])[0]
    results = bulk(
        api,
        "tasks",
        [
            {"project_id": project["id"], "name": "a", "external_id": "bulk:a"},
            {"project_id": project["id"], "name": "b", "parent_task_id": parent["id"]},
        ],
    )
    assert [r["status"] for r in results] == ["created", "created"]


def test_a_thousand_records_in_one_call_and_no_more(api: httpx.Client, blamed) -> None:
    records = [{"name": f"bulk {i}"} for i in range(1000)]
    results = bulk(api, "customers", records)
    assert {r["status"] for r in results} == {"created"}
    stamps = [r["record"]["updated_at"] for r in results]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 1000
    response = api.post("/customers/bulk", json={"records": [*records, {"name": "one too many"}]})
    assert response.status_code == 422
    assert blamed(response) == {"records"}


def test_tombstones_are_not_revived_by_upsert(api: httpx.Client, make) -> None:
    gone = make.customer(external_id="deleted-one")
    api.delete(f"/customers/{gone['id']}")
    results = bulk(api, "customers", [{"external_id": "deleted-one", "name": "back?"}])
    assert results[0]["status"] == "error"
    assert results[0]["error"]["status"] == 409
    assert results[0]["error"]["errors"][0]["field"] == "external_id"
