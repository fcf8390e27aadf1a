"""Records Asana refuses, through `meltano run sync` (issue #12, point 4).

A record Asana refuses for good (a 4xx) is not sent again on every run: only when its
Custompms values change, or once its back-off has run out; the report says when.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from local_stack import local_stack
from systems import Systems
from talk_sync import LinkStore

pytestmark = pytest.mark.e2e

PERSONAL = "1200000000000002"  # the demo seed's personal workspace: it has no teams
WEBSITE = "1200000000000064"  # an Asana project of the Delivery team ("Website relaunch")


def _creates(s: Systems) -> dict[str, int]:
    """The creates the sandbox received since its stats were reset, by route."""
    requests = s.stack.asana.stats()["requests"]
    return {
        route.rsplit("/", 1)[-1]: count
        for route, count in requests.items()
        if route in ("POST /api/1.0/teams", "POST /api/1.0/tasks")
    }


def _by_record(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entry["record"]: entry for entry in entries}


def test_a_refused_record_is_sent_again_only_when_it_changes_or_its_back_off_ends(
    tmp_path: Path, meltano_installed: None
) -> None:
    with local_stack(tmp_path, discover_once=True) as stack:
        s = Systems(stack)
        s.sync()  # links the demo seed both ways
        personal = s.pms_of("customers", f"asana-workspace:{PERSONAL}")
        # A team in a workspace that is no organization: Asana answers 403.
        side = s.pms_create("customers", name="Side projects", parent_id=personal["id"])
        website = s.pms_of("projects", f"asana-project:{WEBSITE}")
        # A start date after the due date: Asana answers 400.
        backwards = s.pms_create(
            "tasks",
            name="Backwards dates",
            project_id=website["id"],
            start_date="2026-06-10",
            due_date="2026-06-01",
        )
        customer, task = f"custompms-customer:{side['id']}", f"custompms-task:{backwards['id']}"

        stack.asana.reset_stats()
        first = s.sync()["custompms -> asana"]
        assert _creates(s) == {"teams": 1, "tasks": 1}
        refused = _by_record(first["rejects"])
        assert set(refused) == {customer, task}, first["rejects"]
        assert refused[customer]["reason"].startswith("403 ")
        assert refused[task]["reason"].startswith("400 ")
        for entry in refused.values():  # the report says when each is tried next
            assert entry["retry_at"] > first["started_at"], entry

        # Nothing changed in Custompms: the next sync sends neither again, and says so.
        stack.asana.reset_stats()
        second = s.sync()["custompms -> asana"]
        assert _creates(s) == {}, second
        assert second["rejects"] == []
        deferred = _by_record(second["deferred"])
        assert set(deferred) == {customer, task}, second
        assert deferred[customer]["retry_at"] == refused[customer]["retry_at"]
        assert second["totals"]["deferred"] == 2

        # A changed record is sent at once: the renamed customer (refused again, its back-off
        # starting over) and the task with a due date Asana takes (created, no longer kept).
        s.pms_edit("customers", side["id"], name="Side projects (renamed)")
        s.pms_edit("tasks", backwards["id"], due_date="2026-06-20")
        stack.asana.reset_stats()
        third = s.sync()["custompms -> asana"]
        assert _creates(s) == {"teams": 1, "tasks": 1}, third
        assert set(_by_record(third["rejects"])) == {customer}
        assert third["deferred"] == []
        assert s.asana_ref_of(task).startswith("asana-task:")
        with LinkStore(stack.workdir / "links.db") as store:
            [kept] = store.rejects()
        assert (kept.source_key, kept.attempts, kept.stuck) == (customer, 2, None)
