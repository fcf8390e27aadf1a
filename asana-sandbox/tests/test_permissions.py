"""Per-object permissions: a private project and a guest-only team the token's user cannot see.

The demo seed holds both. What the token's user sees is pinned here by walking every list it
can call (the end-to-end tests of the sync rely on that view), and the new objects answer 403
to that user but are visible to their own members.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from asana_sandbox import seeds
from asana_sandbox.conformance import ValidatingClient
from asana_sandbox.store import Store
from asana_sandbox.testing import SandboxServer

if TYPE_CHECKING:
    from conftest import ClientFactory

PRIVATE_PROJECT = "Salary review 2026"
GUEST_TEAM = "Agency partners"
GUEST_PROJECT = "Agency handoff"
GUEST_EMAIL = "jordan.lee@brightside-agency.example"


@pytest.fixture(scope="module")
def seeded() -> Store:
    """The demo seed in memory, to find the hidden objects' gids by name."""
    store = Store()
    seeds.build("demo", store)
    return store


def _named(store: Store, type_name: str, name: str) -> dict[str, Any]:
    return next(r for r in store.records[type_name].values() if r.get("name") == name)


@pytest.fixture(scope="module")
def api(shared_sandbox: SandboxServer, make_client: ClientFactory) -> Iterator[ValidatingClient]:
    """A validating client for the module's sandbox (read-only tests)."""
    with make_client(shared_sandbox) as client:
        yield client


def _pages(api: httpx.Client, path: str, params: dict[str, Any] | None = None) -> list[Any]:
    records: list[Any] = []
    query: dict[str, Any] = {**(params or {}), "limit": 100}
    while True:
        response = api.get(path, params=query)
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        records += body["data"]
        if not body.get("next_page"):
            return records
        query["offset"] = body["next_page"]["offset"]


