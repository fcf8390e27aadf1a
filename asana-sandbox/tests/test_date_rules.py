"""Asana's start/due date rules on tasks and projects, on create and on update.

The rules are the notes of the official description (ProjectBase.start_on, TaskBase.start_on,
TaskBase.start_at): a request that sets or unsets a start date carries the due date too,
and a project's start and due dates cannot be the same day. A refused request changes
nothing and answers Asana's 400 error body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asana_sandbox.conformance import ValidatingClient

if TYPE_CHECKING:
    from conftest import Demo


def _refused(response: Any, *words: str) -> None:
    assert response.status_code == 400, response.text
    message = response.json()["errors"][0]["message"]
    assert all(word in message for word in words), message


def _team(api: ValidatingClient, demo: type[Demo]) -> str:
    return api.get(f"/workspaces/{demo.org(api)}/teams").json()["data"][0]["gid"]


def test_a_project_start_date_cannot_be_its_due_date(
    api: ValidatingClient, demo: type[Demo]
) -> None:
    """Same day on create or update: 400; the project keeps its dates."""
    team = _team(api, demo)
    same = {"name": "One-day project", "start_on": "2026-09-01", "due_on": "2026-09-01"}
    _refused(api.post(f"/teams/{team}/projects", json={"data": same}), "start_on", "same")
    project = demo.project_named(api, "Website relaunch")
    before = api.get(f"/projects/{project}").json()["data"]
    due = before["due_on"]
    _refused(
        api.put(f"/projects/{project}", json={"data": {"start_on": due, "due_on": due}}),
        "start_on",
    )
    assert api.get(f"/projects/{project}").json()["data"] == before
    ok = api.put(f"/projects/{project}", json={"data": {"start_on": "2026-01-10", "due_on": due}})
    assert ok.status_code == 200, ok.text
    assert (ok.json()["data"]["start_on"], ok.json()["data"]["due_on"]) == ("2026-01-10", due)


def test_a_project_start_date_needs_the_due_date_in_the_same_request(
    api: ValidatingClient, demo: type[Demo]
) -> None:
    """Setting or unsetting start_on without due_on is refused, even when the project already
    has a due date (the description's note is about the request, not the record)."""
    team = _team(api, demo)
    alone = {"name": "Starts only", "start_on": "2026-09-01"}
    _refused(api.post(f"/teams/{team}/projects", json={"data": alone}), "due_on")
    project = demo.project_named(api, "Website relaunch")
    before = api.get(f"/projects/{project}").json()["data"]
    assert before["due_on"]
    _refused(api.put(f"/projects/{project}", json={"data": {"start_on": "2026-01-10"}}), "due_on")
    _refused(api.put(f"/projects/{project}", json={"data": {"start_on": None}}), "due_on")
    assert api.get(f"/projects/{project}").json()["data"] == before
    with_due = api.post(
        f"/teams/{team}/projects",
        json={"data": {"name": "Planned", "start_on": "2026-09-01", "due_date": "2026-10-01"}},
    )
    assert with_due.status_code == 201, with_due.text
    cleared = api.put(
        f"/projects/{with_due.json()['data']['gid']}",
        json={"data": {"start_on": None, "due_on": None}},
    )
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["data"]["start_on"], cleared.json()["data"]["due_on"]) == (None, None)


def test_task_start_dates_need_the_due_date_in_the_request(
    api: ValidatingClient, demo: type[Demo]
) -> None:
    """On tasks too: start_on alone (set or unset) is refused although the task has a due
    date, a start date cannot remain without a due date, and start_at needs due_at."""
    board = demo.project_named(api, "Client projects")
    task = api.get(f"/projects/{board}/tasks").json()["data"][0]["gid"]
    before = api.get(f"/tasks/{task}").json()["data"]
    assert before["start_on"]
    assert before["due_on"]
    _refused(api.put(f"/tasks/{task}", json={"data": {"start_on": "2026-01-06"}}), "due_on")
    _refused(api.put(f"/tasks/{task}", json={"data": {"start_on": None}}), "due_on")
    _refused(api.put(f"/tasks/{task}", json={"data": {"due_on": None}}), "due")
    _refused(
        api.put(f"/tasks/{task}", json={"data": {"start_on": "2026-01-06", "due_on": None}}),
        "due",
    )
    assert api.get(f"/tasks/{task}").json()["data"] == before
    _refused(
        api.post(
            "/tasks",
            json={"data": {"name": "Start only", "projects": [board], "start_on": "2026-03-01"}},
        ),
        "due_on",
    )
    _refused(
        api.post(
            "/tasks",
            json={
                "data": {
                    "name": "Start time only",
                    "projects": [board],
                    "start_at": "2026-03-01T09:00:00Z",
                    "due_on": "2026-03-02",
                }
            },
        ),
        "due_at",
    )
    cleared = api.put(f"/tasks/{task}", json={"data": {"start_on": None, "due_on": None}})
    assert cleared.status_code == 200, cleared.text


def test_a_task_may_start_and_end_on_the_same_day(api: ValidatingClient, demo: type[Demo]) -> None:
    """The same-day rule is a project rule: the description has none for tasks."""
    board = demo.project_named(api, "Client projects")
    created = api.post(
        "/tasks",
        json={
            "data": {
                "name": "Workshop day",
                "projects": [board],
                "start_on": "2026-03-01",
                "due_on": "2026-03-01",
            }
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["data"]["start_on"] == created.json()["data"]["due_on"]
