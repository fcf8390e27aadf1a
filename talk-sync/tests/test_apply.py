"""The batch apply engine against an in-memory destination: docs/architecture.md §4 end to end."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from talk_sync.apply import ApplyEngine
from talk_sync.destination import (
    CreateAttempt,
    Destination,
    OpKind,
    WriteOp,
    WriteOutcome,
    Written,
)
from talk_sync.errors import ApplyError
from talk_sync.flows import Flow, get_flow
from talk_sync.incoming import Incoming
from talk_sync.linkstore import Backoff, LinkStatus, LinkStore
from talk_sync.refs import Ref, Side, parse_ref
from talk_sync.testing import MemoryDestination


def incoming(flow: str, source: str, desired: dict[str, Any], **extra: Any) -> Incoming:
    return Incoming(
        get_flow(flow),
        parse_ref(source),
        desired,
        source_values=extra.pop("source_values", {"name": desired.get("name")}),
        **extra,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LinkStore]:
    with LinkStore(tmp_path / "links.db") as opened:
        yield opened


@pytest.fixture
def pms() -> MemoryDestination:
    """Custompms records with versions; creates idempotent by key, updates checked by version."""
    return MemoryDestination(Side.CUSTOMPMS)


class Clock:
    """The engine's and the link store's time, moved on by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("talk_sync.apply.utcnow", fake)
    monkeypatch.setattr("talk_sync.linkstore.rejects.utcnow", fake)
    return fake


def run(store: LinkStore, pms: Destination, batches: list[list[Incoming]], **options: Any):
    """One run: start, apply each batch, finish; returns the report."""
    engine = ApplyEngine(store, pms, **options)
    engine.start()
    for batch in batches:
        engine.apply(batch)
    return engine.finish()


WORKSPACE = incoming("workspace_customer", "asana-workspace:1", {"name": "Acme"})
TEAM = incoming(
    "team_customer", "asana-team:2", {"name": "Delivery", "parent_id": "asana-workspace:1"}
)
BOARD = incoming(
    "project_project", "asana-project:3", {"name": "Client projects", "customer_id": "asana-team:2"}
)
BOARD_TASK = incoming(
    "board_task_project",
    "asana-task:4",
    {"name": "Northwind: ERP", "customer_id": "asana-project:3"},
)
SUBTASK = incoming(
    "task_task",
    "asana-task:5",
    {"name": "Kickoff", "project_id": "asana-task:4", "parent_task_id": "asana-task:4"},
)
SUBSUBTASK = incoming(
    "task_task",
    "asana-task:6",
    {"name": "Agenda", "project_id": "asana-task:5", "parent_task_id": "asana-task:5"},
)
ALL = [WORKSPACE, TEAM, BOARD, BOARD_TASK, SUBTASK, SUBSUBTASK]


def test_children_before_parents_resolve_at_the_end_of_the_run(
    store: LinkStore, pms: MemoryDestination
) -> None:
    # Streams arrive in any order: tasks first, workspaces last.
    report = run(store, pms, [[SUBSUBTASK, SUBTASK, BOARD_TASK], [BOARD], [TEAM], [WORKSPACE]])

    acme = pms.one("customer", name="Acme")
    delivery = pms.one("customer", name="Delivery")
    board = pms.one("project", name="Client projects")
    engagement = pms.one("project", name="Northwind: ERP")
    kickoff = pms.one("task", name="Kickoff")
    agenda = pms.one("task", name="Agenda")
    assert delivery["parent_id"] == acme["id"]
    assert board["customer_id"] == delivery["id"]
    # A board task's customer is its board's customer (the ref landed on a project).
    assert engagement["customer_id"] == delivery["id"]
    # A board task's subtask belongs to the board task's project, with no parent task.
    assert (kickoff["project_id"], kickoff["parent_task_id"]) == (engagement["id"], None)
    # A deeper subtask takes its parent task's project.
    assert (agenda["project_id"], agenda["parent_task_id"]) == (engagement["id"], kickoff["id"])
    assert report.totals()["created"] == 6
    assert report.totals()["skipped"] == 0
    assert store.rejects() == []


