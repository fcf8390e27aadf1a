"""``talk-sync links`` / ``talk-sync rejects``: managing links and kept records by hand."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from custompms.testing import CustompmsServer, running_server
from talk_sync.cli import main
from talk_sync.leases import Process, sync_lock_name
from talk_sync.linkstore import Backoff, LinkStatus, LinkStore

ENVIRONMENT = (
    "TALK_SYNC_CUSTOMPMS_API_URL",
    "TALK_SYNC_CUSTOMPMS_API_TOKEN",
    "CUSTOMPMS_API_URL",
    "CUSTOMPMS_API_TOKEN",
    "MELTANO_RUN_STATE_ID_SUFFIX",
)


def talk_sync(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    return int(exited.value.code or 0)


@pytest.fixture
def links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LinkStore]:
    """The link store the command uses (TALK_SYNC_LINK_STORE_URL), open for the test too."""
    path = tmp_path / "links.db"
    monkeypatch.setenv("TALK_SYNC_LINK_STORE_URL", str(path))
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    with LinkStore(path) as store:
        yield store


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert line.startswith("talk-sync: ")
    assert "Traceback" not in captured.err
    return line.removeprefix("talk-sync: ")


def output_json(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


# --- links list / show -------------------------------------------------------------------------


def test_list_shows_one_aligned_row_per_link_and_filters(
    links: LinkStore, capsys: pytest.CaptureFixture[str]
) -> None:
    links.link(2, "asana-team:1", "custompms-customer:10", origin="asana", asana_snapshot={})
    links.update_snapshots("asana-team:1", custompms={"name": "Ops"})
    links.adopt("custompms-task:20", "asana-task:2", origin="custompms")
    links.begin_create(5, "custompms-task:21")
    links.link(5, "asana-task:3", "custompms-task:22", origin="asana")
    links.unlink("asana-task:3")

    assert talk_sync("links", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "id",
        "flow",
        "asana",
        "custompms",
        "status",
        "origin",
        "updated",
        "snapshots",
    ]
    assert set(lines[1]) == {"-", " "}
    rows = [line.split() for line in lines[2:-1]]
    assert [(r[0], r[1], r[2], r[3], r[4], r[5], r[-1]) for r in rows] == [
        ("1", "team_customer", "asana-team:1", "custompms-customer:10", "linked", "asana", "known"),
        ("2", "task_task", "asana-task:2", "custompms-task:20", "linked", "custompms", "adopting"),
        ("3", "task_task", "-", "custompms-task:21", "pending", "custompms", "none"),
        ("4", "task_task", "asana-task:3", "custompms-task:22", "unlinked", "asana", "none"),
    ]
    # columns are aligned: every row starts its asana ref where the header does
    column = lines[0].index("asana")
    assert all(line[column - 2 : column] == "  " for line in lines[2:-1])
    assert lines[-1] == "4 links; 1 adopting, merged on the next sync (adopt_policy)"

    assert talk_sync("links", "list", "--flow", "5", "--side", "asana", "--json") == 0
    listed = output_json(capsys)
    assert [(row["asana"], row["status"]) for row in listed] == [
        ("asana-task:2", "linked"),
        ("asana-task:3", "unlinked"),
    ]
    assert set(listed[0]) == {
        "id",
        "flow",
        "asana",
        "custompms",
        "status",
        "origin",
        "updated_at",
        "snapshots",
    }
    assert talk_sync("links", "list", "--status", "pending", "--json") == 0
    assert [row["custompms"] for row in output_json(capsys)] == ["custompms-task:21"]
    assert talk_sync("links", "list", "--flow", "task") == 2
    assert one_line_error(capsys).startswith("unknown flow 'task' (known: 1/workspace_customer")


def test_show_prints_every_column_both_snapshots_and_the_kept_records(
    links: LinkStore, capsys: pytest.CaptureFixture[str]
) -> None:
    links.link(
        4,
        "asana-task:3",
        "custompms-project:5",
        origin="asana",
        asana_snapshot={"name": "Board"},
        custompms_snapshot={"name": "Board", "version": 2},
    )
    links.record_reject("custompms", "board_task_project", "asana-task:3", {}, "422: name")
    links.record_reject("asana", "board_task_project", "custompms-project:5", {}, "403")
    links.record_reject("asana", "task_task", "custompms-task:9", {}, "someone else's")

    assert talk_sync("links", "show", "custompms-project:5") == 0
    out = capsys.readouterr().out
    assert out.startswith("link 1\n  flow            board_task_project (flow 4)\n")
    for column in ("create_key", "create_attempt", "claimed_by", "match_key", "updated_at"):
        assert f"\n  {column} " in out
    assert '\nasana_snapshot:\n  {\n    "name": "Board"\n  }\n' in out
    assert '\n    "version": 2\n' in out
    assert "records kept for asana-task:3 or custompms-project:5: 2" in out
    assert "422: name" in out
    assert "403" in out
    assert "someone else's" not in out

    assert talk_sync("links", "show", "asana-task:3", "--json") == 0
    shown = output_json(capsys)
    assert shown["link"]["custompms_snapshot"] == {"name": "Board", "version": 2}
    assert shown["link"]["flow_number"] == 4
    assert [r["record"] for r in shown["rejects"]] == ["asana-task:3", "custompms-project:5"]

    assert talk_sync("links", "show", "asana-task:404") == 1
    assert one_line_error(capsys) == "asana-task:404 has no link and no kept records"
    assert talk_sync("links", "show", "task:3") == 2
    assert "expected a namespaced reference" in one_line_error(capsys)


# --- links link / unlink -----------------------------------------------------------------------


def test_link_adopts_two_records_without_snapshots(
    links: LinkStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert talk_sync("links", "link", "custompms-project:5", "asana-task:3") == 0
    assert capsys.readouterr().out == (
        "linked asana-task:3 <-> custompms-project:5 (board_task_project, link 1, origin "
        "custompms): the next sync merges them (adopt_policy)\n"
    )
    link = links.find("asana-task:3")
    assert link is not None
    assert (link.status, link.asana_snapshot, link.custompms_snapshot) == (
        LinkStatus.LINKED,
        None,
        None,
    )

    assert talk_sync("links", "link", "asana-team:1", "custompms-customer:2", "--json") == 0
    linked = output_json(capsys)
    assert (linked["link"]["flow"], linked["link"]["origin"]) == ("team_customer", "asana")
    assert (linked["link"]["snapshots"], linked["replaced"]) == ("adopting", [])
    assert talk_sync("links", "link", "asana-task:6", "custompms-task:7") == 0
    assert "(task_task, link 3," in capsys.readouterr().out


@pytest.mark.parametrize(
    ("refs", "message"),
    [
        (
            ["asana-team:1", "custompms-project:5"],
            "asana-team and custompms-project records are not linked by any flow; the pairs "
            "are: asana-workspace + custompms-customer (workspace_customer), asana-team + "
            "custompms-customer (team_customer), asana-project + custompms-project "
            "(project_project), asana-task + custompms-project (board_task_project), "
            "asana-task + custompms-task (task_task)",
        ),
        (
            ["asana-task:1", "asana-task:2"],
            "asana-task:1 and asana-task:2 are both asana records: give one Asana and one "
            "Custompms record",
        ),
        (
            ["custompms-task:10", "asana-task:9"],
            "custompms-task:10 is already linked to asana-task:1 (link 1); unlink it first "
            "(talk-sync links unlink custompms-task:10)",
        ),
        (
            ["asana-task:1", "custompms-task:11"],
            "asana-task:1 is already linked to custompms-task:10 (link 1); unlink it first "
            "(talk-sync links unlink asana-task:1)",
        ),
        (
            ["asana-task:2", "custompms-task:12"],
            "asana-task:2 has a pending create (link 2): its custompms record is being created "
            "by a sync; let the sync finish it, or unlink it first",
        ),
        (
            ["asana-tsk:1", "custompms-task:12"],
            "bad reference 'asana-tsk:1': unknown asana record type 'tsk' (known: project, "
            "task, team, user, workspace)",
        ),
        (
            ["asana-task:1", "custompms-task:x"],
            "bad reference 'custompms-task:x': bad custompms-task key 'x': expected a positive "
            "integer",
        ),
    ],
)
def test_link_refusals_are_one_line_with_exit_2(
    links: LinkStore, capsys: pytest.CaptureFixture[str], refs: list[str], message: str
) -> None:
    links.link(5, "asana-task:1", "custompms-task:10", origin="asana")
    links.begin_create(5, "asana-task:2")
    assert talk_sync("links", "link", *refs) == 2
    assert one_line_error(capsys) == message
    assert len(links.links()) == 2


def test_link_while_a_sync_runs_changes_nothing(
    links: LinkStore, capsys: pytest.CaptureFixture[str]
) -> None:
    links.leases.acquire(sync_lock_name(), "sync", Process.parent())  # this test's parent: alive
    assert talk_sync("links", "link", "asana-task:1", "custompms-task:2") == 1
    assert one_line_error(capsys).startswith("a sync is running (pid ")
    assert links.links() == []


def test_unlink_then_link_again(links: LinkStore, capsys: pytest.CaptureFixture[str]) -> None:
    links.link(5, "asana-task:1", "custompms-task:10", origin="asana", asana_snapshot={"a": 1})

    assert talk_sync("links", "unlink", "custompms-task:10") == 0
    out = capsys.readouterr().out
    assert out.startswith("unlinked asana-task:1 <-> custompms-task:10 (link 1): ")
    assert "neither record is deleted, and neither will be created again on the other side" in out
    assert links.find("asana-task:1").status is LinkStatus.UNLINKED

    assert talk_sync("links", "unlink", "asana-task:1") == 2
    assert one_line_error(capsys) == (
        "asana-task:1 is already unlinked (link 1: asana-task:1 <-> custompms-task:10)"
    )
    assert talk_sync("links", "unlink", "asana-task:2") == 2
    assert one_line_error(capsys) == "asana-task:2 has no link"

    # Relinking an unlinked record replaces its row: linked again, with no old snapshots.
    assert talk_sync("links", "link", "asana-task:1", "custompms-task:10") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "replaced unlinked link 1 (asana-task:1 <-> custompms-task:10)"
    [link] = links.links()
    assert (link.status, link.asana_snapshot) == (LinkStatus.LINKED, None)

    # Linked to another record instead: the old partner stays unlinked.
    assert talk_sync("links", "unlink", "asana-task:1") == 0
    assert talk_sync("links", "link", "asana-task:1", "custompms-task:11") == 0
    assert "custompms-task:10 stays unlinked" in capsys.readouterr().out
    assert links.find("custompms-task:10").status is LinkStatus.UNLINKED
    assert str(links.resolve("asana-task:1")) == "custompms-task:11"


# --- rejects -----------------------------------------------------------------------------------


def test_rejects_list_and_retry_make_a_backed_off_reject_due(
    links: LinkStore, capsys: pytest.CaptureFixture[str]
) -> None:
    backoff = Backoff(first=timedelta(hours=2))
    links.record_reject(
        "custompms", "task_task", "asana-task:1", {}, "422: name too long", "name", backoff=backoff
    )
    links.record_reject("custompms", "team_customer", "asana-team:2", {}, "waits for parent")
    links.record_reject("asana", "task_task", "custompms-task:3", {}, "409", stuck="a conflict")

    assert talk_sync("rejects", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["side", "flow", "record", "reason", "field"]
    assert re.search(r"  422: name too long +name  ", lines[2])
    assert re.search(r"  next run +-$", lines[3])  # no back-off, not stuck
    assert lines[-1] == "3 kept records, 1 stuck"

    assert talk_sync("rejects", "list", "--stuck", "--json") == 0
    [stuck] = output_json(capsys)
    assert (stuck["side"], stuck["flow"], stuck["record"], stuck["stuck"]) == (
        "asana",
        "task_task",
        "custompms-task:3",
        "a conflict",
    )
    assert talk_sync("rejects", "list", "--side", "custompms", "--flow", "5", "--json") == 0
    [kept] = output_json(capsys)
    assert (kept["record"], kept["attempts"]) == ("asana-task:1", 1)
    assert kept["retry_at"] is not None

    before = links.rejects(side="custompms")[0]
    assert not before.due(before.last_seen)
    assert talk_sync("rejects", "retry", "asana-task:1") == 0
    assert capsys.readouterr().out == "1 kept record will be sent again on the next run\n"
    after = links.rejects(side="custompms")[0]
    assert (after.retry_at, after.attempts) == (None, 1)
    assert after.due(after.last_seen)

    assert talk_sync("rejects", "retry", "--all", "--side", "asana") == 0
    assert capsys.readouterr().out.startswith("1 kept record ")
    assert links.rejects(stuck=True) == []  # the next run marks it again if still stuck

    assert talk_sync("rejects", "retry") == 2
    assert one_line_error(capsys) == "give the records to retry (their refs) or --all, not both"
    assert talk_sync("rejects", "retry", "asana-task:1", "asana-task:404") == 2
    assert one_line_error(capsys) == "no kept record for asana-task:404; nothing changed"


# --- links rebuild -----------------------------------------------------------------------------

TOKEN = "rebuild-test-token"  # a throwaway test server's


@pytest.fixture(scope="module")
def custompms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CustompmsServer]:
    """A Custompms with records whose external_ids name Asana records, and others."""
    with running_server(tmp_path_factory.mktemp("pms") / "pms.db", token=TOKEN) as server:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"

        def create(resource: str, **fields: Any) -> int:
            response = session.post(f"{server.api_url}/{resource}", json=fields, timeout=30)
            assert response.status_code == 201, response.text
            return int(response.json()["id"])

        team = create("customers", name="Ops", external_id="asana-team:1")  # 1
        create("customers", name="CRM", external_id="crm:9")  # 2
        create("projects", name="Site", customer_id=team, external_id="asana-project:2")  # 1
        board = create("projects", name="Board", customer_id=team, external_id="asana-task:3")
        create("tasks", name="Write", project_id=board, external_id="asana-task:4")  # 1
        create("tasks", name="Other", project_id=board, external_id="asana-task:5")  # 2
        create("tasks", name="Native", project_id=board)  # 3: no external_id
        gone = create("tasks", name="Gone", project_id=board, external_id="asana-task:6")
        deleted = session.delete(f"{server.api_url}/tasks/{gone}", timeout=30)
        assert deleted.status_code == 200, deleted.text
        session.close()
        yield server


@pytest.fixture
def pms_env(custompms: CustompmsServer, links: LinkStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTOMPMS_API_URL", custompms.api_url)
    monkeypatch.setenv("CUSTOMPMS_API_TOKEN", TOKEN)


def test_rebuild_links_the_custompms_records_that_name_an_asana_record(
    links: LinkStore, pms_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    links.link(5, "asana-task:5", "custompms-task:99", origin="asana")  # linked elsewhere

    assert talk_sync("links", "rebuild") == 0

    out = capsys.readouterr().out
    assert out.splitlines()[0] == "read from Custompms: 2 customers, 2 projects, 3 tasks"
    table = [re.split(r"  +", line) for line in out.split("\n\n")[0].splitlines()[3:]]
    assert table == [
        ["team_customer", "1", "0", "0", "0"],
        ["project_project", "1", "0", "0", "0"],
        ["board_task_project", "1", "0", "0", "0"],
        ["task_task", "1", "0", "1", "0"],
        ["(no flow)", "0", "0", "0", "2"],
        ["total", "4", "0", "1", "2"],
    ]
    assert (
        "  custompms-task:2 (external_id asana-task:5): asana-task:5 is linked to "
        "custompms-task:99 (link 1)"
    ) in out
    assert "  custompms-customer:2 (external_id crm:9): not an Asana ref" in out
    assert "  custompms-task:3 (external_id -): no external_id" in out
    assert "4 links made, without snapshots: the next sync merges each pair (adopt_policy)" in out

    made = {
        (link.flow.name, str(link.asana), str(link.custompms)): link
        for link in links.links(status="linked")
        if link.id != 1
    }
    assert set(made) == {
        ("team_customer", "asana-team:1", "custompms-customer:1"),
        ("project_project", "asana-project:2", "custompms-project:1"),
        ("board_task_project", "asana-task:3", "custompms-project:2"),
        ("task_task", "asana-task:4", "custompms-task:1"),
    }
    for link in made.values():
        assert (link.asana_snapshot, link.custompms_snapshot) == (None, None)
        assert link.origin.value == "asana"

    # Again: everything is linked already; nothing changes.
    assert talk_sync("links", "rebuild", "--json") == 0
    again = output_json(capsys)
    assert again["flows"]["task_task"] == {
        "linked": 0,
        "already linked": 1,
        "conflict": 1,
        "skipped": 0,
    }
    assert sum(flow["already linked"] for flow in again["flows"].values()) == 4
    assert len(links.links()) == 5


def test_rebuild_dry_run_writes_nothing(
    links: LinkStore, pms_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert talk_sync("links", "rebuild", "--dry-run", "--json") == 0
    report = output_json(capsys)
    assert report["dry_run"] is True
    assert report["read"] == {"customers": 2, "projects": 2, "tasks": 3}
    assert sum(flow["linked"] for flow in report["flows"].values()) == 5
    outcomes = {r["custompms"]: (r["outcome"], r["reason"]) for r in report["records"]}
    assert outcomes["custompms-customer:2"] == ("skipped", "not an Asana ref")
    assert outcomes["custompms-task:2"] == ("linked", None)  # nothing links asana-task:5 here
    assert links.links() == []

    assert talk_sync("links", "rebuild", "--dry-run") == 0
    assert "dry run: nothing written (5 links would be made)" in capsys.readouterr().out
    assert links.links() == []


def test_rebuild_with_a_wrong_token_is_one_line_without_the_token(
    links: LinkStore,
    pms_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TALK_SYNC_CUSTOMPMS_API_TOKEN", "wrong-secret-token")
    assert talk_sync("links", "rebuild") == 1
    captured = capsys.readouterr()
    assert "wrong-secret-token" not in captured.out + captured.err
    assert captured.err == (
        "talk-sync: Custompms refused the token (401 Unauthorized): check the "
        "custompms_api_token setting\n"
    )
    assert links.links() == []


def test_rebuild_without_settings_names_them(
    links: LinkStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert talk_sync("links", "rebuild") == 2
    assert one_line_error(capsys).startswith("no Custompms API URL: set custompms_api_url")
    assert talk_sync("links", "rebuild", "--custompms-url", "http://127.0.0.1:9/api/v1") == 2
    assert one_line_error(capsys).startswith("no Custompms API token: set custompms_api_token")


def test_rebuild_of_an_unreachable_custompms_is_one_line(
    links: LinkStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("talk_sync.custompms_reader.RETRIES", 0)
    monkeypatch.setenv("CUSTOMPMS_API_TOKEN", "secret-token")
    assert talk_sync("links", "rebuild", "--custompms-url", "http://127.0.0.1:9/api/v1") == 1
    line = one_line_error(capsys)
    assert line == (
        "GET http://127.0.0.1:9/api/v1/customers still failing after 1 attempts: cannot connect"
    )


# --- the installed command ---------------------------------------------------------------------


def test_the_command_runs_as_a_program(links: LinkStore) -> None:
    links.adopt("asana-task:1", "custompms-task:2", origin="asana")
    run = subprocess.run(
        [sys.executable, "-m", "talk_sync.cli", "links", "list", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ},
        check=False,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert [row["snapshots"] for row in json.loads(run.stdout)] == ["adopting"]
