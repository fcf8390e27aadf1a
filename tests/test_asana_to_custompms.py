"""Asana -> Custompms through `meltano run tap-asana-talk target-custompms` (flows 1-5).

The Asana sandbox holds the demo seed; Custompms starts empty. Gids below are the seed's.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from local_stack import MELTANO, PROJECT_ROOT, LocalStack
from talk_sync import LinkStatus, LinkStore

pytestmark = pytest.mark.e2e

PIPELINE = ("tap-asana-talk", "target-custompms")
RESOURCES = ("customers", "projects", "tasks")

ACME, PERSONAL = "asana-workspace:1200000000000001", "asana-workspace:1200000000000002"
DELIVERY = "asana-team:1200000000000011"
BOARD = "asana-project:1200000000000014"  # "Client projects", the projects board
WEBSITE = "asana-project:1200000000000064"
ARCHIVED = "asana-project:1200000000000129"  # "Marketing campaigns"
READING = "asana-project:1200000000000186"  # in the personal workspace, no team
NORTHWIND = "asana-task:1200000000000019"  # a board task
KICKOFF = "asana-task:1200000000000020"  # its subtask
AUDIT = "asana-task:1200000000000068"  # a task of "Website relaunch"
AUDIT_DRAFT = "asana-task:1200000000000069"  # its subtask
WIREFRAMES_DRAFT = "asana-task:1200000000000071"
WIREFRAMES_CHECKLIST = "asana-task:1200000000000072"  # a subtask's subtask
BOOK = "asana-task:1200000000000188"  # a task of "Reading list"
OFFICE_MOVE = "asana-project:1200000000000146"

#: The demo seed as Custompms records: 2 workspaces + 3 teams, 8 projects + 10 board tasks.
EXPECTED_COUNTS = {"customers": 5, "projects": 18, "tasks": 135}


def gid(ref: str) -> str:
    return ref.rpartition(":")[2]


def custompms(stack: LocalStack, *, include_deleted: bool = True) -> dict[str, dict[str, Any]]:
    """Every Custompms record, by external_id (each resource read whole)."""
    records: dict[str, dict[str, Any]] = {}
    for resource in RESOURCES:
        page = httpx.get(
            f"{stack.custompms.api_url}/{resource}",
            params={"limit": 1000, "include_deleted": str(include_deleted).lower()},
            headers=stack.custompms.headers,
        ).json()
        assert page["next_cursor"] is None
        for record in page["data"]:
            assert record["external_id"] not in records, f"duplicate {record['external_id']}"
            records[record["external_id"]] = {**record, "resource": resource}
    return records


def counts(records: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {r: sum(1 for rec in records.values() if rec["resource"] == r) for r in RESOURCES}


def last_report(stack: LocalStack) -> dict[str, Any]:
    reports = sorted((stack.workdir / "reports").glob("asana-to-custompms-*.json"))
    return json.loads(reports[-1].read_text())


def versions(records: dict[str, dict[str, Any]]) -> dict[str, tuple[int, str]]:
    return {key: (r["version"], r["updated_at"]) for key, r in records.items()}


def test_every_flow_arrives_edits_follow_and_an_idle_run_writes_nothing(
    stack: LocalStack,
) -> None:
    stack.run(*PIPELINE)
    pms = custompms(stack)
    assert counts(pms) == EXPECTED_COUNTS
    # Flow 1: workspaces -> customers.
    acme, personal = pms[ACME], pms[PERSONAL]
    assert (acme["name"], acme["email_domains"], acme["parent_id"]) == (
        "Acme Consulting",
        ["acme-consulting.example"],
        None,
    )
    # Flow 2: teams -> customers under their workspace's customer.
    delivery = pms[DELIVERY]
    assert (delivery["name"], delivery["description"], delivery["parent_id"]) == (
        "Delivery",
        "The delivery team",
        acme["id"],
    )
    assert delivery["url"] == "https://app.asana.com/0/team/1200000000000011"
    # Flow 3: projects (the board too) under their team's customer, else the workspace's.
    board = pms[BOARD]
    assert (board["customer_id"], board["name"], board["status"]) == (
        delivery["id"],
        "Client projects",
        "active",
    )
    assert board["owner_email"] == "alex.morgan@acme-consulting.example"
    assert pms[READING]["customer_id"] == personal["id"]
    assert pms[ARCHIVED]["status"] == "archived"
    assert pms[WEBSITE]["end_date"] == "2026-05-05"
    # Flow 4: board tasks -> projects, with their board's customer.
    northwind = pms[NORTHWIND]
    assert northwind["resource"] == "projects"
    assert (northwind["name"], northwind["customer_id"]) == (
        "Northwind Traders: ERP rollout",
        delivery["id"],
    )
    assert (northwind["start_date"], northwind["end_date"]) == ("2026-01-05", "2026-03-13")
    assert northwind["owner_email"] == "alex.morgan@acme-consulting.example"
    # Flow 5: tasks under their project; subtasks under their parent (a board task's
    # subtask is a top-level task of the board task's project).
    kickoff = pms[KICKOFF]
    assert (kickoff["project_id"], kickoff["parent_task_id"]) == (northwind["id"], None)
    assert (kickoff["status"], kickoff["completed_at"]) == ("done", "2026-01-05T10:23:00.000000Z")
    audit = pms[AUDIT]
    assert (audit["project_id"], audit["parent_task_id"]) == (pms[WEBSITE]["id"], None)
    assert (audit["due_date"], audit["description"]) == (
        "2026-01-25",
        "Audit current site for Website relaunch.",
    )
    assert pms[AUDIT_DRAFT]["parent_task_id"] == audit["id"]
    checklist = pms[WIREFRAMES_CHECKLIST]
    assert (checklist["project_id"], checklist["parent_task_id"]) == (
        pms[WEBSITE]["id"],
        pms[WIREFRAMES_DRAFT]["id"],
    )
    report = last_report(stack)
    assert report["totals"]["created"] == sum(EXPECTED_COUNTS.values())
    assert report["totals"]["skipped"] == report["totals"]["rejected"] == 0

    # An idle run writes nothing: every version and updated_at stays.
    stack.run(*PIPELINE)
    assert versions(custompms(stack)) == versions(pms)
    assert last_report(stack)["totals"]["created"] == last_report(stack)["totals"]["updated"] == 0

    # Asana edits one field while Custompms edits another: both survive. A task or a
    # project deleted in Asana is unlinked, never deleted in Custompms.
    stack.asana.act("put", f"/tasks/{gid(AUDIT)}", {"name": "Audit the current site"})
    patched = httpx.patch(
        f"{stack.custompms.api_url}/tasks/{audit['id']}",
        json={"due_date": "2026-02-01"},
        headers={**stack.custompms.headers, "If-Match": str(audit["version"])},
    )
    patched.raise_for_status()
    stack.asana.act("delete", f"/tasks/{gid(BOOK)}")
    stack.asana.act("delete", f"/projects/{gid(OFFICE_MOVE)}")
    stack.run(*PIPELINE)
    after = custompms(stack)
    assert (after[AUDIT]["name"], after[AUDIT]["due_date"]) == (
        "Audit the current site",
        "2026-02-01",
    )
    assert after[BOOK]["deleted_at"] is None
    report = last_report(stack)
    assert report["flows"]["task_task"]["updated"] == 1
    assert report["flows"]["task_task"]["unlinked"] == 1
    assert report["flows"]["project_project"]["unlinked"] == 1
    assert report["conflicts"] == []
    assert after[OFFICE_MOVE]["deleted_at"] is None
    with LinkStore(stack.workdir / "links.db") as store:
        assert store.find(BOOK).status is LinkStatus.UNLINKED
        assert store.find(OFFICE_MOVE).status is LinkStatus.UNLINKED


def test_a_record_custompms_rejects_is_reported_and_sent_again_once_it_changes(
    stack: LocalStack,
) -> None:
    stack.asana.act("put", f"/tasks/{gid(AUDIT)}", {"name": "x" * 501})  # Custompms: <= 500
    stack.run(*PIPELINE)
    pms = custompms(stack)
    assert AUDIT not in pms
    assert AUDIT_DRAFT not in pms  # its parent is not there: it waits, never guessed
    assert counts(pms)["tasks"] == EXPECTED_COUNTS["tasks"] - 2
    (reject,) = last_report(stack)["rejects"]
    assert (reject["flow"], reject["record"], reject["field"]) == ("task_task", AUDIT, "name")
    assert reject["reason"].startswith("422 ")
    with LinkStore(stack.workdir / "links.db") as store:
        (first,) = [r for r in store.rejects() if r.source_key == AUDIT]

    # No edit: the same values are not sent again before their back-off ends.
    stack.run(*PIPELINE)
    report = last_report(stack)
    assert report["rejects"] == []
    (deferred,) = report["deferred"]
    assert (deferred["record"], deferred["retry_at"]) == (AUDIT, reject["retry_at"])
    with LinkStore(stack.workdir / "links.db") as store:
        (kept,) = [r for r in store.rejects() if r.source_key == AUDIT]
    assert (kept.attempts, kept.field) == (first.attempts, "name")  # not sent again

    stack.asana.act("put", f"/tasks/{gid(AUDIT)}", {"name": "Audit current site"})
    stack.run(*PIPELINE)
    pms = custompms(stack)
    assert pms[AUDIT]["name"] == "Audit current site"
    assert pms[AUDIT_DRAFT]["parent_task_id"] == pms[AUDIT]["id"]
    assert last_report(stack)["rejects"] == []
    with LinkStore(stack.workdir / "links.db") as store:
        assert store.rejects() == []


def test_a_task_that_leaves_every_project_is_skipped_with_the_reason(stack: LocalStack) -> None:
    stack.run(*PIPELINE)
    # It now lives only in someone's My Tasks: Custompms has no project to put it in.
    stack.asana.act("post", f"/tasks/{gid(AUDIT)}/removeProject", {"project": gid(WEBSITE)})
    stack.run(*PIPELINE)

    report = last_report(stack)
    assert report["rejects"] == []
    (skipped,) = [c for c in report["changes"] if c["record"] == AUDIT]
    assert skipped["outcome"] == "skipped"
    assert "in no project" in skipped["detail"]
    assert custompms(stack)[AUDIT]["deleted_at"] is None  # kept as it was
    with LinkStore(stack.workdir / "links.db") as store:
        assert store.rejects() == []


def test_a_project_the_token_may_not_read_is_skipped_and_reported(stack: LocalStack) -> None:
    private = "1200000000000191"  # "Salary review 2026": private to people the token is not
    stack.env["TAP_ASANA_TALK_PROJECT_GIDS"] = json.dumps([private, gid(WEBSITE)])
    stack.run(*PIPELINE)  # exits 0: the rest is synced

    assert AUDIT in custompms(stack)
    (unreadable,) = last_report(stack)["unreadable"]
    assert unreadable["record"] == f"asana-project:{private}"
    assert unreadable["reason"].startswith("403 Forbidden")


def _target_pid(meltano_pid: int) -> int | None:
    """The target-custompms process started by the `meltano run` process ``meltano_pid``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == meltano_pid and "target-custompms" in cmdline:
            return int(entry.name)
    return None


