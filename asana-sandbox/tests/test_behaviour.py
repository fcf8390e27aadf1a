"""Asana's behaviours: pagination, opt_fields, modified_at, filters, events, persistence."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from asana_sandbox.conformance import ValidatingClient
from asana_sandbox.testing import running_sandbox

if TYPE_CHECKING:
    from conftest import ClientFactory, Demo


def test_pagination_follows_next_page_to_null(api: ValidatingClient, demo: type[Demo]) -> None:
    """limit cuts pages; next_page carries offset, path and uri; the last page says null."""
    board = demo.project_named(api, "Client projects")
    first = api.get(f"/projects/{board}/tasks", params={"limit": 3}).json()
    assert len(first["data"]) == 3
    next_page = first["next_page"]
    assert next_page["path"].startswith(f"/projects/{board}/tasks?limit=3&offset=")
    assert next_page["uri"] == api.base_url.join("").__str__().rstrip("/") + next_page["path"]
    records, pages = demo.all_pages(api, f"/projects/{board}/tasks", {"limit": 3})
    assert len(records) == 10
    assert pages == 4
    assert len({r["gid"] for r in records}) == 10
    unpaged = api.get(f"/projects/{board}/tasks").json()
    assert "next_page" not in unpaged
    assert len(unpaged["data"]) == 10


def test_compact_full_and_dotted_opt_fields(api: ValidatingClient, demo: type[Demo]) -> None:
    """Lists are compact, single reads full, opt_fields picks fields through links."""
    board = demo.project_named(api, "Client projects")
    compact = api.get(f"/projects/{board}/tasks").json()["data"][0]
    assert set(compact) == {"gid", "resource_type", "name", "resource_subtype"}
    full = api.get(f"/tasks/{compact['gid']}").json()["data"]
    assert {"modified_at", "memberships", "assignee", "start_on", "due_on", "permalink_url"} <= set(
        full
    )
    fields = "name,assignee.email,memberships.project.name,memberships.section.name"
    picked = api.get(f"/tasks/{compact['gid']}", params={"opt_fields": fields}).json()["data"]
    assert set(picked) == {"gid", "name", "assignee", "memberships"}
    assert picked["assignee"]["email"].endswith("@acme-consulting.example")
    membership = picked["memberships"][0]
    assert membership["project"] == {"gid": board, "name": "Client projects"}
    assert membership["section"]["name"] in {"Prospect", "Active", "On hold", "Done"}
    sub = api.get(f"/tasks/{compact['gid']}/subtasks", params={"opt_fields": "parent.name"}).json()[
        "data"
    ][0]
    assert sub["parent"] == {"gid": compact["gid"], "name": compact["name"]}


def test_modified_at_moves_on_edits_but_not_for_subtask_edits(
    api: ValidatingClient, demo: type[Demo]
) -> None:
    """modified_at moves when a task changes, not when its subtask does; modified_since sees it."""
    project = demo.project_named(api, "Website relaunch")
    parent = demo.task_with_subtasks(api, project)
    sub = api.get(f"/tasks/{parent['gid']}/subtasks").json()["data"][0]
    api.put(f"/tasks/{sub['gid']}", json={"data": {"name": "Renamed subtask"}})
    assert api.get(f"/tasks/{parent['gid']}").json()["data"]["modified_at"] == parent["modified_at"]
    before = api.get(f"/projects/{project}", params={"opt_fields": "modified_at"}).json()["data"][
        "modified_at"
    ]
    edited = api.put(f"/tasks/{parent['gid']}", json={"data": {"name": "Renamed task"}}).json()[
        "data"
    ]
    assert edited["modified_at"] > parent["modified_at"]
    since = api.get(
        "/tasks", params={"project": project, "modified_since": edited["modified_at"]}
    ).json()["data"]
    assert [t["gid"] for t in since] == [parent["gid"]]
    updated = api.put(f"/projects/{project}", json={"data": {"notes": "New brief"}}).json()["data"]
    assert updated["modified_at"] > before
    unchanged = api.put(f"/projects/{project}", json={"data": {"notes": "New brief"}}).json()[
        "data"
    ]
    assert unchanged["modified_at"] == updated["modified_at"]


def test_completed_since_and_list_filters(api: ValidatingClient, demo: type[Demo]) -> None:
    """completed_since=now hides completed tasks; /tasks needs project or assignee+workspace."""
    board = demo.project_named(api, "Client projects")
    everything = api.get("/tasks", params={"project": board, "opt_fields": "completed"}).json()[
        "data"
    ]
    open_only = api.get("/tasks", params={"project": board, "completed_since": "now"}).json()[
        "data"
    ]
    assert len(open_only) == sum(1 for t in everything if not t["completed"]) < len(everything)
    mine = api.get(
        "/tasks",
        params={"assignee": "me", "workspace": demo.org(api), "opt_fields": "assignee.email"},
    ).json()["data"]
    assert mine
    assert {t["assignee"]["email"] for t in mine} == {"alex.morgan@acme-consulting.example"}
    assert api.get("/tasks", params={"assignee": "me"}).status_code == 400


def test_events_bubble_up_subtask_changes_adds_and_deletes(
    api: ValidatingClient, demo: type[Demo]
) -> None:
    """A project's stream sees its tasks' and their subtasks' changes, adds and deletes."""
    project = demo.project_named(api, "Website relaunch")
    token = api.get("/events", params={"resource": project}).json()["sync"]
    parent = demo.task_with_subtasks(api, project)
    sub = api.get(f"/tasks/{parent['gid']}/subtasks").json()["data"][0]
    api.put(f"/tasks/{sub['gid']}", json={"data": {"name": "Reworded step"}})
    new = api.post(
        f"/tasks/{parent['gid']}/subtasks", json={"data": {"name": "Extra step"}}
    ).json()["data"]
    api.delete(f"/tasks/{new['gid']}")
    body = api.get("/events", params={"resource": project, "sync": token}).json()
    seen = [
        (e["action"], e["resource"]["gid"], (e["parent"] or {}).get("gid")) for e in body["data"]
    ]
    assert seen == [
        ("changed", sub["gid"], None),
        ("added", new["gid"], parent["gid"]),
        ("deleted", new["gid"], None),
    ]
    assert body["data"][0]["change"] == {"field": "name", "action": "changed"}
    assert body["has_more"] is False
    again = api.get("/events", params={"resource": project, "sync": body["sync"]}).json()
    assert again["data"] == []