def test_second_run_without_edits_writes_nothing(store: LinkStore, pms: MemoryDestination) -> None:
    run(store, pms, [ALL])
    writes = len(pms.ops)
    report = run(store, pms, [ALL])
    assert len(pms.ops) == writes
    assert report.writes == 0
    assert report.totals()["unchanged"] == 6


def test_update_sends_only_changed_fields(store: LinkStore, pms: MemoryDestination) -> None:
    run(store, pms, [ALL])
    edited = incoming(
        "task_task",
        "asana-task:5",
        {**SUBTASK.desired, "name": "Kickoff!", "description": "  spaced  "},
    )
    report = run(store, pms, [[edited]])
    assert pms.ops[-1].kind is OpKind.UPDATE
    assert pms.ops[-1].values == {"name": "Kickoff!", "description": "  spaced  "}
    assert report.counters["task_task"]["updated"] == 1
    assert pms.one("task", name="Kickoff!")["description"] == "  spaced  "


def test_concurrent_edit_of_another_field_survives(
    store: LinkStore, pms: MemoryDestination
) -> None:
    run(store, pms, [ALL])
    kickoff = pms.one("task", name="Kickoff")
    pms.edit(f"custompms-task:{kickoff['id']}", due_date="2026-05-01")
    edited = incoming("task_task", "asana-task:5", {**SUBTASK.desired, "description": "agenda"})
    report = run(store, pms, [[edited]])
    record = pms.records[f"custompms-task:{kickoff['id']}"]
    assert (record["due_date"], record["description"]) == ("2026-05-01", "agenda")
    assert report.conflicts == []
    assert store.find("asana-task:5").custompms_snapshot["version"] == record["version"]


@pytest.mark.parametrize(
    ("policy", "winner"),
    [("newer_wins", "from asana"), ("custompms_wins", "from pms"), ("asana_wins", "from asana")],
)
def test_conflicting_edit_follows_the_policy_and_is_reported(
    store: LinkStore, pms: MemoryDestination, policy: str, winner: str
) -> None:
    run(store, pms, [ALL])
    kickoff = pms.one("task", name="Kickoff")
    pms.edit(f"custompms-task:{kickoff['id']}", description="from pms", at="2026-01-01T00:00:00Z")
    edited = Incoming(
        SUBTASK.flow,
        SUBTASK.source,
        {**SUBTASK.desired, "description": "from asana"},
        modified_at="2026-02-01T00:00:00Z",
    )
    report = run(store, pms, [[edited]], conflict_policy={"task_task": policy})
    assert pms.records[f"custompms-task:{kickoff['id']}"]["description"] == winner
    (conflict,) = report.conflicts
    assert (conflict.record, conflict.field) == ("asana-task:5", "description")
    assert (conflict.asana, conflict.custompms) == ("from asana", "from pms")


def test_rejected_record_is_kept_reported_and_retried_after_its_backoff(
    store: LinkStore, pms: MemoryDestination, clock: Clock
) -> None:
    pms.reject_names.add("Delivery")
    report = run(store, pms, [ALL])
    (reject,) = report.rejects
    assert (reject.record, reject.field) == ("asana-team:2", "name")
    assert "422 name is not allowed" in reject.reason
    # Its dependants wait; the others are written.
    assert pms.one("customer", name="Acme")
    kept = {r.source_key: r for r in store.rejects(side="custompms")}
    assert set(kept) == {
        f"asana-{s}" for s in ("team:2", "project:3", "task:4", "task:5", "task:6")
    }
    assert kept["asana-team:2"].field == "name"

    pms.reject_names.clear()
    clock.advance(minutes=15)
    report = run(store, pms, [])  # the tap sends nothing new: the kept records are replayed
    assert report.totals()["created"] == 5
    assert store.rejects() == []
    assert pms.one("task", name="Agenda")


