"""Every route, success and error, validated against Asana's official response schemas.

The client used here (ValidatingClient) checks each response body against the schema the
description declares for that operation and status, and fails on keys it does not declare.
The last test checks that every implemented route was validated with a success and an error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from asana_sandbox.conformance import ValidatingClient
from asana_sandbox.routes import ROUTES
from asana_sandbox.testing import SandboxServer

if TYPE_CHECKING:
    from conftest import ClientFactory

VALIDATED: Counter[tuple[str, str, int]] = Counter()
UNKNOWN_GID = "1299999999999999"
TASK_FIELDS = (
    "name", "assignee.email", "memberships.project.name", "memberships.section.name",
    "parent.name", "modified_at", "due_on", "due_at", "start_on", "completed", "completed_at",
    "num_subtasks", "workspace.name", "projects.name", "followers.name", "created_by", "external",
)  # fmt: skip


@pytest.fixture(scope="module")
def api(shared_sandbox: SandboxServer, make_client: ClientFactory) -> Iterator[ValidatingClient]:
    """One validating client for the module; its counts feed the coverage check."""
    with make_client(shared_sandbox) as client:
        client.validated = VALIDATED
        yield client


@pytest.fixture(scope="module")
def gids(api: ValidatingClient) -> dict[str, str]:
    """Gids of demo records to put in paths."""
    workspaces = api.get("/workspaces", params={"opt_fields": "name,is_organization"}).json()[
        "data"
    ]
    org = next(w["gid"] for w in workspaces if w["is_organization"])
    team = api.get(f"/workspaces/{org}/teams").json()["data"][0]["gid"]
    projects = api.get(f"/teams/{team}/projects").json()["data"]
    board = next(p["gid"] for p in projects if p["name"] == "Client projects")
    task = api.get(f"/projects/{board}/tasks").json()["data"][0]["gid"]
    section = api.get(f"/projects/{board}/sections").json()["data"][1]["gid"]
    me = api.get("/users/me").json()["data"]["gid"]
    return {
        "workspace_gid": org,
        "team_gid": team,
        "project_gid": board,
        "task_gid": task,
        "section_gid": section,
        "user_gid": me,
    }


def test_reads_validate(api: ValidatingClient, gids: dict[str, str]) -> None:
    """Every GET route answers 200 with compact, full and opt_fields records."""
    g = gids
    opt = {"opt_fields": ",".join(TASK_FIELDS)}
    calls: list[tuple[str, dict[str, Any]]] = [
        ("/workspaces", {}),
        (f"/workspaces/{g['workspace_gid']}", {}),
        (f"/workspaces/{g['workspace_gid']}/teams", {"limit": 2}),
        (
            f"/workspaces/{g['workspace_gid']}/projects",
            {
                "archived": "false",
                "opt_fields": "name,team.name,modified_at,archived,owner.email,workspace.name",
            },
        ),
        (f"/workspaces/{g['workspace_gid']}/users", {"opt_fields": "name,email"}),
        (f"/workspaces/{g['workspace_gid']}/users", {"limit": 100}),  # as the official client
        (f"/teams/{g['team_gid']}", {}),
        (f"/teams/{g['team_gid']}/projects", {"limit": 1}),
        (f"/teams/{g['team_gid']}/users", {}),
        ("/projects", {"workspace": g["workspace_gid"], "limit": 100}),
        ("/projects", {"opt_fields": "name,owner.email,custom_fields.people_value.name"}),
        (f"/projects/{g['project_gid']}", {}),
        (f"/projects/{g['project_gid']}/tasks", {"completed_since": "now", "limit": 5}),
        (f"/projects/{g['project_gid']}/tasks", opt),
        (f"/projects/{g['project_gid']}/sections", {}),
        (f"/sections/{g['section_gid']}", {}),
        (f"/sections/{g['section_gid']}/tasks", {"completed_since": "2026-01-01T00:00:00Z"}),
        (
            "/tasks",
            {"project": g["project_gid"], "modified_since": "2020-01-01T00:00:00.000Z", **opt},
        ),
        ("/tasks", {"assignee": "me", "workspace": g["workspace_gid"], "limit": 10}),
        ("/tasks", {"section": g["section_gid"]}),
        (f"/tasks/{g['task_gid']}", {}),
        (f"/tasks/{g['task_gid']}", opt),
        (f"/tasks/{g['task_gid']}/subtasks", {"opt_fields": "name,parent.name,assignee.name"}),
        ("/users", {"workspace": g["workspace_gid"]}),
        (f"/users/{g['user_gid']}", {}),
        ("/users/me", {"opt_fields": "email,workspaces.name"}),
    ]
    for path, params in calls:
        response = api.get(path, params=params)
        assert response.status_code == 200, (path, response.text)


def test_events_validate(api: ValidatingClient, gids: dict[str, str]) -> None:
    """GET /events: 412 with a token first, then 200 with events and a new token."""
    first = api.get("/events", params={"resource": gids["project_gid"]})
    assert first.status_code == 412
    token = first.json()["sync"]
    api.put(f"/tasks/{gids['task_gid']}", json={"data": {"notes": "touched"}})
    events = api.get("/events", params={"resource": gids["project_gid"], "sync": token})
    assert events.status_code == 200
    assert events.json()["data"][0]["action"] == "changed"


def test_writes_validate(api: ValidatingClient, gids: dict[str, str]) -> None:
    """Every write route answers with its declared status and shape."""
    g = gids
    assert (
        api.put(
            f"/workspaces/{g['workspace_gid']}", json={"data": {"name": "Acme Consulting"}}
        ).status_code
        == 200
    )
    team = api.post(
        "/teams",
        json={
            "data": {"name": "Research", "organization": g["workspace_gid"], "description": "R&D"}
        },
    )
    assert team.status_code == 201, team.text
    team_gid = team.json()["data"]["gid"]
    assert (
        api.put(f"/teams/{team_gid}", json={"data": {"name": "Research & Development"}}).status_code
        == 200
    )
    project = api.post(
        "/projects",
        json={
            "data": {
                "name": "Lab",
                "workspace": g["workspace_gid"],
                "team": team_gid,
                "due_on": "2026-12-01",
            }
        },
    )
    assert project.status_code == 201, project.text
    project_gid = project.json()["data"]["gid"]
    for path in (f"/workspaces/{g['workspace_gid']}/projects", f"/teams/{team_gid}/projects"):
        created = api.post(path, json={"data": {"name": "Extra", "team": team_gid}})
        assert created.status_code == 201, created.text
    assert (
        api.put(
            f"/projects/{project_gid}", json={"data": {"notes": "Lab work", "archived": True}}
        ).status_code
        == 200
    )
    task = api.post(
        "/tasks",
        json={
            "data": {
                "name": "Prototype",
                "projects": [project_gid],
                "assignee": "me",
                "due_at": "2026-06-01T12:00:00.000Z",
            }
        },
    )
    assert task.status_code == 201, task.text
    task_gid = task.json()["data"]["gid"]
    assert api.put(f"/tasks/{task_gid}", json={"data": {"completed": True}}).status_code == 200
    sub = api.post(f"/tasks/{task_gid}/subtasks", json={"data": {"name": "Bench test"}})
    assert sub.status_code == 201, sub.text
    sub_gid = sub.json()["data"]["gid"]
    assert (
        api.post(
            f"/tasks/{sub_gid}/addProject", json={"data": {"project": g["project_gid"]}}
        ).status_code
        == 200
    )
    assert (
        api.post(
            f"/tasks/{sub_gid}/removeProject", json={"data": {"project": g["project_gid"]}}
        ).status_code
        == 200
    )
    assert (
        api.post(f"/tasks/{sub_gid}/setParent", json={"data": {"parent": None}}).status_code == 200
    )
    batch = api.post(
        "/batch",
        json={
            "data": {
                "actions": [
                    {
                        "relative_path": f"/tasks/{sub_gid}",
                        "method": "get",
                        "options": {"fields": ["name", "parent"]},
                    },
                    {
                        "relative_path": f"/tasks/{sub_gid}",
                        "method": "put",
                        "data": {"name": "Renamed"},
                    },
                    {
                        "relative_path": "/tasks",
                        "method": "post",
                        "data": {"name": "From batch", "workspace": g["workspace_gid"]},
                    },
                    {"relative_path": f"/tasks/{UNKNOWN_GID}", "method": "get"},
                ]
            }
        },
    )
    assert batch.status_code == 200, batch.text
    assert [r["status_code"] for r in batch.json()["data"]] == [200, 200, 201, 404]
    assert api.delete(f"/tasks/{task_gid}").status_code == 200
    assert api.delete(f"/projects/{project_gid}").status_code == 200


def _concrete(path: str, gids: dict[str, str], override: str | None = None) -> str:
    for name, gid in gids.items():
        path = path.replace("{" + name + "}", override or gid)
    return path


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method.upper()} {r.path}")
def test_unknown_parameter_is_400(api: ValidatingClient, gids: dict[str, str], route: Any) -> None:
    """A query parameter the description does not declare for the operation is rejected."""
    response = api.request(route.method.upper(), _concrete(route.path, gids), params={"bogus": "1"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith("bogus:")


def _valid_body(path: str, gids: dict[str, str]) -> dict[str, Any]:
    if path.endswith(("/addProject", "/removeProject")):
        return {"project": gids["project_gid"]}
    if path.endswith("/setParent"):
        return {"parent": None}
    return {"name": "x"}


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if "{" in r.path], ids=lambda r: f"{r.method.upper()} {r.path}"
)
def test_unknown_gid_is_404(api: ValidatingClient, gids: dict[str, str], route: Any) -> None:
    """Unknown records in the path answer 404 with Asana's error body."""
    body = {"data": _valid_body(route.path, gids)} if route.op.body_schema is not None else None
    response = api.request(
        route.method.upper(), _concrete(route.path, gids, UNKNOWN_GID), json=body
    )
    assert response.status_code == 404, response.text