def test_stale_sync_tokens_answer_412_with_a_fresh_token(
    asana_sandbox, api: ValidatingClient, demo: type[Demo]
) -> None:
    """Missing, unknown and expired tokens: 412 and a token that works."""
    project = demo.project_named(api, "Client projects")
    missing = api.get("/events", params={"resource": project})
    assert missing.status_code == 412
    assert missing.json()["sync"]
    assert api.get("/events", params={"resource": project, "sync": "bogus"}).status_code == 412
    token = missing.json()["sync"]
    asana_sandbox.expire_sync_tokens(project)
    expired = api.get("/events", params={"resource": project, "sync": token})
    assert expired.status_code == 412
    assert (
        api.get("/events", params={"resource": project, "sync": expired.json()["sync"]}).status_code
        == 200
    )


def test_sync_token_expires_after_too_many_events(
    demo: type[Demo], make_client: ClientFactory
) -> None:
    """--sync-token-max-events: a token older than the retained events is stale."""
    with (
        running_sandbox(extra_args=["--sync-token-max-events", "2"]) as server,
        make_client(server) as api,
    ):
        project = demo.project_named(api, "Client projects")
        token = api.get("/events", params={"resource": project}).json()["sync"]
        task = api.get(f"/projects/{project}/tasks").json()["data"][0]["gid"]
        for name in ("one", "two", "three"):
            api.put(f"/tasks/{task}", json={"data": {"name": name}})
        assert api.get("/events", params={"resource": project, "sync": token}).status_code == 412


def test_memberships_and_parents(api: ValidatingClient, demo: type[Demo]) -> None:
    """addProject, removeProject and setParent change memberships and the subtask tree."""
    board = demo.project_named(api, "Client projects")
    other = demo.project_named(api, "Website relaunch")
    task = api.post("/tasks", json={"data": {"name": "Floating", "projects": [board]}}).json()[
        "data"
    ]
    sections = api.get(f"/projects/{other}/sections").json()["data"]
    api.post(
        f"/tasks/{task['gid']}/addProject",
        json={"data": {"project": other, "section": sections[1]["gid"]}},
    )
    tasks = api.get(f"/sections/{sections[1]['gid']}/tasks").json()["data"]
    assert task["gid"] in [t["gid"] for t in tasks]
    api.post(f"/tasks/{task['gid']}/removeProject", json={"data": {"project": board}})
    projects = api.get(f"/tasks/{task['gid']}", params={"opt_fields": "projects.name"}).json()[
        "data"
    ]["projects"]
    assert projects == [{"gid": other, "name": "Website relaunch"}]
    parent = api.get(f"/projects/{other}/tasks").json()["data"][0]["gid"]
    moved = api.post(
        f"/tasks/{task['gid']}/setParent", json={"data": {"parent": parent}, "opt_fields": None}
    )
    assert moved.json()["data"]["parent"]["gid"] == parent
    assert task["gid"] in [t["gid"] for t in api.get(f"/tasks/{parent}/subtasks").json()["data"]]
    assert (
        api.post(f"/tasks/{parent}/setParent", json={"data": {"parent": task["gid"]}}).status_code
        == 400
    )


def test_read_only_token_is_403(demo: type[Demo], make_client: ClientFactory) -> None:
    """A token without write access reads but gets 403 on writes."""
    with (
        running_sandbox(extra_args=["--read-only-token", "reader"]) as server,
        make_client(server, "reader") as api,
    ):
        workspace = demo.org(api)
        assert api.put(f"/workspaces/{workspace}", json={"data": {"name": "x"}}).status_code == 403


