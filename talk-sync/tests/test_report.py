"""The per-run report: counters per flow, conflict and reject details, table and JSON."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

import pytest
from talk_sync.merge import merge
from talk_sync.refs import Side
from talk_sync.report import Outcome, RunReport

NEXT_TRY = datetime(2026, 1, 2, 9, 15, tzinfo=timezone.utc)


def _report(dry_run: bool = False) -> RunReport:
    report = RunReport(Side.ASANA, dry_run=dry_run)
    report.count("workspace_customer", Outcome.CREATED, record="asana-workspace:1", fields=["name"])
    report.count(5, "updated", record="asana-task:7", fields=["name", "due_date"])
    report.count(5, Outcome.UNCHANGED, n=40)
    report.count(
        3, Outcome.SKIPPED, record="asana-project:9", detail="customer asana-team:3 not linked yet"
    )
    result = merge(
        {"name": "a"},
        {"name": "asana"},
        {"name": "custompms"},
        source=Side.ASANA,
        ours_modified_at="2026-01-02T00:00:00Z",
        theirs_modified_at="2026-01-01T00:00:00Z",
    )
    report.conflict(5, "asana-task:7", result.conflicts[0])
    report.reject(5, "asana-task:8", "name must not be empty", field="name", retry_at=NEXT_TRY)
    report.defer(5, "asana-task:9", "422 name too long", "name", retry_at=NEXT_TRY, attempts=3)
    report.finish()
    return report


def test_counters_and_totals() -> None:
    report = _report()
    assert report.counters["task_task"] == {
        "created": 0,
        "updated": 1,
        "unchanged": 40,
        "conflicts": 1,
        "rejected": 1,
        "deferred": 1,
        "unlinked": 0,
        "skipped": 0,
        "adopted": 0,
        "ambiguous": 0,
    }
    assert report.totals()["created"] == 1
    assert report.writes == 2
    assert report.direction == "asana -> custompms"


def test_json_file(tmp_path: Path) -> None:
    path = _report().write_json(tmp_path / "reports" / "run.json")
    data = json.loads(path.read_text())
    assert data["dry_run"] is False
    assert data["flows"]["board_task_project"]["created"] == 0
    (conflict,) = data["conflicts"]
    assert conflict == {
        "flow": "task_task",
        "record": "asana-task:7",
        "field": "name",
        "base": "a",
        "asana": "asana",
        "custompms": "custompms",
        "winner": "asana",
        "reason": conflict["reason"],
    }
    assert data["rejects"] == [
        {
            "flow": "task_task",
            "record": "asana-task:8",
            "reason": "name must not be empty",
            "field": "name",
            "retry_at": "2026-01-02T09:15:00.000000Z",
            "attempts": None,
        }
    ]
    # a record refused earlier and not sent again: same values, back-off not over
    assert data["deferred"] == [
        {
            "flow": "task_task",
            "record": "asana-task:9",
            "reason": "422 name too long",
            "field": "name",
            "retry_at": "2026-01-02T09:15:00.000000Z",
            "attempts": 3,
        }
    ]
    # outside a dry run only skipped records are listed one by one
    assert [change["record"] for change in data["changes"]] == ["asana-project:9"]
    assert data["finished_at"].endswith("Z")


def test_conflict_sides_follow_the_direction() -> None:
    report = RunReport("custompms")
    result = merge(
        {"name": "a"}, {"name": "from custompms"}, {"name": "from asana"}, source=Side.CUSTOMPMS
    )
    report.conflict("task_task", "custompms-task:1", result.conflicts[0])
    entry = report.conflicts[0]
    assert (entry.asana, entry.custompms, entry.winner) == (
        "from asana",
        "from custompms",
        "custompms",
    )


def test_dry_run_lists_what_would_change(tmp_path: Path) -> None:
    report = _report(dry_run=True)
    table = report.render_table()
    assert "DRY RUN" in table.splitlines()[0]
    assert "would be created workspace_customer asana-workspace:1 fields name" in table
    assert "would be updated task_task asana-task:7 fields due_date, name" in table
    data = json.loads(report.write_json(tmp_path / "r.json").read_text())
    assert data["dry_run"] is True
    assert [c["outcome"] for c in data["changes"]] == ["created", "updated", "skipped"]


def test_table_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    _report().log(logging.getLogger("target"))
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == "talk-sync run asana -> custompms"
    header = lines[1].split()
    assert header == [
        "flow",
        "created",
        "updated",
        "unchanged",
        "conflicts",
        "rejected",
        "deferred",
        "unlinked",
        "skipped",
        "adopted",
        "ambiguous",
    ]
    task_row = next(line for line in lines if line.startswith("5 task_task"))
    assert task_row.split()[2:] == ["0", "1", "40", "1", "1", "1", "0", "0", "0", "0"]
    assert any(line.startswith("conflict task_task asana-task:7 field name") for line in lines)
    assert (
        "rejected task_task asana-task:8 field name: name must not be empty; next try after "
        "2026-01-02T09:15:00.000000Z, or at once when the record changes"
    ) in lines
    assert (
        "deferred task_task asana-task:9 field name: refused 3x (422 name too long); next try "
        "after 2026-01-02T09:15:00.000000Z, or at once when the record changes"
    ) in lines
    assert "skipped project_project asana-project:9 (customer asana-team:3 not linked yet)" in lines


def test_refused_unreadable_stuck_and_ambiguous_records_are_logged_as_warnings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    report = RunReport(Side.ASANA)
    report.count("task_task", Outcome.CREATED, record="asana-task:1")
    report.reject("task_task", "asana-task:2", "422 name is too long", "name")
    report.unreadable_object("asana-project:3", "403 private project")
    report.stuck("task_task", "asana-task:4", "its project was deleted")
    report.finish()
    caplog.set_level(logging.INFO)
    report.log(logging.getLogger("target"))
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [line.split()[0] for line in warned] == ["rejected", "STUCK", "unreadable"]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.getMessage() not in warned)


def test_a_failed_run_says_why_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    report = RunReport(Side.CUSTOMPMS)
    report.count("task_task", Outcome.CREATED, n=2)
    report.fail("ApplyError: 1 writes failed\nTraceback (most recent call last):\n  ...")
    data = json.loads(report.write_json(tmp_path / "r.json").read_text())
    assert (data["status"], data["failure"]) == ("failed", "ApplyError: 1 writes failed")
    assert data["finished_at"] is not None
    assert data["totals"]["created"] == 2  # what it did before it failed
    caplog.set_level(logging.INFO)
    report.log(logging.getLogger("target"))
    (line,) = [r for r in caplog.records if r.getMessage().startswith("FAILED: ")]
    # A warning: the error itself was logged when it happened, once.
    assert (line.getMessage(), line.levelno) == ("FAILED: ApplyError: 1 writes failed", 30)
    assert not report.empty
    assert RunReport(Side.ASANA).empty


def test_a_run_that_ends_well_says_so() -> None:
    data = _report().to_dict()
    assert (data["status"], data["failure"]) == ("succeeded", None)