@pytest.mark.parametrize(
    "route",
    [r for r in ROUTES if r.op.body_schema is not None],
    ids=lambda r: f"{r.method.upper()} {r.path}",
)
def test_bad_body_is_400(api: ValidatingClient, gids: dict[str, str], route: Any) -> None:
    """Bodies outside the declared request schema are rejected: no envelope, unknown field."""
    path = _concrete(route.path, gids)
    assert api.request(route.method.upper(), path, json={"name": "no envelope"}).status_code == 400
    response = api.request(route.method.upper(), path, json={"data": {"no_such_field": 1}})
    assert response.status_code == 400
    assert "no_such_field" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method.upper()} {r.path}")
def test_missing_token_is_401(
    shared_sandbox: SandboxServer, gids: dict[str, str], route: Any, make_client: ClientFactory
) -> None:
    """Without a valid token every route answers 401."""
    with make_client(shared_sandbox, token="wrong") as client:
        client.validated = VALIDATED
        response = client.request(
            route.method.upper(), _concrete(route.path, gids), json={"data": {}}
        )
    assert response.status_code == 401


def test_malformed_values_are_400(api: ValidatingClient, gids: dict[str, str]) -> None:
    """Malformed declared parameters and body values are 400s too."""
    project = gids["project_gid"]
    for params in (
        {"limit": 0},
        {"limit": 101},
        {"limit": "x"},
        {"offset": "forged"},
        {"completed_since": "yesterday"},
    ):
        assert api.get(f"/projects/{project}/tasks", params=params).status_code == 400, params
    assert api.get("/tasks", params={"modified_since": "2026-13-01"}).status_code == 400
    assert api.get("/tasks", params={"workspace": gids["workspace_gid"]}).status_code == 400
    assert api.get("/tasks/not-a-gid").status_code == 400
    bad = api.post(
        "/tasks",
        json={"data": {"name": "x", "workspace": gids["workspace_gid"], "due_on": "31/12/2026"}},
    )
    assert bad.status_code == 400
    both = {
        "name": "x",
        "workspace": gids["workspace_gid"],
        "due_on": "2026-01-01",
        "due_at": "2026-01-01T10:00:00Z",
    }
    assert api.post("/tasks", json={"data": both}).status_code == 400
    assert api.post("/tasks", json={"data": {"name": "nowhere"}}).status_code == 400
    assert api.post("/batch", json={"data": {"actions": []}}).status_code == 400


def test_every_route_was_validated() -> None:
    """Coverage: each implemented route produced a validated success and a validated error."""
    missing = []
    for route in ROUTES:
        statuses = {
            status
            for (method, path, status) in VALIDATED
            if (method, path) == (route.method, route.path)
        }
        if not any(s < 300 for s in statuses) or not any(s >= 400 for s in statuses):
            missing.append((route.method, route.path, sorted(statuses)))
    assert not missing
    print(f"\nvalidated {sum(VALIDATED.values())} responses over {len(ROUTES)} routes")