def test_crash_after_begin_create_resumes_with_the_same_key(
    store: LinkStore, pms: MemoryDestination, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = ApplyEngine(store, pms)
    monkeypatch.setattr(engine.recorder, "record", _boom)
    with pytest.raises(KeyboardInterrupt):
        engine.apply([WORKSPACE])  # written, but the process dies before the links commit
    assert store.find("asana-workspace:1").status is LinkStatus.PENDING
    run(store, pms, [[WORKSPACE]])
    assert len(pms.of_type("customer")) == 1
    assert store.find("asana-workspace:1").status is LinkStatus.LINKED
    assert pms.ops[0].create_key == pms.ops[1].create_key


def _boom(*_args: Any) -> None:
    raise KeyboardInterrupt


def test_find_created_links_an_interrupted_create_without_writing(
    store: LinkStore, pms: MemoryDestination
) -> None:
    class Lookup(MemoryDestination):
        def find_created(self, op: WriteOp, attempt: CreateAttempt) -> list[Mapping[str, Any]]:
            return list(self.of_type("customer"))[:1]

    lookup = Lookup()
    store.begin_create(1, "asana-workspace:1")
    lookup.put("custompms-customer:7", {"name": "Acme", "version": 1})
    report = run(store, lookup, [[WORKSPACE]])
    assert lookup.ops == []
    assert store.resolve("asana-workspace:1") == Ref(Side.CUSTOMPMS, "customer", "7")
    assert report.totals()["unchanged"] == 1


def test_delete_unlinks_by_default_and_can_be_ignored(
    store: LinkStore, pms: MemoryDestination
) -> None:
    run(store, pms, [ALL])
    deleted = Incoming(get_flow("task_task"), parse_ref("asana-task:4"), {}, is_deleted=True)
    ignored = run(store, pms, [[deleted]], delete_policy={"board_task_project": "ignore"})
    assert store.find("asana-task:4").status is LinkStatus.LINKED
    assert ignored.counters["board_task_project"]["skipped"] == 1

    report = run(store, pms, [[deleted]])
    assert store.find("asana-task:4").status is LinkStatus.UNLINKED
    assert report.counters["board_task_project"]["unlinked"] == 1
    assert pms.one("project", name="Northwind: ERP")  # never deleted on the other side
    again = run(store, pms, [[BOARD_TASK]])
    assert again.counters["board_task_project"]["skipped"] == 1  # not created again


def test_dry_run_plans_and_reports_but_changes_nothing(
    store: LinkStore, pms: MemoryDestination
) -> None:
    run(store, pms, [[WORKSPACE, TEAM]])
    links = store.links()
    edited = incoming("team_customer", "asana-team:2", {**TEAM.desired, "name": "Delivery!"})
    report = run(store, pms, [[edited, SUBSUBTASK, BOARD_TASK, BOARD]], dry_run=True)
    assert len(pms.ops) == 2
    assert store.links() == links
    assert store.rejects() == []
    changes = {(c.record, c.outcome) for c in report.changes}
    assert ("asana-team:2", "updated") in changes
    assert ("asana-project:3", "created") in changes
    # Its board would be created in this run, so would the board task ...
    assert ("asana-task:4", "created") in changes
    # ... but the parent of this one is not in the run: it would wait.
    assert ("asana-task:6", "skipped") in changes
    assert report.to_dict()["dry_run"] is True


def test_transient_failure_fails_the_run_after_recording_the_others(
    store: LinkStore, pms: MemoryDestination
) -> None:
    pms.fail_names.add("Acme")
    other = incoming("workspace_customer", "asana-workspace:9", {"name": "Beta"})
    engine = ApplyEngine(store, pms)
    with pytest.raises(ApplyError, match="1 writes failed"):
        engine.apply([WORKSPACE, other])
    assert store.find("asana-workspace:9").status is LinkStatus.LINKED
    assert store.find("asana-workspace:1").status is LinkStatus.PENDING


def test_delete_forgets_a_record_kept_under_another_flow(
    store: LinkStore, pms: MemoryDestination
) -> None:
    pms.reject_names.add("Northwind: ERP")
    run(store, pms, [ALL])
    assert "asana-task:4" in {r.source_key for r in store.rejects()}
    # Deleted tasks arrive without memberships, so through the task flow.
    deleted = Incoming(get_flow("task_task"), parse_ref("asana-task:4"), {}, is_deleted=True)
    pms.reject_names.clear()
    run(store, pms, [[deleted]])
    assert "asana-task:4" not in {r.source_key for r in store.rejects()}
    assert [r for r in pms.of_type("project") if r["name"] == "Northwind: ERP"] == []


def test_a_create_answered_with_another_pairs_record_is_rejected_not_relinked(
    store: LinkStore, pms: MemoryDestination
) -> None:
    run(store, pms, [[WORKSPACE]])
    acme = pms.one("customer", name="Acme")

    class Confused(MemoryDestination):
        def write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
            return [Written(acme) for _ in ops]

    other = incoming("workspace_customer", "asana-workspace:8", {"name": "Other"})
    report = run(store, Confused(), [[other]])
    (reject,) = report.rejects
    assert reject.record == "asana-workspace:8"
    assert "already linked" in reject.reason
    assert store.resolve("asana-workspace:1") == Ref(Side.CUSTOMPMS, "customer", str(acme["id"]))
    assert store.find("asana-workspace:8").status is LinkStatus.PENDING


def test_waiting_records_are_kept_at_a_checkpoint_only_if_still_waiting(
    store: LinkStore, pms: MemoryDestination, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept: list[str] = []
    record_reject = store.record_reject
    monkeypatch.setattr(
        store, "record_reject", lambda *a, **k: kept.append(str(a[2])) or record_reject(*a, **k)
    )
    engine = ApplyEngine(store, pms)
    engine.apply([SUBTASK, BOARD_TASK])  # children first: they wait, in memory
    engine.apply([WORKSPACE, TEAM, BOARD])
    engine.checkpoint()  # before STATE: the waiting ones resolve, nothing needs keeping
    assert kept == []
    assert pms.one("task", name="Kickoff")

    orphan = {"name": "Orphan", "project_id": "asana-task:99", "parent_task_id": "asana-task:99"}
    engine.apply([incoming("task_task", "asana-task:6", orphan)])
    engine.checkpoint()  # its parent never came: kept durably before STATE moves on
    assert kept == ["asana-task:6"]
    engine.finish()
    assert kept == ["asana-task:6"]  # kept once, not once per retry pass
    assert [r.field for r in store.rejects()] == ["parent_task_id"]


def test_unchanged_record_refreshes_its_source_snapshot_only_when_it_differs(
    store: LinkStore, pms: MemoryDestination
) -> None:
    run(store, pms, [[WORKSPACE]])
    respelled = Incoming(
        WORKSPACE.flow, WORKSPACE.source, WORKSPACE.desired, {"name": "Acme", "email_domains": []}
    )
    report = run(store, pms, [[respelled]])
    assert report.totals()["unchanged"] == 1
    assert store.find(WORKSPACE.source).asana_snapshot == {"name": "Acme", "email_domains": []}


@pytest.mark.parametrize("status", [422, 403])  # a 403 (e.g. needs an admin) is no different
def test_a_refused_record_is_sent_again_when_it_changes_or_its_backoff_ends(
    store: LinkStore, pms: MemoryDestination, clock: Clock, status: int
) -> None:
    pms.reject_status = status
    pms.reject_names.update({"Acme", "Acme Inc"})
    backoff = Backoff(first=timedelta(minutes=15), cap=timedelta(minutes=45))
    sent = lambda: sum(op.values.get("name", "").startswith("Acme") for op in pms.ops)  # noqa: E731

    first = run(store, pms, [[WORKSPACE]], retry_backoff=backoff)
    assert sent() == 1
    (refused,) = first.rejects
    assert refused.reason == f"{status} name is not allowed"
    assert refused.retry_at == "2026-03-02T09:15:00.000000Z"
    assert "next try after 2026-03-02T09:15:00.000000Z" in first.render_table()

    # Neither a replay nor the tap sending the same values again sends it before then.
    clock.advance(minutes=14)
    second = run(store, pms, [[WORKSPACE]], retry_backoff=backoff)
    assert sent() == 1
    assert second.rejects == []
    (deferred,) = second.deferred
    assert (deferred.record, deferred.retry_at, deferred.attempts) == (
        "asana-workspace:1",
        "2026-03-02T09:15:00.000000Z",
        1,
    )
    assert second.totals()["deferred"] == 1
    assert "deferred workspace_customer asana-workspace:1 field name" in second.render_table()
    assert store.rejects()[0].attempts == 1

    # Its back-off over, it is sent again; refused again, it waits twice as long, then caps.
    waits = []
    for _ in range(3):
        clock.advance(minutes=60)
        report = run(store, pms, [], retry_backoff=backoff)
        (kept,) = store.rejects()
        waits.append(kept.retry_at - clock.now)
        assert report.deferred == []
    assert sent() == 4
    assert waits == [timedelta(minutes=30), timedelta(minutes=45), timedelta(minutes=45)]

    # Other values are sent at once, and their back-off starts over.
    renamed = incoming("workspace_customer", "asana-workspace:1", {"name": "Acme Inc"})
    report = run(store, pms, [[renamed]], retry_backoff=backoff)
    assert sent() == 5
    (kept,) = store.rejects()
    assert (kept.retry_at - clock.now, kept.attempts) == (timedelta(minutes=15), 5)
    assert report.deferred == []

    # Values the destination takes clear the record.
    fixed = incoming("workspace_customer", "asana-workspace:1", {"name": "Acme Group"})
    run(store, pms, [[fixed]], retry_backoff=backoff)
    assert store.rejects() == []
    assert pms.one("customer", name="Acme Group")


def test_a_deferred_record_is_still_reported_stuck_and_a_delete_ends_it(
    store: LinkStore, pms: MemoryDestination, clock: Clock
) -> None:
    pms.reject_names.add("Acme")
    run(store, pms, [[WORKSPACE]])
    clock.advance(minutes=5)
    report = run(store, pms, [], stuck_after=timedelta(minutes=1))
    assert [entry.record for entry in report.deferred] == ["asana-workspace:1"]
    (stuck,) = report.stuck_records
    assert stuck.record == "asana-workspace:1"
    assert "1 tries" in stuck.reason

    deleted = incoming("workspace_customer", "asana-workspace:1", {"name": "Acme"}, is_deleted=True)
    report = run(store, pms, [[deleted]])
    assert (report.deferred, store.rejects()) == ([], [])


def test_a_failure_that_passes_by_itself_is_not_backed_off(
    store: LinkStore, pms: MemoryDestination, clock: Clock
) -> None:
    # A transient failure keeps nothing: the run fails, STATE stays, and the tap sends the
    # record again on the next run, which writes it again.
    pms.fail_names.add("Acme")
    for _ in range(2):
        with pytest.raises(ApplyError):
            run(store, pms, [[WORKSPACE]])
    assert (len(pms.ops), store.rejects()) == (2, [])
    # A refusal that passes by itself (a record changing during every merge) is kept and
    # retried on the next run.
    pms.fail_names.clear()
    pms.busy_names.add("Acme")
    run(store, pms, [[WORKSPACE]])
    assert store.rejects()[0].retry_at is None
    assert run(store, pms, []).deferred == []
    assert len(pms.ops) == 4


class UnknownOwners(MemoryDestination):
    """Holds no owner email it does not know: such a value is left out, as target-asana-talk
    does with an email that names no Asana user."""

    def fit(self, flow: Flow, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        email = values.get("owner_email")
        if not email or email.endswith("@known.example"):
            return dict(values), {}
        kept = {name: value for name, value in values.items() if name != "owner_email"}
        return kept, {"owner_email": f"no user has the email {email}"}


def test_a_value_the_destination_keeps_as_it_was_is_the_source_snapshots_value(
    store: LinkStore,
) -> None:
    pms = UnknownOwners()
    run(store, pms, [[WORKSPACE, TEAM]])
    desired = {**BOARD.desired, "owner_email": "ghost@elsewhere.example"}
    board = incoming(
        "project_project",
        "asana-project:3",
        desired,
        source_values={"name": "Client projects", "owner": "ghost@elsewhere.example"},
    )
    report = run(store, pms, [[board]])

    created = pms.one("project", name="Client projects")
    assert "owner_email" not in created  # the rest of the record is written
    (dropped,) = [c for c in report.changes if c.fields == ["owner_email"]]
    assert (dropped.record, dropped.outcome) == ("asana-project:3", "skipped")
    assert "ghost@elsewhere.example" in (dropped.detail or "")
    link = store.find("asana-project:3")
    # The Asana side's owner is recorded as Custompms holds it (none): the reverse direction
    # then finds nothing to write back over it.
    assert link.asana_snapshot == {"name": "Client projects", "owner": None}

    # The record arrives again (a changed name): the owner is still left out, and the
    # owner Custompms gained meanwhile is what the source snapshot records.
    pms.edit(f"custompms-project:{created['id']}", owner_email="lena@known.example")
    store.update_snapshots(
        "asana-project:3",
        custompms={**link.custompms_snapshot, "owner_email": "lena@known.example"},
    )
    renamed = replace(
        board,
        desired={**desired, "name": "Clients"},
        source_values={"name": "Clients", "owner": "ghost@elsewhere.example"},
    )
    run(store, pms, [[renamed]])
    assert pms.ops[-1].values == {"name": "Clients"}
    assert store.find("asana-project:3").asana_snapshot == {
        "name": "Clients",
        "owner": "lena@known.example",
    }


def test_a_deleted_parents_subtasks_follow_it_when_their_own_deletes_never_arrive(
    store: LinkStore, pms: MemoryDestination
) -> None:
    """Events are at most once: the parent's delete alone unlinks its subtasks, any depth."""
    tasks = get_flow("task_task")
    tree = {"4": None, "5": "4", "6": "5", "7": None}  # 7: another top-level task
    for gid, parent in tree.items():
        store.link(
            tasks,
            f"asana-task:{gid}",
            f"custompms-task:{gid}0",
            origin="asana",
            asana_snapshot={"name": f"Task {gid}", "parent": parent},
        )
    deleted = Incoming(tasks, parse_ref("asana-task:4"), {}, is_deleted=True)
    report = run(store, pms, [[deleted]])

    statuses = {gid: store.find(f"asana-task:{gid}").status for gid in tree}
    assert statuses == {
        "4": LinkStatus.UNLINKED,
        "5": LinkStatus.UNLINKED,
        "6": LinkStatus.UNLINKED,
        "7": LinkStatus.LINKED,
    }
    assert report.counters["task_task"]["unlinked"] == 3


class HoldingBack(MemoryDestination):
    """Takes every field but ``description``, which it keeps as it is (``Written.kept``)."""

    def write_one(self, op: WriteOp) -> WriteOutcome:
        if op.kind is OpKind.CREATE or "description" not in op.values:
            return super().write_one(op)
        values = {name: value for name, value in op.values.items() if name != "description"}
        outcome = super().write_one(
            WriteOp(op.kind, op.flow, op.source, values, op.destination, op.snapshot)
        )
        held = frozenset({"description"})
        return (
            Written(outcome.record, unsent=held, kept=held)
            if isinstance(outcome, Written)
            else outcome
        )


def test_a_field_each_side_keeps_is_recorded_as_agreed_and_counted_unwritten(
    store: LinkStore,
) -> None:
    """The source's snapshot takes the destination's value of a kept field, so the way back
    sees no edit to carry; an update that wrote nothing is counted unchanged."""
    pms = HoldingBack()
    task = incoming("task_task", "asana-task:5", {"name": "Kickoff", "description": "old"})
    run(store, pms, [[task]])
    edited = incoming(
        "task_task",
        "asana-task:5",
        {"name": "Kickoff", "description": "new"},
        source_values={"name": "Kickoff", "notes": "new"},
    )
    report = run(store, pms, [[edited]])
    assert pms.one("task", name="Kickoff")["description"] == "old"
    assert report.counters["task_task"]["unchanged"] == 1
    assert report.counters["task_task"]["updated"] == 0
    link = store.find("asana-task:5")
    assert link.asana_snapshot == {"name": "Kickoff", "notes": "old"}
    assert link.custompms_snapshot["description"] == "old"
