"""Requests shaped like those of long-lived clients of the live API, replayed on the sandbox.

Clients written for Asana years ago still ask for retired fields (``is_template`` on
projects), misspell some (``is_rendered_as_seperator``, a typo shipped in a public tap), send
date-times without a zone and reuse offsets from earlier pages. Live Asana answers all of
them; so must the sandbox, and every answer must still validate against the description:
each call here goes through ``ValidatingClient``, which fails the test on an answer the
description does not declare.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from asana_sandbox.conformance import ValidatingClient
from asana_sandbox.testing import SandboxServer, running_sandbox

if TYPE_CHECKING:
    from conftest import ClientFactory, Demo


def test_unknown_and_retired_opt_fields_are_ignored_and_counted(
    asana_sandbox: SandboxServer, api: ValidatingClient, demo: type[Demo]
) -> None:
    """200 without the unknown fields; /_sandbox/stats names each one it ignored."""
    asana_sandbox.reset_stats()
    org = demo.org(api)
    projects = api.get(
        "/projects", params={"workspace": org, "opt_fields": "name,is_template,archived"}
    )
    assert projects.status_code == 200, projects.text
    assert all(set(p) == {"gid", "name", "archived"} for p in projects.json()["data"])
    board = demo.project_named(api, "Client projects")
    fields = "name,is_rendered_as_seperator,asignee.email,modified_at"
    tasks = api.get("/tasks", params={"project": board, "opt_fields": fields, "limit": 5})
    assert tasks.status_code == 200, tasks.text
    assert all(set(t) == {"gid", "name", "modified_at"} for t in tasks.json()["data"])
    one = api.get(f"/tasks/{tasks.json()['data'][0]['gid']}", params={"opt_fields": fields})
    assert one.status_code == 200
    assert set(one.json()["data"]) == {"gid", "name", "modified_at"}
    assert asana_sandbox.stats()["unknown_opt_fields"] == {
        "is_template": 1,
        "is_rendered_as_seperator": 2,
        "asignee.email": 2,
    }


def test_a_date_time_without_a_zone_is_utc(api: ValidatingClient, demo: type[Demo]) -> None:
    """``modified_since=2000-01-01T00:00:00.000000`` (no zone) reads as UTC, like live Asana."""
    board = demo.project_named(api, "Client projects")
    everything = api.get("/tasks", params={"project": board}).json()["data"]
    old = api.get(
        "/tasks", params={"project": board, "modified_since": "2000-01-01T00:00:00.000000"}
    )
    assert old.status_code == 200, old.text
    assert old.json()["data"] == everything
    edited = api.put(f"/tasks/{everything[0]['gid']}", json={"data": {"name": "Edited"}}).json()
    stamp = edited["data"]["modified_at"]  # e.g. 2026-07-01T10:11:12.345Z
    naive = stamp.removesuffix("Z")
    since = api.get("/tasks", params={"project": board, "modified_since": naive}).json()["data"]
    assert [t["gid"] for t in since] == [everything[0]["gid"]]


def test_limit_at_its_bounds(api: ValidatingClient, demo: type[Demo]) -> None:
    """limit=1 and limit=100 page as Asana does; 0 and 101 are 400s, as live."""
    org = demo.org(api)
    board = demo.project_named(api, "Client projects")
    lists = (
        ("/tasks", {"project": board}),
        (f"/projects/{board}/tasks", {}),
        ("/projects", {"workspace": org}),
        (f"/workspaces/{org}/projects", {}),
        (f"/workspaces/{org}/teams", {}),
    )
    for path, params in (*lists, (f"/workspaces/{org}/users", {})):
        paginated = (path, params) in lists  # the users lists are not paginated (description)
        one = api.get(path, params={**params, "limit": 1})
        assert one.status_code == 200, (path, one.text)
        assert (len(one.json()["data"]) == 1) is paginated
        everything = api.get(path, params={**params, "limit": 100})
        assert everything.status_code == 200, (path, everything.text)
        assert len(everything.json()["data"]) <= 100
        for bad in (0, 101):
            refused = api.get(path, params={**params, "limit": bad})
            assert refused.status_code == 400, (path, bad, refused.text)
            assert refused.json()["errors"][0]["message"].startswith("limit:")
    paged = api.get("/tasks", params={"project": board, "limit": 1}).json()
    assert paged["next_page"]["path"].startswith(f"/tasks?project={board}&limit=1&offset=")
    last = api.get("/tasks", params={"project": board, "limit": 100}).json()
    assert last["next_page"] is None
    assert len(last["data"]) == 10


def _page(api: ValidatingClient, path: str, offset: str | None = None) -> dict[str, Any]:
    params = {"limit": 3, **({"offset": offset} if offset else {})}
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_an_offset_from_an_earlier_page_still_works_within_its_ttl(
    demo: type[Demo], make_client: ClientFactory
) -> None:
    """Clients retry a page with the offset they already used: same page again."""
    with (
        running_sandbox(extra_args=["--offset-ttl-s", "3600"]) as server,
        make_client(server) as api,
    ):
        path = f"/projects/{demo.project_named(api, 'Client projects')}/tasks"
        first = _page(api, path)
        second = _page(api, path, first["next_page"]["offset"])
        third = _page(api, path, second["next_page"]["offset"])
        again = _page(api, path, first["next_page"]["offset"])
        assert again["data"] == second["data"]
        assert again["next_page"]["offset"]
        assert third["data"] != second["data"]


def test_offsets_answer_400_after_their_ttl(demo: type[Demo], make_client: ClientFactory) -> None:
    """--offset-ttl-s: offsets of earlier pages expire (400, Asana's error body); a new walk
    from the first page works."""
    with (
        running_sandbox(extra_args=["--offset-ttl-s", "1"]) as server,
        make_client(server) as api,
    ):
        path = f"/projects/{demo.project_named(api, 'Client projects')}/tasks"
        first = _page(api, path)
        second = _page(api, path, first["next_page"]["offset"])
        time.sleep(1.5)
        server.reset_stats()
        for page in (first, second):
            stale = api.get(path, params={"limit": 3, "offset": page["next_page"]["offset"]})
            assert stale.status_code == 400
            assert "expired" in stale.json()["errors"][0]["message"]
        assert server.stats()["offsets_expired"] == 2
        fresh = _page(api, path)
        assert _page(api, path, fresh["next_page"]["offset"])["data"] == second["data"]
