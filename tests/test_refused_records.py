"""Records Asana refuses, through `meltano run sync` (issue #12, points 4 and 5).

A record Asana refuses for good (a 4xx) is not sent again on every run: only when its
Custompms values change, or once its back-off has run out; the report says when. An owner or
assignee email that names no Asana user drops only that field: the record is written, its
tasks follow in the same run, and the Custompms value survives the way back.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from local_stack import local_stack
from local_stack.systems import Systems
from talk_sync import LinkStore

pytestmark = pytest.mark.e2e

PERSONAL = "1200000000000002"  # the demo seed's personal workspace: it has no teams
DELIVERY = "1200000000000011"  # a team of the demo's organization
WEBSITE = "1200000000000064"  # an Asana project of the Delivery team ("Website relaunch")
HIRING = "1200000000000165"  # an Asana project of the Operations team
ME = "alex.morgan@acme-consulting.example"  # the token's user
PRIYA = "priya.shah@acme-consulting.example"
NOBODY = "nobody@elsewhere.example"  # no Asana user has these emails
GHOST = "ghost@elsewhere.example"


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
        # Meltano shows a refusal as a warning: the targets log in the SDK's structured form
        # (the structured-logging capability), so the level survives Meltano's own log.
        warned = re.search(r"\[warning\s*\] target-asana-talk rejected", s.last_run.stderr)
        assert warned, s.last_run.stderr[-4000:]

        # Nothing changed in Custompms: the next sync sends neither again, and says so. With
        # fail_on_rejects both blocks still run, and the job's last step fails for them.
        stack.asana.reset_stats()
        stack.env["TARGET_ASANA_TALK_FAIL_ON_REJECTS"] = "true"
        second = s.sync(expect_exit=1)["custompms -> asana"]
        del stack.env["TARGET_ASANA_TALK_FAIL_ON_REJECTS"]
        assert "records refused and not written (2 in custompms-to-asana" in s.last_run.stderr
        assert second["status"] == "succeeded"  # the block itself exited 0
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


def test_an_unknown_owner_or_assignee_drops_only_that_field(
    tmp_path: Path, meltano_installed: None
) -> None:
    with local_stack(tmp_path, discover_once=True) as stack:
        s = Systems(stack)
        s.sync()
        delivery = s.pms_of("customers", f"asana-team:{DELIVERY}")
        project = s.pms_create(
            "projects", name="Intranet refresh", customer_id=delivery["id"], owner_email=NOBODY
        )
        ghosted = s.pms_create(
            "tasks", name="Interview users", project_id=project["id"], assignee_email=GHOST
        )
        assigned = s.pms_create(
            "tasks", name="Pick a CMS", project_id=project["id"], assignee_email=PRIYA
        )
        hiring = s.pms_of("projects", f"asana-project:{HIRING}")
        hiring_owner = s.asana("projects", HIRING)["owner"]
        s.pms_edit("projects", hiring["id"], name="Hiring plan 2026", owner_email=NOBODY)

        reports = s.sync()

        report = reports["custompms -> asana"]
        assert report["rejects"] == []
        dropped = {
            (change["record"], tuple(change["fields"])): change["detail"]
            for change in report["changes"]
            if change["outcome"] == "skipped"
        }
        for record, name, email in (
            (f"custompms-project:{project['id']}", "owner", NOBODY),
            (f"custompms-project:{hiring['id']}", "owner", NOBODY),
            (f"custompms-task:{ghosted['id']}", "assignee", GHOST),
        ):
            assert email in dropped[(record, (name,))], dropped
        # The project is created with the rest of its values, and its tasks follow at once.
        created = s.asana(
            "projects", s.asana_ref_of(f"custompms-project:{project['id']}").split(":")[1]
        )
        assert created["name"] == "Intranet refresh"
        assert created["owner"]["email"] == ME  # Asana's default: the creator
        interview = s.asana(
            "tasks", s.asana_ref_of(f"custompms-task:{ghosted['id']}").split(":")[1]
        )
        cms = s.asana("tasks", s.asana_ref_of(f"custompms-task:{assigned['id']}").split(":")[1])
        assert [m["project"]["gid"] for m in interview["memberships"]] == [created["gid"]]
        assert (interview["assignee"], cms["assignee"]["email"]) == (None, PRIYA)
        # An update writes the rest and leaves Asana's owner as it was.
        edited = s.asana("projects", HIRING)
        assert (edited["name"], edited["owner"]) == ("Hiring plan 2026", hiring_owner)
        # The way back keeps the Custompms values Asana could not hold.
        assert s.pms("projects", project["id"])["owner_email"] == NOBODY
        assert s.pms("projects", hiring["id"])["owner_email"] == NOBODY
        assert s.pms("tasks", ghosted["id"])["assignee_email"] == GHOST
        s.assert_idle_sync_writes_nothing()

        # An Asana edit of such a record reaches Custompms and still keeps its owner.
        s.asana_edit("projects", created["gid"], notes="Scope agreed")
        s.sync()
        refreshed = s.pms("projects", project["id"])
        assert (refreshed["description"], refreshed["owner_email"]) == ("Scope agreed", NOBODY)
        s.assert_idle_sync_writes_nothing()