def _everything_listed(api: httpx.Client) -> dict[str, set[str]]:
    """Every record each list route shows the token's user, by type."""
    seen: defaultdict[str, set[str]] = defaultdict(set)

    def add(type_name: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen[type_name].update(r["gid"] for r in records)
        return records

    workspaces = add("workspace", _pages(api, "/workspaces"))
    add("project", _pages(api, "/projects"))
    add("user", _pages(api, "/users"))
    for workspace in workspaces:
        w = workspace["gid"]
        add("team", _pages(api, f"/workspaces/{w}/teams"))
        add("project", _pages(api, f"/workspaces/{w}/projects"))
        add("project", _pages(api, "/projects", {"workspace": w}))
        users = add("user", _pages(api, f"/workspaces/{w}/users"))
        add("user", _pages(api, "/users", {"workspace": w}))
        for user in users:
            add("task", _pages(api, "/tasks", {"assignee": user["gid"], "workspace": w}))
    for team in list(seen["team"]):
        add("project", _pages(api, f"/teams/{team}/projects"))
        add("project", _pages(api, "/projects", {"team": team}))
        add("user", _pages(api, f"/teams/{team}/users"))
        add("user", _pages(api, "/users", {"team": team}))
    for project in list(seen["project"]):
        add("task", _pages(api, f"/projects/{project}/tasks"))
        add("task", _pages(api, "/tasks", {"project": project}))
        for section in add("section", _pages(api, f"/projects/{project}/sections")):
            add("task", _pages(api, f"/sections/{section['gid']}/tasks"))
    todo = list(seen["task"])
    while todo:
        children = add("task", _pages(api, f"/tasks/{todo.pop()}/subtasks"))
        todo += [c["gid"] for c in children]
    return dict(seen)


def test_the_token_users_view_of_the_demo_is_unchanged(
    api: ValidatingClient, seeded: Store
) -> None:
    """Every list shows the original demo (2 workspaces, 8 users, 3 teams, 8 projects,
    23 sections, 146 tasks) and nothing of the private project or the guest-only team."""
    seen = _everything_listed(api)
    original = {
        type_name: {gid for gid in records if int(gid) <= 1200000000000190}
        for type_name, records in seeded.records.items()
    }
    assert {name: len(gids) for name, gids in seen.items()} == {
        "workspace": 2,
        "user": 8,
        "team": 3,
        "project": 8,
        "section": 23,
        "task": 146,
    }
    assert seen == original


def test_a_private_project_is_forbidden_to_others(
    api: ValidatingClient, seeded: Store, shared_sandbox: SandboxServer
) -> None:
    """403 on every direct access to it, its sections, tasks, subtasks and events."""
    project = _named(seeded, "project", PRIVATE_PROJECT)
    gid = project["gid"]
    tasks = seeded.tasks_by_project[gid]
    subtasks = [s for t in tasks for s in seeded.subtasks.get(t, [])]
    assert tasks
    assert subtasks
    section = seeded.sections_by_project[gid][0]
    forbidden = [
        ("get", f"/projects/{gid}", None),
        ("get", f"/projects/{gid}/tasks", None),
        ("get", f"/projects/{gid}/sections", None),
        ("get", f"/sections/{section}", None),
        ("get", f"/sections/{section}/tasks", None),
        ("get", f"/tasks?project={gid}", None),
        ("get", f"/events?resource={gid}", None),
        ("put", f"/projects/{gid}", {"data": {"name": "Peeked"}}),
        ("delete", f"/projects/{gid}", None),
        ("get", f"/tasks/{tasks[0]}", None),
        ("get", f"/tasks/{subtasks[0]}", None),
        ("get", f"/tasks/{tasks[0]}/subtasks", None),
        ("put", f"/tasks/{tasks[0]}", {"data": {"name": "Peeked"}}),
        ("post", f"/tasks/{tasks[0]}/subtasks", {"data": {"name": "Sneaked in"}}),
    ]
    for method, path, body in forbidden:
        response = api.request(method.upper(), path, json=body)
        assert response.status_code == 403, (method, path, response.text)
    board = next(g for g, p in seeded.records["project"].items() if p["name"] == "Client projects")
    sneaked = api.post(
        f"/tasks/{seeded.tasks_by_project[board][0]}/addProject", json={"data": {"project": gid}}
    )
    assert sneaked.status_code == 403
    # Its owner sees it, in its team's list too.
    owner = project["owner"]
    assert shared_sandbox.act("get", f"/projects/{gid}", user=owner)["data"]["name"] == (
        PRIVATE_PROJECT
    )
    listed = shared_sandbox.act("get", f"/teams/{project['team']}/projects", user=owner)["data"]
    assert gid in [p["gid"] for p in listed]


def test_a_guest_only_team_is_invisible_to_members_of_the_organization(
    api: ValidatingClient, seeded: Store, shared_sandbox: SandboxServer
) -> None:
    """The team, its project, its task and its guest answer 403; the guest sees only them."""
    team = _named(seeded, "team", GUEST_TEAM)["gid"]
    project = _named(seeded, "project", GUEST_PROJECT)["gid"]
    guest = next(u for u in seeded.records["user"].values() if u["email"] == GUEST_EMAIL)
    task = seeded.tasks_by_project[project][0]
    for path in (
        f"/teams/{team}",
        f"/teams/{team}/users",
        f"/teams/{team}/projects",
        f"/users?team={team}",
        f"/projects?team={team}",
        f"/projects/{project}",
        f"/tasks/{task}",
        f"/users/{guest['gid']}",
        f"/users/{GUEST_EMAIL}",
    ):
        response = api.get(path)
        assert response.status_code == 403, (path, response.text)
    created = api.post(f"/teams/{team}/projects", json={"data": {"name": "Sneaked in"}})
    assert created.status_code == 403
    # The guest's own view: its team, project and task, none of the organization's.
    org = guest["workspaces"][0]
    as_guest = shared_sandbox.act
    teams = as_guest("get", f"/workspaces/{org}/teams", user=guest["gid"])["data"]
    assert [t["name"] for t in teams] == [GUEST_TEAM]
    projects = as_guest("get", "/projects", {"workspace": org}, user=guest["gid"])["data"]
    assert [p["name"] for p in projects] == [GUEST_PROJECT]
    users = as_guest("get", f"/workspaces/{org}/users", user=guest["gid"])["data"]
    assert [u["gid"] for u in users] == [guest["gid"]]
    assert as_guest("get", f"/tasks/{task}", user=guest["gid"])["data"]["gid"] == task


def test_the_hidden_objects_come_after_the_original_demo(seeded: Store) -> None:
    """The original demo keeps its gids (end-to-end tests name them); the additions follow."""
    names = {r["name"]: g for records in seeded.records.values() for g, r in records.items()}
    assert names["Acme Consulting"] == "1200000000000001"
    assert names["Client projects"] == "1200000000000014"
    assert names["Reading list"] == "1200000000000186"
    assert names["Renew passport"] == "1200000000000190"
    for name in (PRIVATE_PROJECT, GUEST_TEAM, GUEST_PROJECT):
        assert int(names[name]) > 1200000000000190
