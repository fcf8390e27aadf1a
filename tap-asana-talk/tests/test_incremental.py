"""Incremental behaviour against the sandbox: changes only, subtasks, deletes, 412, resume."""

from __future__ import annotations

from typing import Any

import pytest
from asana_sandbox.testing import SandboxServer
from tap_asana_talk.streams import TasksStream
from tap_asana_talk.testing import run_tap, tap_config

# In the demo seed: the "Client projects" board, one engagement with three subtasks, and
# two more engagements with subtasks of their own.
BOARD = "1200000000000014"
PARENT = "1200000000000019"
SUBTASK = "1200000000000020"
RENAMED = "1200000000000023"
DELETED = "1200000000000028"


def children_of(tasks: dict[str, dict[str, Any]], parent: str) -> set[str]:
    return {gid for gid, task in tasks.items() if (task.get("parent") or {}).get("gid") == parent}


def in_project(tasks: dict[str, dict[str, Any]], project: str) -> set[str]:
    """Tasks of a project, with every subtask below them."""

    def member(task: dict[str, Any]) -> bool:
        if any(m["project"]["gid"] == project for m in task.get("memberships") or []):
            return True
        parent = (task.get("parent") or {}).get("gid")
        return parent in tasks and member(tasks[parent])

    return {gid for gid, task in tasks.items() if member(task)}


def test_second_run_emits_only_what_changed(sandbox: SandboxServer) -> None:
    config = tap_config(sandbox)
    first = run_tap(config)
    tasks = first.by_gid("tasks")
    assert tasks[SUBTASK]["parent"]["gid"] == PARENT
    doomed_subtasks = children_of(tasks, DELETED)
    assert doomed_subtasks

    sandbox.act("put", f"/tasks/{RENAMED}", {"name": "Renamed in Asana"})
    sandbox.act("put", f"/tasks/{SUBTASK}", {"name": "Kickoff workshop, rescheduled"})
    sandbox.act("delete", f"/tasks/{DELETED}")
    second = run_tap(config, first.state)

    changed = second.by_gid("tasks")
    assert set(changed) == {RENAMED, SUBTASK, DELETED} | doomed_subtasks
    assert changed[RENAMED]["name"] == "Renamed in Asana"
    assert changed[SUBTASK]["name"] == "Kickoff workshop, rescheduled"
    assert changed[SUBTASK]["is_deleted"] is False
    assert all(changed[gid]["is_deleted"] for gid in {DELETED} | doomed_subtasks)
    assert PARENT not in changed  # a subtask edit does not touch its parent

    third = run_tap(config, second.state)
    assert third.records("tasks") == []


def test_no_change_run_costs_one_request_per_project(sandbox: SandboxServer) -> None:
    config = tap_config(sandbox)
    first = run_tap(config)
    sandbox.reset_stats()
    run_tap(config, first.state)

    requests = sandbox.stats()["requests"]
    assert requests["GET /api/1.0/events"] == len(first.records("projects"))
    assert not [route for route in requests if "/tasks" in route]


def test_expired_sync_token_rescans_only_that_project(sandbox: SandboxServer) -> None:
    config = tap_config(sandbox, lookback_window_seconds=0)
    first = run_tap(config)

    sandbox.act("put", f"/tasks/{SUBTASK}", {"name": "Edited while the token expired"})
    sandbox.expire_sync_tokens(resource=BOARD)  # the edit's event goes with the old log
    sandbox.reset_stats()
    second = run_tap(config, first.state)

    # The board is listed again, subtasks included, and what changed since is emitted.
    assert second.by_gid("tasks")[SUBTASK]["name"] == "Edited while the token expired"
    assert set(second.by_gid("tasks")) == {SUBTASK}
    requests = sandbox.stats()["requests"]
    assert requests["GET /api/1.0/tasks"] == 1  # the board's listing, no other project's
    assert requests["GET /api/1.0/tasks/{task_gid}/subtasks"] >= 1
    # The fresh token works: nothing more next time.
    assert run_tap(config, second.state).records("tasks") == []


def test_inaccessible_project_is_skipped_with_a_warning(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    missing = "1299999999999999"
    run = run_tap(tap_config(sandbox, project_gids=[BOARD, missing]))

    assert missing in caplog.text
    assert {p["gid"] for p in run.records("projects")} == {BOARD}
    assert PARENT in run.by_gid("tasks")
    (unreadable,) = run.records("unreadable")  # the targets list it in their reports
    assert (unreadable["record"], unreadable["status"]) == (f"asana-project:{missing}", 404)


def test_interrupted_run_resumes_without_losing_changes(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(TasksStream, "STATE_MSG_FREQUENCY", 1)
    config = tap_config(sandbox)
    full = run_tap(config)
    everything = set(full.by_gid("tasks"))

    # Pretend the run died halfway through the tasks: keep what a target saw until then.
    task_positions = [
        i for i, m in enumerate(full.messages) if m["type"] == "RECORD" and m["stream"] == "tasks"
    ]
    cut = task_positions[len(task_positions) // 2]
    checkpoint = next(m["value"] for m in reversed(full.messages[:cut]) if m["type"] == "STATE")
    seen = {
        m["record"]["gid"]
        for m in full.messages[:cut]
        if m["type"] == "RECORD" and m["stream"] == "tasks"
    }
    assert 0 < len(checkpoint["bookmarks"]["tasks"]["projects"]) < len(full.records("projects"))

    sandbox.act("put", f"/tasks/{SUBTASK}", {"name": "Edited while the tap was down"})
    resumed = run_tap(config, checkpoint)

    assert seen | set(resumed.by_gid("tasks")) >= everything
    assert resumed.by_gid("tasks")[SUBTASK]["name"] == "Edited while the tap was down"


def test_task_moved_into_a_project_brings_its_subtasks(sandbox: SandboxServer) -> None:
    config = tap_config(sandbox)
    workspace = run_tap(config).records("workspaces")[0]["gid"]
    loose = sandbox.act("post", "/tasks", {"name": "Loose task", "workspace": workspace})["data"]
    child = sandbox.act("post", f"/tasks/{loose['gid']}/subtasks", {"name": "Its subtask"})["data"]
    first = run_tap(config)
    assert loose["gid"] not in first.by_gid("tasks")  # in no project yet

    sandbox.act("post", f"/tasks/{loose['gid']}/addProject", {"project": BOARD})
    second = run_tap(config, first.state)

    assert set(second.by_gid("tasks")) == {loose["gid"], child["gid"]}
    assert second.by_gid("tasks")[child["gid"]]["parent"]["gid"] == loose["gid"]


def test_streams_come_parents_first(sandbox: SandboxServer) -> None:
    """Workspaces, teams, users, projects, tasks, then what could not be read: a target
    then meets a record's customer or project before the record (no waiting on order)."""
    run = run_tap(tap_config(sandbox))
    order = [message["stream"] for message in run.messages if message["type"] == "SCHEMA"]
    assert order == ["workspaces", "teams", "users", "projects", "tasks", "unreadable"]
    tasks = run.records("tasks")
    position = {task["gid"]: index for index, task in enumerate(tasks)}
    subtasks = [task for task in tasks if task.get("parent")]
    assert subtasks
    assert all(position[task["parent"]["gid"]] < position[task["gid"]] for task in subtasks)
