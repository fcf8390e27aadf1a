"""The live API's rules: late and lost events, subtask edits outside their project's events,
expiring offsets, large domains and deleted projects (issue #12)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from asana_sandbox.testing import SandboxServer, running_sandbox
from talk_sync import asana_api
from tap_asana_talk.client import AsanaStream
from tap_asana_talk.testing import run_tap, tap_config

RENAMED = "1200000000000023"  # a top-level task
SUBTASK = "1200000000000020"  # a subtask of a board task
PROJECT = "1200000000000064"  # "Website relaunch"

#: With these, every run of the tap is due a full scan.
EVERY_RUN = {"full_scan_interval_hours": 0, "lookback_window_seconds": 0}


def test_an_edit_whose_event_is_lost_arrives_with_the_next_full_scan() -> None:
    with running_sandbox(extra_args=["--event-drop-rate", "1"]) as sandbox:
        first = run_tap(tap_config(sandbox, lookback_window_seconds=0))
        sandbox.act("put", f"/tasks/{RENAMED}", {"name": "Renamed, event lost"})

        not_due = run_tap(tap_config(sandbox, lookback_window_seconds=0), first.state)
        assert not_due.records("tasks") == []  # no event, and no full scan due for 24 h

        due = run_tap(tap_config(sandbox, **EVERY_RUN), not_due.state)
        assert set(due.by_gid("tasks")) == {RENAMED}  # only what changed since the last scan
        assert due.by_gid("tasks")[RENAMED]["name"] == "Renamed, event lost"


def test_a_subtask_edit_missing_from_its_projects_events_arrives_with_the_full_scan() -> None:
    with running_sandbox(extra_args=["--subtask-events", "none"]) as sandbox:
        config = tap_config(sandbox, **EVERY_RUN)
        first = run_tap(config)
        sandbox.act("put", f"/tasks/{SUBTASK}", {"name": "Subtask edited, no event"})

        second = run_tap(config, first.state)
        assert set(second.by_gid("tasks")) == {SUBTASK}
        assert second.by_gid("tasks")[SUBTASK]["name"] == "Subtask edited, no event"
        assert run_tap(config, second.state).records("tasks") == []


def test_an_expired_offset_restarts_the_listing_and_skips_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(asana_api, "PAGE_SIZE", 5)
    with running_sandbox(extra_args=["--offset-ttl-s", "1"]) as sandbox:
        config = tap_config(sandbox)
        expected = run_tap(config)
        sandbox.reset_stats()

        get_json = AsanaStream.get_json
        stalled: list[str] = []

        def stall_once(self: AsanaStream, path: str, params: dict[str, Any] | None = None) -> Any:
            if (params or {}).get("offset") and path == "/tasks" and not stalled:
                stalled.append(path)
                time.sleep(1.5)  # the offset is now older than the sandbox's 1 s
            return get_json(self, path, params)

        monkeypatch.setattr(AsanaStream, "get_json", stall_once)
        run = run_tap(config)
        assert stalled
        assert sandbox.stats()["offsets_expired"] == 1

    assert run.by_gid("tasks") == expected.by_gid("tasks")
    assert len(run.records("tasks")) == len(expected.records("tasks"))  # none twice


def test_a_large_domain_is_listed_per_team(sandbox: SandboxServer) -> None:
    expected = {p["gid"] for p in run_tap(tap_config(sandbox)).records("projects")}
    with running_sandbox(extra_args=["--large-domain-projects", "1"]) as large:
        run = run_tap(tap_config(large, max_retries=0))
        assert large.stats()["large_domain_timeouts"] == 0
    assert {p["gid"] for p in run.records("projects")} == expected
    assert len(expected) > 1


def test_a_deleted_project_is_emitted_as_deleted(sandbox: SandboxServer) -> None:
    config = tap_config(sandbox)
    first = run_tap(config)
    assert PROJECT in first.by_gid("projects")

    sandbox.act("delete", f"/projects/{PROJECT}")
    second = run_tap(config, first.state)

    deleted = second.by_gid("projects")[PROJECT]
    assert deleted["is_deleted"] is True
    others = [p for gid, p in second.by_gid("projects").items() if gid != PROJECT]
    assert not [p for p in others if p["is_deleted"]]
    assert run_tap(config, second.state).by_gid("projects").get(PROJECT) is None  # once