def test_killing_the_target_mid_run_leaves_no_duplicate_and_nothing_missing(
    stack: LocalStack, tmp_path: Path
) -> None:
    stack.env["TARGET_CUSTOMPMS_BATCH_SIZE"] = "10"  # many small writes to land between
    kill_after = random.randint(1, sum(EXPECTED_COUNTS.values()) - 10)
    log = (tmp_path / "killed-run.log").open("w")
    run = subprocess.Popen(
        [MELTANO, "run", *PIPELINE], cwd=PROJECT_ROOT, env=stack.env, stdout=log, stderr=log
    )
    killed = None
    try:
        while run.poll() is None and killed is None:
            if len(custompms(stack)) >= kill_after and (pid := _target_pid(run.pid)):
                os.kill(pid, signal.SIGKILL)
                killed = pid
            time.sleep(0.02)
        run.wait(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
        log.close()
    assert killed, f"the run ended before {kill_after} records were written"
    assert run.returncode != 0
    partial = len(custompms(stack))
    with LinkStore(stack.workdir / "links.db") as store:
        pending = len(store.links(status=LinkStatus.PENDING))
    print(f"target killed at {partial} records written, {pending} creates pending")

    stack.run(*PIPELINE)
    pms = custompms(stack)  # raises on a duplicate external_id
    assert counts(pms) == EXPECTED_COUNTS, f"killed after {partial} records"
    with LinkStore(stack.workdir / "links.db") as store:
        links = store.links()
        assert {link.status for link in links} == {LinkStatus.LINKED}
        assert {str(link.custompms) for link in links} == {
            f"custompms-{r['resource'][:-1]}:{r['id']}" for r in pms.values()
        }
    assert pms[KICKOFF]["project_id"] == pms[NORTHWIND]["id"]
    assert pms[WIREFRAMES_CHECKLIST]["parent_task_id"] == pms[WIREFRAMES_DRAFT]["id"]


def test_dry_run_writes_nothing_links_nothing_and_keeps_state(stack: LocalStack) -> None:
    stack.env["TARGET_CUSTOMPMS_DRY_RUN"] = "true"
    stack.run(*PIPELINE)
    assert custompms(stack) == {}
    report = last_report(stack)
    assert report["dry_run"] is True
    assert report["totals"]["created"] == sum(EXPECTED_COUNTS.values())
    assert {"flow": "task_task", "record": KICKOFF, "outcome": "created"}.items() <= next(
        change for change in report["changes"] if change["record"] == KICKOFF
    ).items()
    with LinkStore(stack.workdir / "links.db") as store:
        assert store.links() == []
        assert store.rejects() == []

    del stack.env["TARGET_CUSTOMPMS_DRY_RUN"]
    stack.run(*PIPELINE)  # the bookmarks did not move: everything is still to do
    assert counts(custompms(stack)) == EXPECTED_COUNTS


def test_meltano_config_test_messages_pass(stack: LocalStack) -> None:
    """What `meltano config test target-custompms` checks, without its process race.

    Meltano 4.4.1's loader test calls ``terminate()`` on the target after it exited, which
    often raises ProcessLookupError (target-jsonl too); so send its messages ourselves and
    apply its rule: exit 0 and no output line containing "error" or "exception".
    """
    messages = [
        {
            "type": "SCHEMA",
            "stream": "meltano_test_stream",
            "schema": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"},
                },
            },
            "key_properties": ["id"],
        },
        {
            "type": "RECORD",
            "stream": "meltano_test_stream",
            "record": {"id": 1, "name": "test", "created_at": "2026-01-01T00:00:00Z"},
        },
        {"type": "STATE", "value": {"bookmarks": {"meltano_test_stream": {"last_record": 1}}}},
    ]
    result = subprocess.run(
        [MELTANO, "invoke", "target-custompms"],
        cwd=PROJECT_ROOT,
        env=stack.env,
        input="".join(json.dumps(message) + "\n" for message in messages),
        capture_output=True,
        text=True,
        check=False,
    )
    output = (result.stdout + result.stderr).lower()
    assert result.returncode == 0, result.stderr[-4000:]
    assert "error" not in output
    assert "exception" not in output
    assert "meltano_test_stream is not one of the flows" in output
    assert custompms(stack) == {}
