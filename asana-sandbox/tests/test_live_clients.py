"""Requests shaped like those of long-lived clients of the live API, replayed on the sandbox.

Clients written for Asana years ago still ask for retired fields (``is_template`` on
projects), misspell some (``is_rendered_as_seperator``, a typo shipped in a public tap), send
date-times without a zone and reuse offsets from earlier pages. Live Asana answers all of
them; so must the sandbox, and every answer must still validate against the description.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asana_sandbox.conformance import ValidatingClient
from asana_sandbox.testing import SandboxServer

if TYPE_CHECKING:
    from conftest import Demo


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
