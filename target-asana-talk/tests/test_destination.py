"""The Asana destination against the sandbox: read-compare updates, lost creates, limits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from asana_sandbox.testing import SandboxServer
from talk_sync import (
    ApplyEngine,
    CreateAttempt,
    Gone,
    Incoming,
    LinkStore,
    OpKind,
    Ref,
    Rejected,
    Side,
    Stale,
    WriteOp,
    Written,
    get_flow,
    parse_ref,
    synced_values,
)
from target_asana_talk.client import AsanaClient, Call, Reply
from target_asana_talk.destination import AsanaDestination

ACME, SALES = "1200000000000001", "1200000000000012"
WEBSITE, MOBILE = "1200000000000064", "1200000000000087"
AUDIT, WIREFRAMES, CONTENT = "1200000000000068", "1200000000000070", "1200000000000074"
TASKS, TEAMS = get_flow("task_task"), get_flow("team_customer")
WORKSPACES = get_flow("workspace_customer")
PRIVATE_PROJECT = "1200000000000191"  # "Salary review 2026": the token's user may not see it


class LosingClient(AsanaClient):
    """Runs every call, but loses the answer of the first ``losses`` creates."""

    def __init__(self, *args: Any, losses: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.losses = losses
        self.creates = 0
        self.sent: list[Call] = []

    def call_many(self, calls: Sequence[Call]) -> list[Reply]:
        self.sent.extend(calls)
        replies = super().call_many(calls)
        for index, call in enumerate(calls):
            if not call.safe:
                self.creates += 1
                if self.losses:
                    self.losses -= 1
                    replies[index] = Reply(0, message="connection dropped")
        return replies


@pytest.fixture
def store(tmp_path: Path) -> LinkStore:
    return LinkStore(tmp_path / "links.db")


def destination(
    sandbox: SandboxServer, store: LinkStore, *, losses: int = 0, **options: Any
) -> AsanaDestination:
    client = LosingClient(sandbox.api_url, sandbox.token, losses=losses, sleep=lambda _: None)
    asana = AsanaDestination(client, **options)
    asana.linked = lambda refs: set(store.find_many(refs))  # as the engine does
    return asana


def task(sandbox: SandboxServer, gid: str) -> dict[str, Any]:
    fields = "name,notes,due_on,start_on,assignee.email,parent,memberships.project"
    return sandbox.act("get", f"/tasks/{gid}", {"opt_fields": fields})["data"]


def snapshot(sandbox: SandboxServer, gid: str) -> dict[str, Any]:
    return synced_values(TASKS, Side.ASANA, task(sandbox, gid))


def named(sandbox: SandboxServer, project: str, name: str) -> list[dict[str, Any]]:
    listed = sandbox.act("get", f"/projects/{project}/tasks", {"opt_fields": "name"})["data"]
    return [record for record in listed if record["name"] == name]


def create(source: str, **values: Any) -> WriteOp:
    return WriteOp(OpKind.CREATE, TASKS, parse_ref(source), values)


def begun(store: LinkStore, op: WriteOp) -> WriteOp:
    """``op`` once its pending link is stored, as the engine sends it."""
    link = store.begin_create(op.flow, op.source)
    return replace(op, attempt=CreateAttempt(link.created_at))


def update(gid: str, snap: dict[str, Any], flow: Any = TASKS, **values: Any) -> WriteOp:
    asana_type = flow.asana_type
    return WriteOp(
        OpKind.UPDATE,
        flow,
        parse_ref(f"custompms-{flow.custompms_type}:1"),
        values,
        destination=Ref(Side.ASANA, asana_type, gid),
        snapshot=snap,
    )


def test_a_create_whose_answer_was_lost_is_found_again_not_duplicated(
    sandbox: SandboxServer, store: LinkStore
) -> None:
    op = create("custompms-task:501", name="Lost answer", project=WEBSITE, completed=False)
    op = begun(store, op)
    asana = destination(sandbox, store, losses=1)
    (outcome,) = asana.write([op])
    assert isinstance(outcome, Written)
    (only,) = named(sandbox, WEBSITE, "Lost answer")
    assert outcome.record["gid"] == only["gid"]
    assert asana.client.creates == 1  # found by listing the project, never sent twice


def test_a_lost_create_that_did_not_happen_is_sent_again(
    sandbox: SandboxServer, store: LinkStore
) -> None:
    op = create("custompms-task:502", name="Never arrived", parent=AUDIT)
    op = begun(store, op)
    asana = destination(sandbox, store, losses=1)
    client = asana.client
    # The first send never reaches Asana; the second runs but its answer is lost too.
    original = client.call_many
    attempts: list[int] = []

    def first_never_runs(calls: Sequence[Call]) -> list[Reply]:
        attempts.append(len(calls))
        if len(attempts) == 1:
            return [Reply(0, message="dropped before Asana ran it") for _ in calls]
        return original(calls)

    client.call_many = first_never_runs  # type: ignore[method-assign]
    (outcome,) = asana.write([op])
    assert isinstance(outcome, Written)
    subtasks = sandbox.act("get", f"/tasks/{AUDIT}/subtasks", {})["data"]
    assert [s["name"] for s in subtasks].count("Never arrived") == 1


def test_an_update_sends_only_what_asana_takes_and_moves_the_task(
    sandbox: SandboxServer, store: LinkStore
) -> None:
    snap = snapshot(sandbox, CONTENT)
    op = update(
        CONTENT,
        snap,
        name="Content migration (2)",
        start_on="2026-02-02",
        assignee="Priya.Shah@acme-consulting.example",
        project=MOBILE,
    )
    (outcome,) = destination(sandbox, store).write([op])
    assert isinstance(outcome, Written)
    after = task(sandbox, CONTENT)
    assert (after["name"], after["start_on"], after["due_on"]) == (
        "Content migration (2)",
        "2026-02-02",
        snap["due_on"],  # sent along: Asana wants the due date with a start date
    )
    assert after["assignee"]["email"] == "priya.shah@acme-consulting.example"
    assert [m["project"]["gid"] for m in after["memberships"]] == [MOBILE]
    assert synced_values(TASKS, Side.ASANA, outcome.record)["project"] == MOBILE


def test_an_update_to_a_record_changed_in_asana_is_stale_with_its_current_values(
    sandbox: SandboxServer, store: LinkStore
) -> None:
    snap = snapshot(sandbox, WIREFRAMES)
    sandbox.act("put", f"/tasks/{WIREFRAMES}", {"notes": "Edited in Asana meanwhile"})
    (outcome,) = destination(sandbox, store).write([update(WIREFRAMES, snap, name="Wires")])
    assert isinstance(outcome, Stale)
    assert outcome.current["notes"] == "Edited in Asana meanwhile"
    assert outcome.current["assignee"] == snap["assignee"]  # flattened: an email
    assert task(sandbox, WIREFRAMES)["name"] == "Wireframes"  # nothing written


def test_an_update_to_a_deleted_record_is_gone(sandbox: SandboxServer, store: LinkStore) -> None:
    gid = sandbox.act("post", "/tasks", {"name": "Short-lived", "projects": [WEBSITE]})["data"]
    snap = snapshot(sandbox, gid["gid"])
    sandbox.act("delete", f"/tasks/{gid['gid']}")
    (outcome,) = destination(sandbox, store).write([update(gid["gid"], snap, name="x")])
    assert isinstance(outcome, Gone)


def test_what_asana_cannot_do_is_reported_or_rejected_per_record(
    sandbox: SandboxServer, store: LinkStore
) -> None:
    asana = destination(sandbox, store)
    team = sandbox.act("get", f"/teams/{SALES}", {"opt_fields": "name,organization"})["data"]
    moved = update(
        SALES,
        synced_values(TEAMS, Side.ASANA, team),
        TEAMS,
        name="Sales & Partners",
        organization="1200000000000002",
    )
    workspace = WriteOp(
        OpKind.CREATE, WORKSPACES, parse_ref("custompms-customer:9"), {"name": "New workspace"}
    )
    orphan = WriteOp(OpKind.CREATE, TEAMS, parse_ref("custompms-customer:10"), {"name": "Orphan"})
    unknown = create("custompms-task:503", name="Who?", project=WEBSITE, assignee="no@one.example")
    outcomes = asana.write([moved, workspace, orphan, unknown])
    assert isinstance(outcomes[0], Written)
    assert sandbox.act("get", f"/teams/{SALES}", {})["data"]["name"] == "Sales & Partners"
    (limit,) = asana.limitations
    assert (limit.field, limit.reason) == (
        "organization",
        "Asana cannot move a team to another organization",
    )
    rejected = [(o.status, o.field) for o in outcomes[1:] if isinstance(o, Rejected)]
    assert rejected == [(405, None), (400, "organization"), (422, "assignee")]
    assert "workspace_gid" in outcomes[2].reason  # type: ignore[union-attr]
    assert named(sandbox, WEBSITE, "Who?") == []


def test_a_new_top_level_customer_becomes_a_team_in_the_configured_workspace(
    sandbox: SandboxServer, store: LinkStore
) -> None:
    op = WriteOp(
        OpKind.CREATE,
        TEAMS,
        parse_ref("custompms-customer:11"),
        {"name": "Alliances", "description": None},
    )
    (outcome,) = destination(sandbox, store, workspace_gid=ACME).write([op])
    assert isinstance(outcome, Written)
    assert outcome.record["organization"]["gid"] == ACME
    assert outcome.record["description"] == ""


def test_a_lost_team_create_is_never_taken_for_a_team_that_existed_before(
    sandbox: SandboxServer, store: LinkStore
) -> None:
    """Teams have no created_at: the namesakes that existed are recorded with the create."""
    asana = destination(sandbox, store, losses=1, workspace_gid=ACME)
    # Without adoption: with it, a free namesake is adopted before any create (so the test
    # passed only after another test of this module had linked the old Sales).
    engine = ApplyEngine(store, asana, adopt_existing=False)
    engine.start()
    customer = parse_ref("custompms-customer:12")
    engine.apply([Incoming(TEAMS, customer, {"name": "Sales", "description": None})])
    engine.finish()

    teams = sandbox.act("get", f"/workspaces/{ACME}/teams", {"opt_fields": "name"})["data"]
    (created,) = [t["gid"] for t in teams if t["name"] == "Sales" and t["gid"] != SALES]
    link = store.find(customer)
    assert link is not None
    assert link.ref(Side.ASANA) == Ref(Side.ASANA, "team", created)  # not the old Sales
    assert asana.client.creates == 1  # found again, never sent twice


PROJECTS = get_flow("project_project")


def test_what_asanas_date_rules_refuse_is_left_out_and_reported_never_refused(
    sandbox: SandboxServer, store: LinkStore
) -> None:
    asana = destination(sandbox, store)
    sandbox.act("put", f"/tasks/{AUDIT}", {"start_on": None, "due_on": None})
    one_day = WriteOp(
        OpKind.CREATE,
        PROJECTS,
        parse_ref("custompms-project:601"),
        {"name": "Workshop", "team": SALES, "start_on": "2026-05-04", "due_on": "2026-05-04"},
    )
    no_due = create(
        "custompms-task:602", name="Starts only", project=WEBSITE, start_on="2026-05-04"
    )
    starts_later = update(AUDIT, snapshot(sandbox, AUDIT), start_on="2026-01-02")  # no due date

    outcomes = asana.write([one_day, no_due, starts_later])

    assert all(isinstance(outcome, Written) for outcome in outcomes), outcomes
    assert [outcome.unsent for outcome in outcomes] == [frozenset({"start_on"})] * 3  # type: ignore[union-attr]
    workshop = sandbox.act("get", f"/projects/{outcomes[0].record['gid']}", {})["data"]  # type: ignore[union-attr]
    assert (workshop["start_on"], workshop["due_on"]) == (None, "2026-05-04")
    assert task(sandbox, outcomes[1].record["gid"])["start_on"] is None  # type: ignore[union-attr]
    assert {(limit.source, limit.field) for limit in asana.limitations} == {
        (parse_ref("custompms-project:601"), "start_on"),
        (parse_ref("custompms-task:602"), "start_on"),
        (parse_ref("custompms-task:1"), "start_on"),
    }
    reasons = {str(limit.source): limit.reason for limit in asana.limitations}
    assert "start and due dates are the same day" in reasons["custompms-project:601"]
    assert "no start date without a due date" in reasons["custompms-task:602"]


def test_clearing_a_due_date_clears_the_start_date_asana_cannot_keep_alone(
    sandbox: SandboxServer, store: LinkStore
) -> None:
    asana = destination(sandbox, store)
    sandbox.act("put", f"/tasks/{AUDIT}", {"start_on": "2026-01-05", "due_on": "2026-01-09"})
    (outcome,) = asana.write([update(AUDIT, snapshot(sandbox, AUDIT), due_on=None)])
    assert isinstance(outcome, Written)
    assert outcome.unsent == frozenset({"start_on"})
    assert (task(sandbox, AUDIT)["start_on"], task(sandbox, AUDIT)["due_on"]) == (None, None)


def test_dependent_moves_never_share_a_batch(sandbox: SandboxServer, store: LinkStore) -> None:
    """Asana runs a batch's actions in no guaranteed order: a task's membership calls go in
    rounds of their own, and a task moved under a task that moves too goes after it."""
    draft = "1200000000000069"  # AUDIT's subtask: the two swap places
    ops = [
        update(AUDIT, snapshot(sandbox, AUDIT), parent=draft, project=None),
        update(draft, snapshot(sandbox, draft), parent=None, project=WEBSITE),
    ]
    asana = destination(sandbox, store)
    sent: list[list[str]] = []
    send = asana.client.call_many

    def recording(calls: Sequence[Call]) -> list[Reply]:
        if any(call.method == "post" for call in calls):
            sent.append([call.path for call in calls])
        return send(calls)

    asana.client.call_many = recording  # type: ignore[method-assign]
    outcomes = asana.write(ops)
    assert all(isinstance(outcome, Written) for outcome in outcomes), outcomes
    assert sent == [
        [f"/tasks/{draft}/setParent"],
        [f"/tasks/{AUDIT}/setParent", f"/tasks/{draft}/addProject"],
        [f"/tasks/{AUDIT}/removeProject"],
    ]
    top, sub = task(sandbox, draft), task(sandbox, AUDIT)
    assert (top["parent"], [m["project"]["gid"] for m in top["memberships"]]) == (None, [WEBSITE])
    assert (sub["parent"]["gid"], sub["memberships"]) == (draft, [])


def test_an_update_of_a_record_the_token_may_not_read_is_refused_alone(
    sandbox: SandboxServer, store: LinkStore
) -> None:
    private = get_flow("project_project")
    snap = snapshot(sandbox, AUDIT)
    ops = [
        update(PRIVATE_PROJECT, {"name": "Salary review 2026"}, private, name="Renamed"),
        update(AUDIT, snap, name="Audit, renamed next to a private project"),
    ]
    refused, written = destination(sandbox, store).write(ops)
    assert isinstance(refused, Rejected)
    assert refused.status == 403
    assert "unreadable in Asana" in refused.reason
    assert isinstance(written, Written)
    assert task(sandbox, AUDIT)["name"] == "Audit, renamed next to a private project"


def test_an_owner_or_assignee_with_no_asana_user_is_left_out_and_reported(
    sandbox: SandboxServer, store: LinkStore
) -> None:
    asana = destination(sandbox, store)
    values = {"name": "Intranet", "team": SALES, "owner": " Nobody@Elsewhere.example "}
    fitted, held = asana.fit(PROJECTS, values)
    assert fitted == {"name": "Intranet", "team": SALES}  # Asana keeps the owner it has
    assert held == {
        "owner": "no Asana user has the email nobody@elsewhere.example: owner not written to "
        "Asana (kept in Custompms)"
    }
    known = {"name": "Kickoff", "assignee": "Priya.Shah@acme-consulting.example"}
    assert asana.fit(TASKS, known) == (known, {})
    assert asana.fit(TASKS, {"name": "Nobody's", "assignee": None}) == (
        {"name": "Nobody's", "assignee": None},
        {},
    )
    # Each email is looked up once per run.
    sandbox.reset_stats()
    asana.fit(PROJECTS, values)
    asana.fit(TASKS, known)
    assert sandbox.stats()["requests_total"] == 0


def test_a_description_edit_keeps_rich_notes_or_is_held_back_and_reported(
    sandbox: SandboxServer, store: LinkStore
) -> None:
    """Rich notes take the edit as html_notes, formatting kept; an edit that cannot be carried
    is left out, reported and kept on both sides; plain notes are written as notes."""
    rich_task = "<body>Call <strong>the client</strong> today</body>"
    rich_project = "<body>Goals:<ul><li>speed</li><li>design</li></ul></body>"
    sandbox.act("put", f"/tasks/{WIREFRAMES}", {"html_notes": rich_task})
    sandbox.act("put", f"/projects/{WEBSITE}", {"html_notes": rich_project})
    project_fields = {"opt_fields": "name,notes,html_notes,archived,start_on,due_on,owner.email"}
    project = sandbox.act("get", f"/projects/{WEBSITE}", project_fields)["data"]
    sandbox.act(
        "put", f"/teams/{SALES}", {"html_description": "<body>The <em>sales</em> team</body>"}
    )
    team_fields = {"opt_fields": "name,description,organization"}
    team = sandbox.act("get", f"/teams/{SALES}", team_fields)["data"]
    asana = destination(sandbox, store)
    ops = [
        update(WIREFRAMES, snapshot(sandbox, WIREFRAMES), notes="Call the new client today"),
        update(AUDIT, snapshot(sandbox, AUDIT), notes="Plain <b> & text"),
        update(WEBSITE, synced_values(PROJECTS, Side.ASANA, project), PROJECTS, notes="Goals: all"),
        update(SALES, synced_values(TEAMS, Side.ASANA, team), TEAMS, description="The sales team!"),
    ]

    outcomes = asana.write(ops)

    assert all(isinstance(outcome, Written) for outcome in outcomes), outcomes
    written = {call.path: call.data for call in asana.client.sent if call.method == "put"}
    assert written == {
        f"/tasks/{WIREFRAMES}": {
            "html_notes": "<body>Call <strong>the new client</strong> today</body>"
        },
        f"/tasks/{AUDIT}": {"notes": "Plain <b> & text"},  # plain notes: as ever
        f"/teams/{SALES}": {"html_description": "<body>The <em>sales</em> team!</body>"},
    }
    assert task(sandbox, WIREFRAMES)["notes"] == "Call the new client today"
    assert [(outcome.unsent, outcome.kept) for outcome in outcomes] == [  # type: ignore[union-attr]
        (frozenset(), frozenset()),
        (frozenset(), frozenset()),
        (frozenset({"notes"}), frozenset({"notes"})),
        (frozenset(), frozenset()),
    ]
    held = sandbox.act("get", f"/projects/{WEBSITE}", project_fields)["data"]
    assert held["html_notes"] == rich_project
    (limit,) = asana.limitations
    assert (str(limit.source), limit.field) == ("custompms-project:1", "notes")
    assert "as rich text (html_notes" in limit.reason
    assert "list items" in limit.reason
