"""The ``serve`` switches that make the sandbox behave like the live API at its least kind.

Each defaults to the deterministic behaviour the other tests rely on; switched on, it
imitates something the live API does: events arrive late or never, a subtask's changes
stay out of its project's stream, listing every project of a large organization times
out, and a batch's actions run in any order. (Expiring offsets, ``--offset-ttl-s``, are in
test_live_clients.py.)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
from asana_sandbox.errors import ApiError
from asana_sandbox.events import EventHub
from asana_sandbox.testing import running_sandbox

if TYPE_CHECKING:
    from asana_sandbox.conformance import ValidatingClient
    from conftest import ClientFactory, Demo


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _event(name: str) -> dict[str, Any]:
    return {"action": "changed", "resource": {"gid": "2", "name": name}}


def test_delayed_events_arrive_late_and_the_token_does_not_skip_them() -> None:
    """--event-delay-s: an event is invisible until the delay has passed, then the token
    handed out meanwhile delivers it (once)."""
    clock = FakeClock()
    hub = EventHub(delay_seconds=60, clock=clock)
    with pytest.raises(ApiError) as first_call:  # a 412 that hands out the first token
        hub.read("1", None)
    token = first_call.value.extra["sync"]
    hub.publish(_event("early"), ["1"])
    clock.now += 30
    hub.publish(_event("later"), ["1"])
    first = hub.read("1", token)
    assert first["data"] == []
    clock.now += 31  # "early" is 61 s old, "later" 31 s
    second = hub.read("1", first["sync"])
    assert [e["resource"]["name"] for e in second["data"]] == ["early"]
    clock.now += 30
    third = hub.read("1", second["sync"])
    assert [e["resource"]["name"] for e in third["data"]] == ["later"]
    assert hub.read("1", third["sync"])["data"] == []


def _sync(api: ValidatingClient, resource: str) -> str:
    response = api.get("/events", params={"resource": resource})
    assert response.status_code == 412
    return response.json()["sync"]


def test_events_are_delayed_on_the_server(demo: type[Demo], make_client: ClientFactory) -> None:
    """With a delay the change is not in the stream yet, and the token stays valid."""
    with (
        running_sandbox(extra_args=["--event-delay-s", "3600"]) as server,
        make_client(server) as api,
    ):
        board = demo.project_named(api, "Client projects")
        token = _sync(api, board)
        task = api.get(f"/projects/{board}/tasks").json()["data"][0]["gid"]
        api.put(f"/tasks/{task}", json={"data": {"name": "Not yet visible"}})
        for _ in range(3):
            body = api.get("/events", params={"resource": board, "sync": token})
            assert body.status_code == 200
            assert body.json()["data"] == []
            token = body.json()["sync"]
    with (
        running_sandbox(extra_args=["--event-delay-s", "0.3"]) as server,
        make_client(server) as api,
    ):
        token = _sync(api, board)
        api.put(f"/tasks/{task}", json={"data": {"name": "Visible soon"}})
        seen: list[dict[str, Any]] = []
        for _ in range(200):  # polls until it arrives; the bound only stops a broken server
            body = api.get("/events", params={"resource": board, "sync": token}).json()
            seen += body["data"]
            token = body["sync"]
            if seen:
                break
            time.sleep(0.05)
        assert [(e["action"], e["resource"]["gid"]) for e in seen] == [("changed", task)]
        assert api.get("/events", params={"resource": board, "sync": token}).json()["data"] == []


def _delivered(demo: type[Demo], make_client: ClientFactory, seed: int) -> tuple[list[str], int]:
    with (
        running_sandbox(fault_seed=seed, extra_args=["--event-drop-rate", "0.5"]) as server,
        make_client(server) as api,
    ):
        board = demo.project_named(api, "Client projects")
        token = _sync(api, board)
        task = api.get(f"/projects/{board}/tasks").json()["data"][0]["gid"]
        for index in range(40):
            api.put(f"/tasks/{task}", json={"data": {"name": f"Version {index}"}})
        events = api.get("/events", params={"resource": board, "sync": token}).json()["data"]
        return [e["resource"]["name"] for e in events], server.stats()["events_dropped"]


def test_a_share_of_events_is_never_delivered(demo: type[Demo], make_client: ClientFactory) -> None:
    """--event-drop-rate: some changes never show up; the same --fault-seed drops the same."""
    names, dropped = _delivered(demo, make_client, seed=11)
    assert 0 < len(names) < 40
    assert dropped == 40 - len(names)
    assert _delivered(demo, make_client, seed=11) == (names, dropped)


def test_subtask_changes_can_stay_out_of_the_project_stream(
    demo: type[Demo], make_client: ClientFactory
) -> None:
    """--subtask-events none: the project's stream misses a subtask's field change (its
    task's stream still sees it) but not a change of a top-level task."""
    with (
        running_sandbox(extra_args=["--subtask-events", "none"]) as server,
        make_client(server) as api,
    ):
        project = demo.project_named(api, "Website relaunch")
        parent = demo.task_with_subtasks(api, project)
        sub = api.get(f"/tasks/{parent['gid']}/subtasks").json()["data"][0]
        project_token, parent_token = _sync(api, project), _sync(api, parent["gid"])
        api.put(f"/tasks/{sub['gid']}", json={"data": {"name": "Quiet edit"}})
        api.put(f"/tasks/{parent['gid']}", json={"data": {"name": "Loud edit"}})
        in_project = api.get("/events", params={"resource": project, "sync": project_token})
        assert [e["resource"]["gid"] for e in in_project.json()["data"]] == [parent["gid"]]
        in_parent = api.get("/events", params={"resource": parent["gid"], "sync": parent_token})
        assert [e["resource"]["gid"] for e in in_parent.json()["data"]] == [
            sub["gid"],
            parent["gid"],
        ]


def test_listing_every_project_of_a_large_organization_times_out(
    demo: type[Demo], make_client: ClientFactory
) -> None:
    """--large-domain-projects N: the organization-wide lists answer 504, per team works."""
    with (
        running_sandbox(extra_args=["--large-domain-projects", "5"]) as server,
        make_client(server) as api,
    ):
        workspaces = api.get("/workspaces", params={"opt_fields": "is_organization"}).json()
        org = next(w["gid"] for w in workspaces["data"] if w["is_organization"])
        personal = next(w["gid"] for w in workspaces["data"] if not w["is_organization"])
        for path, params in (
            ("/projects", {"workspace": org}),
            ("/projects", {"workspace": org, "limit": 10}),
            (f"/workspaces/{org}/projects", {}),
            ("/projects", {}),
        ):
            response = api.get(path, params=params)
            assert response.status_code == 504, (path, params, response.text)
            assert response.json()["errors"][0]["message"]
        teams = api.get(f"/workspaces/{org}/teams").json()["data"]
        per_team = [
            p["name"] for t in teams for p in api.get(f"/teams/{t['gid']}/projects").json()["data"]
        ]
        assert len(per_team) == 7
        assert api.get("/projects", params={"team": teams[0]["gid"]}).status_code == 200
        assert api.get("/projects", params={"workspace": personal}).status_code == 200
        assert server.stats()["large_domain_timeouts"] == 4


def _renames(
    demo: type[Demo], make_client: ClientFactory, extra_args: list[str]
) -> tuple[list[str], list[list[str]], dict[str, Any]]:
    """Five batches, each renaming one task ten times; the name each batch left, the names
    each answered (in the listed order), and the stats."""
    with running_sandbox(extra_args=extra_args) as server, make_client(server) as api:
        project = demo.project_named(api, "Website relaunch")
        task = api.get(f"/projects/{project}/tasks").json()["data"][0]["gid"]
        left, answered = [], []
        for batch in range(5):
            names = [f"v{batch}.{n}" for n in range(10)]
            actions = [
                {"relative_path": f"/tasks/{task}", "method": "put", "data": {"name": name}}
                for name in names
            ]
            results = api.post("/batch", json={"data": {"actions": actions}}).json()["data"]
            answered.append([r["body"]["data"]["name"] for r in results])
            left.append(api.get(f"/tasks/{task}").json()["data"]["name"])
        # Reads, creates and writes to distinct records are not racing writes.
        mixed = [
            {"relative_path": f"/tasks/{task}", "method": "get"},
            {"relative_path": f"/tasks/{task}", "method": "put", "data": {"notes": "x"}},
            {
                "relative_path": "/tasks",
                "method": "post",
                "data": {"name": "New", "projects": [project]},
            },
            {"relative_path": f"/projects/{project}", "method": "put", "data": {"notes": "y"}},
        ]
        assert api.post("/batch", json={"data": {"actions": mixed}}).status_code == 200
        return left, answered, server.stats()


def test_batch_actions_run_in_a_shuffled_order_and_racing_writes_are_counted(
    demo: type[Demo], make_client: ClientFactory
) -> None:
    """--batch-order shuffled: a batch's actions run in an order of the sandbox's choosing
    (the same for the same --fault-seed), answered in the listed order; by default, listed.
    A batch writing one record twice is counted either way (live, the two would race)."""
    listed = [f"v{batch}.9" for batch in range(5)]
    each_own = [[f"v{batch}.{n}" for n in range(10)] for batch in range(5)]
    left, answered, stats = _renames(demo, make_client, [])
    assert (left, answered, stats["batch_same_record_writes"]) == (listed, each_own, 5)
    shuffled = ["--batch-order", "shuffled", "--fault-seed", "7"]
    left, answered, stats = _renames(demo, make_client, shuffled)
    assert left != listed
    assert (answered, stats["batch_same_record_writes"]) == (each_own, 5)
    assert _renames(demo, make_client, shuffled)[0] == left