def test_state_persists_in_the_data_file(
    tmp_path: Path, demo: type[Demo], make_client: ClientFactory
) -> None:
    """With --data, writes survive a restart; the file is replaced atomically."""
    data = tmp_path / "asana.json"
    with running_sandbox(data_file=data) as server, make_client(server) as api:
        created = api.post(
            "/tasks", json={"data": {"name": "Survivor", "workspace": demo.org(api)}}
        ).json()["data"]
    assert data.exists()
    assert not list(tmp_path.glob(".asana.json.*"))
    with running_sandbox(data_file=data) as server, make_client(server) as api:
        assert api.get(f"/tasks/{created['gid']}").json()["data"]["name"] == "Survivor"
        again = api.post(
            "/tasks", json={"data": {"name": "Next", "workspace": demo.org(api)}}
        ).json()["data"]
        assert int(again["gid"]) > int(created["gid"])


def test_stats_count_requests_writes_and_batch_actions(
    asana_sandbox, api: ValidatingClient, demo: type[Demo]
) -> None:
    """/_sandbox/stats counts calls by route; batch actions count one by one."""
    asana_sandbox.reset_stats()
    workspace = demo.org(api)
    api.post(
        "/batch",
        json={
            "data": {
                "actions": [
                    {
                        "relative_path": "/tasks",
                        "method": "post",
                        "data": {"name": f"T{i}", "workspace": workspace},
                    }
                    for i in range(3)
                ]
            }
        },
    )
    stats = asana_sandbox.stats()
    assert stats["requests"]["POST /api/1.0/tasks"] == 3
    assert stats["requests"]["POST /api/1.0/batch"] == 1
    assert stats["writes"] == 3
    assert stats["batch_actions"] == 3
    assert stats["requests"]["GET /api/1.0/workspaces"] == 1


def test_admin_act_edits_as_another_user(
    asana_sandbox, api: ValidatingClient, demo: type[Demo]
) -> None:
    """/_sandbox/act changes data as a named user without touching quota or stats."""
    project = demo.project_named(api, "Client projects")
    token = api.get("/events", params={"resource": project}).json()["sync"]
    users = api.get(f"/workspaces/{demo.org(api)}/users").json()["data"]
    task = api.get(f"/projects/{project}/tasks").json()["data"][0]["gid"]
    asana_sandbox.reset_stats()
    asana_sandbox.act("put", f"/tasks/{task}", {"name": "Edited by Priya"}, user=users[1]["gid"])
    assert asana_sandbox.stats()["requests_total"] == 0
    event = api.get("/events", params={"resource": project, "sync": token}).json()["data"][0]
    assert event["user"]["gid"] == users[1]["gid"]


def test_latency_is_async_and_concurrency_is_limited(make_client: ClientFactory) -> None:
    """Calls sleeping in --latency-ms overlap (the server is async), so a third concurrent
    read beyond --max-concurrent-reads 2 is refused with 429 instead of queueing."""
    import concurrent.futures

    args = ["--max-concurrent-reads", "2"]
    with running_sandbox(latency_ms=1000, extra_args=args) as server:

        def call(_: int) -> int:
            with make_client(server) as api:
                return api.get("/workspaces").status_code

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            statuses = sorted(pool.map(call, range(6)))
        stats = server.stats()
    assert statuses.count(200) >= 2
    assert 429 in statuses
    assert stats["concurrency_limited"] == statuses.count(429)


def test_rejected_update_changes_nothing(api: ValidatingClient, demo: type[Demo]) -> None:
    """A 400 on PUT leaves the record as it was (no half-applied fields)."""
    board = demo.project_named(api, "Client projects")
    task = api.get(f"/projects/{board}/tasks").json()["data"][0]
    before = api.get(f"/tasks/{task['gid']}").json()["data"]
    bad = {"name": "Half applied?", "start_on": "2030-01-02", "due_on": "2030-01-01"}
    assert api.put(f"/tasks/{task['gid']}", json={"data": bad}).status_code == 400
    assert api.get(f"/tasks/{task['gid']}").json()["data"] == before


def test_events_come_in_pages_of_100_with_has_more(api: ValidatingClient, demo: type[Demo]) -> None:
    """More than 100 new events: has_more, and the next token picks up the rest."""
    board = demo.project_named(api, "Client projects")
    token = api.get("/events", params={"resource": board}).json()["sync"]
    task = api.get(f"/projects/{board}/tasks").json()["data"][0]["gid"]
    for index in range(105):
        api.put(f"/tasks/{task}", json={"data": {"name": f"Version {index}"}})
    first = api.get("/events", params={"resource": board, "sync": token}).json()
    assert (len(first["data"]), first["has_more"]) == (100, True)
    rest = api.get("/events", params={"resource": board, "sync": first["sync"]}).json()
    assert (len(rest["data"]), rest["has_more"]) == (5, False)
