"""The official ``asana`` v5 Python client drives the sandbox with only ``host`` changed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asana
import pytest
from asana.rest import ApiException
from asana_sandbox.testing import SandboxServer, running_sandbox


@pytest.fixture(scope="module")
def big_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """A synthetic workspace with 250 tasks in one project (three SDK pages of 100)."""
    data = tmp_path_factory.mktemp("asana") / "synthetic.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "asana_sandbox.cli",
            "seed",
            "--out",
            str(data),
            "--projects",
            "1",
            "--tasks",
            "250",
            "--subtasks",
            "20",
        ],
        check=True,
        capture_output=True,
    )
    with running_sandbox(seed=None, data_file=Path(data)) as server:
        yield server


def _client(server: SandboxServer) -> asana.ApiClient:
    configuration = asana.Configuration()
    configuration.host = server.api_url
    configuration.access_token = server.token
    return asana.ApiClient(configuration)


def test_official_client_lists_creates_updates_and_deletes(big_sandbox: SandboxServer) -> None:
    """List with pagination, then create, update and delete a task through the SDK."""
    client = _client(big_sandbox)
    workspaces = list(asana.WorkspacesApi(client).get_workspaces({"opt_fields": "name"}))
    workspace = workspaces[0]["gid"]
    projects = list(
        asana.ProjectsApi(client).get_projects_for_workspace(workspace, {"opt_fields": "name"})
    )
    project = projects[0]["gid"]
    big_sandbox.reset_stats()
    tasks = list(
        asana.TasksApi(client).get_tasks({"project": project, "opt_fields": "name,modified_at"})
    )
    assert len(tasks) == 250
    assert len({t["gid"] for t in tasks}) == 250
    assert big_sandbox.stats()["requests"]["GET /api/1.0/tasks"] == 3  # 100 + 100 + 50

    tasks_api = asana.TasksApi(client)
    created = tasks_api.create_task(
        {"data": {"name": "Written by the SDK", "projects": [project], "due_on": "2026-09-01"}},
        {"opt_fields": "name,due_on,memberships.project.name"},
    )
    assert created["name"] == "Written by the SDK"
    assert created["memberships"][0]["project"]["gid"] == project
    updated = tasks_api.update_task(
        {"data": {"completed": True}}, created["gid"], {"opt_fields": "completed"}
    )
    assert updated["completed"] is True
    tasks_api.delete_task(created["gid"])
    with pytest.raises(ApiException) as raised:
        tasks_api.get_task(created["gid"], {})
    assert raised.value.status == 404


def test_official_client_with_a_long_lived_clients_requests(big_sandbox: SandboxServer) -> None:
    """Retired and misspelt opt_fields and a zone-less modified_since, as old code sends them:
    the SDK pages through all 250 tasks; the sandbox names the fields it ignored."""
    client = _client(big_sandbox)
    workspace = next(iter(asana.WorkspacesApi(client).get_workspaces({})))["gid"]
    big_sandbox.reset_stats()
    projects = list(
        asana.ProjectsApi(client).get_projects_for_workspace(
            workspace, {"opt_fields": "name,is_template,archived"}
        )
    )
    assert projects
    assert all("is_template" not in p for p in projects)
    tasks = list(
        asana.TasksApi(client).get_tasks(
            {
                "project": projects[0]["gid"],
                "modified_since": "2000-01-01T00:00:00.000000",
                "opt_fields": "name,is_rendered_as_seperator,modified_at",
            }
        )
    )
    assert len(tasks) == 250
    assert big_sandbox.stats()["unknown_opt_fields"] == {
        "is_rendered_as_seperator": 3,  # one per page
        "is_template": 1,
    }


def test_official_client_reads_events_after_412(big_sandbox: SandboxServer) -> None:
    """The SDK's event iterator recovers from the first 412; the raw call sees a change."""
    client = _client(big_sandbox)
    project = next(iter(asana.ProjectsApi(client).get_projects({"opt_fields": "name"})))["gid"]
    events_api = asana.EventsApi(client)
    assert list(events_api.get_events(project, {})) == []  # 412 handled inside the SDK
    with pytest.raises(ApiException) as raised:
        events_api.get_events(project, {}, full_payload=True)
    assert raised.value.status == 412
    sync = json.loads(raised.value.body)["sync"]
    task = next(iter(asana.TasksApi(client).get_tasks_for_project(project, {})))["gid"]
    asana.TasksApi(client).update_task({"data": {"name": "Seen by events"}}, task, {})
    payload = events_api.get_events(project, {"sync": sync}, full_payload=True)
    assert [(e["action"], e["resource"]["gid"]) for e in payload["data"]] == [("changed", task)]
    assert payload["sync"]
    assert payload["has_more"] is False
