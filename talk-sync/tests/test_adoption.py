"""A first sync on existing data: records the other side already holds are adopted.

The engine runs against an in-memory destination that lists its records for adoption; each
test checks what a user would see: which records are linked instead of copied, which stay
alone as ambiguous, whose values both sides end up with, and that nothing is written twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from talk_sync.adoption import check_match_keys, retarget
from talk_sync.apply import ApplyEngine
from talk_sync.destination import Destination
from talk_sync.flows import get_flow
from talk_sync.incoming import Incoming
from talk_sync.linkstore import LinkStatus, LinkStore
from talk_sync.refs import Side, parse_ref
from talk_sync.testing import MemoryDestination

TASK = get_flow("task_task")
PROJECT = get_flow("project_project")
OLD, NEW = "2026-03-01T00:00:00Z", "2026-09-01T00:00:00Z"


def existing_custompms(records: dict[str, dict[str, Any]] | None = None) -> MemoryDestination:
    """Custompms projects and tasks that exist before the first sync, listed for adoption."""
    return MemoryDestination(Side.CUSTOMPMS, records, adopts=True)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LinkStore]:
    with LinkStore(tmp_path / "links.db") as opened:
        yield opened


def link_projects(store: LinkStore, *pairs: tuple[str, str]) -> None:
    """Asana project -> Custompms project links made by an earlier sync."""
    for asana, custompms in pairs:
        snapshots = {"asana_snapshot": {}, "custompms_snapshot": {}}
        store.link(PROJECT, asana, custompms, origin=Side.ASANA, **snapshots)


def asana_task(gid: int, name: str, project: str = "asana-project:1", **fields: Any) -> Incoming:
    """An Asana task arriving at target-custompms, mapped."""
    modified_at = fields.pop("_modified_at", OLD)
    desired = {"project_id": project, "name": name, "status": "open", **fields}
    source = {"name": name, "completed": False, "project": project.split(":")[1]}
    if "due_date" in fields:
        source["due_on"] = fields["due_date"]
    return Incoming(
        TASK,
        parse_ref(f"asana-task:{gid}"),
        desired,
        source_values=source,
        modified_at=modified_at,
    )


def pms_task(name: str, project_id: int = 5, **fields: Any) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "name": name,
        "status": "open",
        "updated_at": "2026-06-01T00:00:00Z",
        **fields,
    }


def run(store: LinkStore, destination: Destination, items: list[Incoming], **options: Any):
    engine = ApplyEngine(store, destination, claim="run:me", **options)
    engine.start()
    engine.apply(items)
    return engine.finish()


def test_a_task_both_sides_hold_is_linked_not_copied(store: LinkStore) -> None:
    link_projects(store, ("asana-project:1", "custompms-project:5"))
    pms = existing_custompms({"custompms-task:7": pms_task("Design  review")})
    report = run(store, pms, [asana_task(70, "design review"), asana_task(71, "Write docs")])

    assert store.resolve("asana-task:70") == parse_ref("custompms-task:7")
    assert [op.values["name"] for op in pms.creates] == ["Write docs"]  # only the one-sided
    (adoption,) = report.adoptions
    assert (adoption.asana, adoption.custompms, adoption.how) == (
        "asana-task:70",
        "custompms-task:7",
        "match key",
    )
    assert report.totals()["adopted"] == 1
    # The names differ in spelling only: Custompms' (edited later) is kept, nothing written.
    (name,) = adoption.differences
    assert (name["field"], name["asana"], name["custompms"], name["winner"]) == (
        "name",
        "design review",
        "Design  review",
        "custompms",
    )
    assert pms.updates == []


def test_candidates_are_checked_for_links_a_batch_and_a_round_at_a_time(
    store: LinkStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    link_projects(store, ("asana-project:1", "custompms-project:5"))
    pms = existing_custompms({f"custompms-task:{n}": pms_task(f"Task {n}") for n in range(7, 12)})
    asked: list[list[str]] = []
    find, find_many = store.find, store.find_many

    def find_one(ref: Any) -> Any:
        asked.append([str(ref)])
        return find(ref)

    def find_all(refs: Any) -> Any:
        refs = list(refs)
        asked.append(sorted(map(str, refs)))
        return find_many(refs)

    monkeypatch.setattr(store, "find", find_one)
    monkeypatch.setattr(store, "find_many", find_all)
    report = run(store, pms, [asana_task(n + 63, f"task {n}") for n in range(7, 12)])

    assert report.totals()["adopted"] == 5
    candidates = sorted(f"custompms-task:{n}" for n in range(7, 12))
    # Held with the batch (one query), adopted in one round (one query, with the records).
    looked_up = [refs for refs in asked if set(refs) & set(candidates)]
    assert [sorted(set(refs) & set(candidates)) for refs in looked_up] == [candidates] * 2


def test_differences_go_to_the_newer_side_and_both_keep_them(store: LinkStore) -> None:
    link_projects(store, ("asana-project:1", "custompms-project:5"))
    pms = existing_custompms(
        {
            "custompms-task:7": pms_task("Build", due_date="2026-10-01"),  # edited 2026-06
            "custompms-task:8": pms_task("Test", description="from custompms"),
        }
    )
    newer = asana_task(70, "Build", due_date="2026-12-24", _modified_at=NEW)
    older = asana_task(71, "Test", description="from asana", _modified_at=OLD)
    report = run(store, pms, [newer, older])

    by_record = {a.asana: a for a in report.adoptions}
    (due,) = by_record["asana-task:70"].differences
    assert (due["field"], due["winner"]) == ("due_date", "asana")
    (description,) = by_record["asana-task:71"].differences
    assert (description["field"], description["winner"]) == ("description", "custompms")
    # Asana's newer due date is written; Custompms' newer description is kept.
    assert [(str(op.destination), op.values) for op in pms.updates] == [
        ("custompms-task:7", {"due_date": "2026-12-24"})
    ]
    assert pms.records["custompms-task:8"]["description"] == "from custompms"

    # The next run, with the same Asana records, writes nothing: Asana's older description
    # is not an edit to carry over Custompms' (the reverse direction carries it to Asana).
    pms.ops.clear()
    report = run(store, pms, [newer, older])
    assert pms.ops == []
    assert report.writes == 0
    # The Asana snapshot is Asana's true value: the reverse direction sees what to carry.
    assert store.find("asana-task:71").snapshot(Side.ASANA).get("notes") is None


@pytest.mark.parametrize(
    ("policy", "winner"), [("asana_wins", "asana"), ("custompms_wins", "custompms")]
)
def test_adopt_policy_names_the_winner(store: LinkStore, policy: str, winner: str) -> None:
    link_projects(store, ("asana-project:1", "custompms-project:5"))
    pms = existing_custompms({"custompms-task:7": pms_task("Build", due_date="2026-10-01")})
    task = asana_task(70, "Build", due_date="2026-12-24", _modified_at=NEW)
    report = run(store, pms, [task], adopt_policy={"task_task": policy})
    (difference,) = report.adoptions[0].differences
    assert difference["winner"] == winner
    expected = "2026-12-24" if winner == "asana" else "2026-10-01"
    assert pms.records["custompms-task:7"]["due_date"] == expected


def test_two_candidates_are_ambiguous_nothing_linked_nor_created(store: LinkStore) -> None:
    link_projects(store, ("asana-project:1", "custompms-project:5"))
    pms = existing_custompms(
        {"custompms-task:7": pms_task("Review"), "custompms-task:8": pms_task("review ")}
    )
    report = run(store, pms, [asana_task(70, "Review")])

    assert pms.ops == []
    assert store.find("asana-task:70") is None
    (entry,) = report.ambiguous_records
    assert entry.candidates == ["custompms-task:7", "custompms-task:8"]
    assert "links link asana-task:70 custompms-task:7" in entry.reason
    # Kept for a person: stuck, and offered again on the next run.
    (kept,) = store.rejects(side=Side.CUSTOMPMS)
    assert kept.stuck
    assert kept.source_key == "asana-task:70"
    assert [s.record for s in report.stuck_records] == ["asana-task:70"]


def test_one_candidate_two_records_want_is_ambiguous_for_both(store: LinkStore) -> None:
    link_projects(store, ("asana-project:1", "custompms-project:5"))
    pms = existing_custompms({"custompms-task:7": pms_task("Review")})
    report = run(store, pms, [asana_task(70, "Review"), asana_task(71, "REVIEW")])

    assert pms.ops == []
    assert sorted(e.record for e in report.ambiguous_records) == ["asana-task:70", "asana-task:71"]
    assert all(e.candidates == ["custompms-task:7"] for e in report.ambiguous_records)


def test_a_pair_linked_by_hand_is_merged_then_converges(store: LinkStore) -> None:
    link_projects(store, ("asana-project:1", "custompms-project:5"))
    pms = existing_custompms(
        {"custompms-task:7": pms_task("Review"), "custompms-task:8": pms_task("Review")}
    )
    task = asana_task(70, "Review", due_date="2026-12-24", _modified_at=NEW)
    run(store, pms, [task])
    assert store.rejects(side=Side.CUSTOMPMS)  # ambiguous, kept

    store.link(TASK, "asana-task:70", "custompms-task:8", origin=Side.ASANA)  # links link
    report = run(store, pms, [])  # the kept record is offered again

    (adoption,) = report.adoptions
    assert adoption.how == "linked by hand or rebuilt"
    assert [d["field"] for d in adoption.differences] == ["due_date"]
    assert pms.records["custompms-task:8"]["due_date"] == "2026-12-24"
    assert pms.creates == []
    assert store.rejects(side=Side.CUSTOMPMS) == []
    pms.ops.clear()
    run(store, pms, [task])
    assert pms.ops == []


def test_subtasks_are_adopted_under_their_adopted_parent(store: LinkStore) -> None:
    link_projects(store, ("asana-project:1", "custompms-project:5"))
    pms = existing_custompms(
        {
            "custompms-task:7": pms_task("Build"),
            "custompms-task:9": pms_task("SAML", parent_task_id=7),
        }
    )
    # The subtask arrives first: it waits for its parent, which is adopted at the end.
    subtask = asana_task(72, "saml", project="asana-task:70", parent_task_id="asana-task:70")
    run(store, pms, [subtask, asana_task(70, "Build")])

    assert pms.creates == []
    assert store.resolve("asana-task:72") == parse_ref("custompms-task:9")


def test_match_keys_can_require_more_than_the_name(store: LinkStore) -> None:
    link_projects(store, ("asana-project:1", "custompms-project:5"))
    pms = existing_custompms({"custompms-task:7": pms_task("Standup", due_date="2026-10-01")})
    keys = {"task_task": ["name", "due_on"]}  # either side's names
    run(store, pms, [asana_task(70, "Standup", due_date="2026-10-02")], match_keys=keys)
    assert [op.values["name"] for op in pms.creates] == ["Standup"]  # another day: a new one
    run(store, pms, [asana_task(71, "Standup", due_date="2026-10-01")], match_keys=keys)
    assert store.resolve("asana-task:71") == parse_ref("custompms-task:7")


def test_bad_match_keys_name_the_flow_and_field() -> None:
    assert check_match_keys({"task_task": ["status"]}) == [
        "match_keys: task_task: 'status' is not a field both sides hold (choose from "
        "name/name, notes/description, start_on/start_date, due_on/due_date, "
        "assignee/assignee_email, completed_at/completed_at)"
    ]
    assert check_match_keys({"tasks": ["name"]}) == ["match_keys: unknown flow 'tasks'"]


def test_candidates_are_listed_once_per_run(store: LinkStore) -> None:
    link_projects(store, ("asana-project:1", "custompms-project:5"))
    pms = existing_custompms({"custompms-task:7": pms_task("A")})
    engine = ApplyEngine(store, pms, claim="run:me")
    engine.start()
    for gid in range(70, 80):
        engine.apply([asana_task(gid, f"task {gid}")])
    engine.finish()
    assert pms.listings == ["task"]


def test_a_record_unlinked_by_hand_is_not_adopted_again(store: LinkStore) -> None:
    link_projects(store, ("asana-project:1", "custompms-project:5"))
    pms = existing_custompms({"custompms-task:7": pms_task("Review")})
    store.link(TASK, "asana-task:69", "custompms-task:7", origin=Side.ASANA)
    store.unlink("custompms-task:7")
    run(store, pms, [asana_task(70, "Review")])
    assert store.find("asana-task:70").status is LinkStatus.LINKED
    assert store.resolve("asana-task:70") != parse_ref("custompms-task:7")  # a new record


def test_adopt_existing_off_creates_as_before(store: LinkStore) -> None:
    link_projects(store, ("asana-project:1", "custompms-project:5"))
    pms = existing_custompms({"custompms-task:7": pms_task("Review")})
    run(store, pms, [asana_task(70, "Review")], adopt_existing=False)
    assert len(pms.creates) == 1
    assert pms.listings == []


def test_dry_run_previews_adoption_and_writes_nothing(store: LinkStore) -> None:
    link_projects(store, ("asana-project:1", "custompms-project:5"))
    pms = existing_custompms(
        {
            "custompms-task:7": pms_task("Build", due_date="2026-10-01"),
            "custompms-task:9": pms_task("SAML", parent_task_id=7),
            "custompms-task:10": pms_task("Review"),
            "custompms-task:11": pms_task("Review"),
        }
    )
    items = [
        asana_task(72, "SAML", project="asana-task:70", parent_task_id="asana-task:70"),
        asana_task(70, "Build", due_date="2026-12-24", _modified_at=NEW),
        asana_task(73, "Review"),
        asana_task(74, "Only in Asana"),
    ]
    links_before = store.links()
    report = run(store, pms, items, dry_run=True)

    assert pms.ops == []
    assert store.links() == links_before
    assert store.rejects() == []
    assert report.dry_run
    adopted = {(a.asana, a.custompms) for a in report.adoptions}
    # The subtask resolves under the parent it would be adopted with.
    assert adopted == {("asana-task:70", "custompms-task:7"), ("asana-task:72", "custompms-task:9")}
    assert [e.record for e in report.ambiguous_records] == ["asana-task:73"]
    created = [c.record for c in report.changes if c.outcome == "created"]
    assert created == ["asana-task:74"]
    assert "would link task_task asana-task:70 <-> custompms-task:7" in report.render_table()


def test_a_record_deleted_later_in_the_run_adopts_nothing(store: LinkStore) -> None:
    board = get_flow("board_task_project")
    # The projects board is linked; its Custompms project is customer 9's.
    snapshots = {"asana_snapshot": {}, "custompms_snapshot": {"customer_id": 9}}
    store.link(PROJECT, "asana-project:1", "custompms-project:5", origin=Side.ASANA, **snapshots)
    pms = existing_custompms(
        {"custompms-project:8": {"customer_id": 9, "name": "Payroll", "status": "active"}}
    )
    engine = ApplyEngine(store, pms, claim="run:me")
    engine.start()
    card = Incoming(
        board,
        parse_ref("asana-task:50"),
        {"customer_id": "asana-project:1", "name": "Payroll", "status": "active"},
    )
    engine.apply([card])  # held: it may be custompms-project:8
    # Its delete arrives as a task: a deleted task carries no memberships to tell it apart.
    engine.apply([Incoming(TASK, parse_ref("asana-task:50"), {}, is_deleted=True)])
    report = engine.finish()
    assert report.adoptions == []
    assert store.find("custompms-project:8") is None
    assert pms.ops == []


def test_a_candidate_linked_meanwhile_is_not_taken_twice(store: LinkStore) -> None:
    link_projects(store, ("asana-project:1", "custompms-project:5"))
    pms = existing_custompms({"custompms-task:7": pms_task("Review")})
    engine = ApplyEngine(store, pms, claim="run:me")
    engine.start()
    engine.apply([asana_task(70, "Review")])
    # Another run links the candidate before this one ends.
    store.link(TASK, "asana-task:99", "custompms-task:7", origin=Side.ASANA)
    report = engine.finish()
    assert report.adoptions == []
    assert store.resolve("custompms-task:7") == parse_ref("asana-task:99")
    assert [op.values["name"] for op in pms.creates] == ["Review"]  # created as it came


def test_retargeting_keeps_only_values_both_flows_take_from_the_same_field() -> None:
    project = Incoming(
        get_flow("project_project"),
        parse_ref("custompms-project:3"),
        # An archived Custompms project, mapped for an Asana project.
        {"team": "12", "name": "Payroll", "notes": "n", "archived": True, "completed": False},
        source_values={"name": "Payroll", "status": "archived", "version": 2},
    )
    board_task = retarget(project, get_flow("board_task_project"), Side.ASANA)
    # A board task's completed means "completed or archived": mapped otherwise, left out.
    assert board_task.desired == {"name": "Payroll", "notes": "n"}
    assert board_task.source_values == {"name": "Payroll", "status": "archived", "version": 2}
