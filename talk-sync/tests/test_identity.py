"""A record that carries the other side's identity is linked, never created again.

Each test sets the link store up as a crash or an overlapping run leaves it (a pending
create of the *other* direction), then runs this direction's engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from talk_sync.apply import ApplyEngine
from talk_sync.destination import CreateAttempt, Destination, OpKind, WriteOp, WriteOutcome, Written
from talk_sync.flows import get_flow
from talk_sync.identity import match_key, normalize_name
from talk_sync.incoming import Incoming
from talk_sync.leases import Process
from talk_sync.linkstore import LinkStatus, LinkStore
from talk_sync.refs import Side, parse_ref
from talk_sync.testing import MemoryDestination

TASK = get_flow("task_task")


def fake_asana() -> MemoryDestination:
    """Asana tasks by gid; creates counted (Asana has no idempotency key)."""
    return MemoryDestination(Side.ASANA)


def fake_custompms() -> MemoryDestination:
    """The same, as Custompms (integer ids)."""
    return MemoryDestination(Side.CUSTOMPMS)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LinkStore]:
    with LinkStore(tmp_path / "links.db") as opened:
        yield opened


def live_claim(store: LinkStore, name: str = "run:other") -> str:
    store.leases.acquire(name, "other", Process.of())
    return name


@pytest.fixture
def dead_claim(store: LinkStore, exited_process: Callable[[], Process]) -> Callable[[], str]:
    """Makes claims of runs that crashed (their process is gone)."""
    count = iter(range(1000))

    def make() -> str:
        name = f"run:crashed-{next(count)}"
        store.leases.acquire(name, name, exited_process())
        return name

    return make


def run(store: LinkStore, destination: Destination, items: list[Incoming], **options: Any):
    engine = ApplyEngine(store, destination, claim="run:me", **options)
    engine.start()
    engine.apply(items)
    return engine.finish()


def custompms_task(key: int, name: str, *, counterpart: str | None = None) -> Incoming:
    """A Custompms task arriving at target-asana-talk."""
    return Incoming(
        TASK,
        parse_ref(f"custompms-task:{key}"),
        {"name": name, "project": "asana-project:9"},
        source_values={"name": name, "project_id": 9},
        counterpart=parse_ref(counterpart) if counterpart else None,
    )


def asana_task(gid: str, name: str, created_at: str | None = None) -> Incoming:
    """An Asana task (in project 900) arriving at target-custompms."""
    return Incoming(
        TASK,
        parse_ref(f"asana-task:{gid}"),
        {"name": name, "project_id": "asana-project:900"},
        source_values={"name": name, "project": "900"},
        created_at=created_at,
    )


def test_match_keys_ignore_case_and_spacing_and_name_the_container() -> None:
    assert normalize_name("  Kick-off\tMeeting ") == "kick-off meeting"
    key = match_key(TASK, Side.ASANA, {"name": "Review", "project": "900"})
    assert key == match_key(TASK, "asana", {"name": " review ", "project": {"gid": "900"}})
    # A subtask lives under its parent, not in a project.
    assert key != match_key(TASK, Side.ASANA, {"name": "Review", "parent": "77", "project": None})
    assert match_key(TASK, Side.ASANA, {"name": "  "}) is None


# --- Custompms records created by an unfinished Asana -> Custompms create --------------------


def test_a_custompms_record_naming_a_pending_asana_create_completes_that_link(
    store: LinkStore, dead_claim: Callable[[], str]
) -> None:
    # target-custompms created custompms-task:10 from asana-task:77 and was killed before
    # the link was complete; Custompms -> Asana runs first.
    store.link(get_flow(3), "asana-project:9", "custompms-project:9", origin="asana")
    store.begin_create(
        TASK,
        "asana-task:77",
        claim=dead_claim(),
        asana_snapshot={"name": "Spec", "project": "9"},
    )
    asana = fake_asana()

    report = run(store, asana, [custompms_task(10, "Spec", counterpart="asana-task:77")])

    assert asana.creates == []  # no copy of it in Asana
    link = store.find("custompms-task:10")
    assert link is not None
    assert link.status is LinkStatus.LINKED
    assert str(link.asana) == "asana-task:77"
    assert report.totals()["created"] == 0
    # The resumed Asana -> Custompms create then finds the link complete: nothing to write.
    pms = fake_custompms()
    again = run(store, pms, [asana_task("77", "Spec")])
    assert pms.creates == []
    assert again.writes == 0


def test_a_counterpart_linked_to_another_record_is_stuck_not_copied(store: LinkStore) -> None:
    store.link(get_flow(3), "asana-project:9", "custompms-project:9", origin="asana")
    store.link(TASK, "asana-task:77", "custompms-task:10", origin="asana")
    asana = fake_asana()

    report = run(store, asana, [custompms_task(11, "Spec copy", counterpart="asana-task:77")])

    assert asana.creates == []
    [stuck] = report.stuck_records
    assert stuck.record == "custompms-task:11"
    assert "linked to custompms-task:10" in stuck.reason
    assert store.rejects(stuck=True)[0].source_key == "custompms-task:11"


def test_a_counterpart_deleted_before_its_link_completed_is_not_recreated(
    store: LinkStore,
) -> None:
    store.begin_create(TASK, "asana-task:77")
    store.cancel_create("asana-task:77")  # the Asana task was deleted meanwhile
    asana = fake_asana()
    report = run(store, asana, [custompms_task(10, "Spec", counterpart="asana-task:77")])
    assert asana.creates == []
    assert report.totals()["skipped"] == 1


# --- Asana records created by an unfinished Custompms -> Asana create ------------------------


def pending_from_custompms(store: LinkStore, key: int, name: str, claim: str) -> None:
    asana_key = match_key(TASK, Side.ASANA, {"name": name, "project": "900"})
    store.begin_create(
        TASK,
        f"custompms-task:{key}",
        claim=claim,
        match_key=asana_key,
        custompms_snapshot={"name": name, "project_id": 9},
    )


def test_an_asana_record_made_by_a_crashed_create_is_linked_not_copied(
    store: LinkStore, dead_claim: Callable[[], str]
) -> None:
    store.link(get_flow(3), "asana-project:900", "custompms-project:9", origin="asana")
    pending_from_custompms(store, 5, "Review", dead_claim())
    pms = fake_custompms()
    pms.put("custompms-task:5", {"name": "Review", "project_id": 9})  # the crashed create's

    run(store, pms, [asana_task("300", "review ")])

    assert pms.creates == []
    link = store.find("asana-task:300")
    assert link is not None
    assert link.status is LinkStatus.LINKED
    assert str(link.custompms) == "custompms-task:5"


def test_while_the_creating_run_lives_the_record_waits_and_is_kept(store: LinkStore) -> None:
    store.link(get_flow(3), "asana-project:900", "custompms-project:9", origin="asana")
    claim = live_claim(store)
    pending_from_custompms(store, 5, "Review", claim)
    pms = fake_custompms()

    report = run(store, pms, [asana_task("300", "Review")])

    assert pms.creates == []
    assert store.find("asana-task:300") is None
    [kept] = store.rejects(side=Side.CUSTOMPMS)
    assert "being created from custompms-task:5 by another run" in kept.reason
    assert report.stuck_records == []
    # That run finishes (its lease ends, the link is still pending): the next run links.
    store.leases.release(claim, "other")
    run(store, pms, [])
    assert pms.creates == []
    assert str(store.find("asana-task:300").custompms) == "custompms-task:5"  # type: ignore[union-attr]
    assert store.rejects() == []


def test_two_unfinished_creates_that_look_alike_are_never_guessed(
    store: LinkStore, dead_claim: Callable[[], str]
) -> None:
    store.link(get_flow(3), "asana-project:900", "custompms-project:9", origin="asana")
    pending_from_custompms(store, 5, "Review", dead_claim())
    pending_from_custompms(store, 6, "Review", dead_claim())
    pms = fake_custompms()
    report = run(store, pms, [asana_task("300", "Review")])
    assert pms.creates == []
    [stuck] = report.stuck_records
    assert "ambiguous: 2 unfinished creates" in stuck.reason


def test_a_record_older_than_the_unfinished_create_is_not_its_result(
    store: LinkStore, dead_claim: Callable[[], str]
) -> None:
    store.link(get_flow(3), "asana-project:900", "custompms-project:9", origin="asana")
    pending_from_custompms(store, 5, "Review", dead_claim())
    long_ago = (datetime.now(timezone.utc) - timedelta(days=3)).isoformat()
    pms = fake_custompms()
    run(store, pms, [asana_task("300", "Review", created_at=long_ago)])
    assert len(pms.creates) == 1  # a different record that happens to share the name


# --- claims -----------------------------------------------------------------------------------


def test_a_create_another_live_run_claimed_is_not_sent_twice(store: LinkStore) -> None:
    store.link(get_flow(3), "asana-project:9", "custompms-project:9", origin="asana")
    claim = live_claim(store)
    store.begin_create(TASK, "custompms-task:10", claim=claim)  # that run is sending it
    asana = fake_asana()

    run(store, asana, [custompms_task(10, "Spec")])

    assert asana.creates == []
    assert "in flight in another run" in store.rejects()[0].reason
    # Once that run is gone (it crashed before its answer), this run takes the create over.
    store.leases.release(claim, "other")
    run(store, asana, [])
    assert len(asana.creates) == 1
    assert store.find("custompms-task:10").status is LinkStatus.LINKED  # type: ignore[union-attr]


# --- stuck ------------------------------------------------------------------------------------


def test_a_new_record_under_a_deleted_parent_is_stuck_with_its_cause(store: LinkStore) -> None:
    pms = fake_custompms()
    deleted = Incoming(
        get_flow(3), parse_ref("asana-project:900"), {"name": "Gone"}, is_deleted=True
    )
    report = run(store, pms, [deleted, asana_task("300", "Orphan")])
    assert pms.creates == []
    [stuck] = report.stuck_records
    assert stuck.record == "asana-task:300"
    assert "deleted on one side (project_id asana-project:900)" in stuck.reason


def test_a_record_kept_longer_than_stuck_after_is_reported_stuck(store: LinkStore) -> None:
    pms = fake_custompms()
    waiting = asana_task("300", "Waits")  # its project is never linked
    first = run(store, pms, [waiting], stuck_after=timedelta(hours=1))
    assert first.stuck_records == []
    second = run(store, pms, [], stuck_after=timedelta(0))
    [stuck] = second.stuck_records
    assert stuck.reason.startswith("not applied for ")
    assert "not linked yet: project_id asana-project:900" in stuck.reason


class FindingAsana(MemoryDestination):
    """Finds what an interrupted create made (by name), as the Asana target does."""

    def __init__(self) -> None:
        super().__init__(Side.ASANA)

    def find_created(self, op: WriteOp, attempt: CreateAttempt) -> list[Mapping[str, Any]]:
        return [r for r in self.records.values() if r["name"] == op.values["name"]][:1]


@pytest.mark.parametrize("edited_since", [False, True])
def test_a_resumed_create_writes_only_source_edits_not_what_the_destination_derived(
    store: LinkStore, dead_claim: Callable[[], str], edited_since: bool
) -> None:
    store.link(get_flow(3), "asana-project:9", "custompms-project:9", origin="asana")
    sent = {"name": "Spec", "project": "9", "notes": None}
    store.begin_create(TASK, "custompms-task:10", claim=dead_claim(), asana_snapshot=sent)
    asana = FindingAsana()  # the crashed run's create ran; Asana filled in the notes
    asana.put("asana-task:700", {**sent, "notes": "Created from a template"})

    item = custompms_task(10, "Spec")
    desired = {
        **item.desired,
        "notes": None,
        "assignee": "ann@example.com" if edited_since else None,
    }
    run(store, asana, [Incoming(TASK, item.source, desired, source_values=item.source_values)])

    assert asana.creates == []
    assert str(store.find("custompms-task:10").asana) == "asana-task:700"  # type: ignore[union-attr]
    record = asana.records["asana-task:700"]
    assert record["notes"] == "Created from a template"  # not pushed back to empty
    assert record.get("assignee") == ("ann@example.com" if edited_since else None)


class DerivingAsana(MemoryDestination):
    """Fills in what a create leaves empty, as Asana makes a project's creator its owner."""

    def __init__(self) -> None:
        super().__init__(Side.ASANA)

    def write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        outcomes = super().write(ops)
        for op, outcome in zip(ops, outcomes, strict=True):
            if op.kind is OpKind.CREATE and not op.values.get("notes"):
                record = self.records[self.ref_of("task", outcome.record)]  # type: ignore[union-attr]
                record["notes"] = "derived"
                outcomes[outcomes.index(outcome)] = Written(dict(record))
        return outcomes


def test_what_the_destination_derived_is_not_undone_by_the_next_run(store: LinkStore) -> None:
    """The same direction runs twice before the other one carries the derived value back."""
    store.link(get_flow(3), "asana-project:9", "custompms-project:9", origin="asana")
    asana = DerivingAsana()
    item = custompms_task(10, "Spec")
    created = Incoming(TASK, item.source, {**item.desired, "notes": None}, item.source_values)
    run(store, asana, [created])
    [ref] = asana.records
    assert asana.records[ref]["notes"] == "derived"

    again = run(store, asana, [created])

    assert again.writes == 0
    assert asana.records[ref]["notes"] == "derived"
