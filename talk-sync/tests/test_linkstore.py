"""The link store: links, pending creates, snapshots, rejects, transactions."""

from __future__ import annotations

import sqlite3
import tempfile
import threading
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from talk_sync.leases import Process
from talk_sync.linkstore import (
    Backoff,
    ClaimedElsewhereError,
    LinkError,
    LinkStatus,
    LinkStore,
    Reject,
    create_key_for,
)
from talk_sync.migrations import SCHEMA_VERSION
from talk_sync.models import LinkRow
from talk_sync.refs import Ref, Side


def test_opens_sqlite_file_with_wal_and_creates_directories(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "links.db"
    with LinkStore(str(path)) as store:
        assert store.opened_at_version == 0
        store.link("team_customer", "asana-team:1", "custompms-customer:2", origin="asana")
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with LinkStore(f"sqlite:///{path}") as reopened:
        assert reopened.opened_at_version == SCHEMA_VERSION
        assert str(reopened.resolve("asana-team:1")) == "custompms-customer:2"


def test_repr_hides_passwords(tmp_path: Path) -> None:
    with LinkStore(tmp_path / "l.db") as store:
        assert repr(store) == f"LinkStore('sqlite:///{tmp_path / 'l.db'}')"
    unopened = LinkStore.__new__(LinkStore)
    unopened.engine = SimpleNamespace(url=make_url("postgresql://sync:hunter2@db/links"))
    assert repr(unopened) == "LinkStore('postgresql://sync:***@db/links')"


def test_create_lifecycle(store: LinkStore) -> None:
    pending = store.begin_create("task_task", "asana-task:77", asana_snapshot={"name": "Plan"})
    assert pending.status is LinkStatus.PENDING
    assert pending.create_key == "talk-sync/asana-task:77/custompms-task/1"
    assert pending.custompms is None
    assert pending.source == Ref(Side.ASANA, "task", "77")
    assert store.resolve("asana-task:77") is None  # pending: never guessed
    assert store.links(status=LinkStatus.PENDING) == [pending]

    # a rerun (after a crash before completion) reuses the same row and key
    again = store.begin_create(5, "asana-task:77")
    assert (again.id, again.create_key, again.asana_snapshot) == (
        pending.id,
        pending.create_key,
        {"name": "Plan"},
    )

    linked = store.complete_create(
        "asana-task:77", "custompms-task:8", custompms_snapshot={"name": "Plan", "version": 1}
    )
    assert linked.status is LinkStatus.LINKED
    assert str(store.resolve("asana-task:77")) == "custompms-task:8"
    assert str(store.resolve("custompms-task:8")) == "asana-task:77"
    assert store.find("custompms-task:8").snapshot("custompms") == {"name": "Plan", "version": 1}
    assert store.links(status=LinkStatus.PENDING) == []
    with pytest.raises(LinkError, match="linked"):
        store.begin_create(5, "asana-task:77")


def test_create_from_custompms_side(store: LinkStore) -> None:
    first = store.begin_create("team_customer", "custompms-customer:1")
    second = store.begin_create("team_customer", "custompms-customer:2")  # both asana keys null
    assert first.create_key == "talk-sync/custompms-customer:1/asana-team/1"
    pending = store.links(status=LinkStatus.PENDING)
    assert [link.id for link in pending] == [first.id, second.id]
    assert [link.origin for link in pending] == [Side.CUSTOMPMS, Side.CUSTOMPMS]
    store.complete_create("custompms-customer:1", "asana-team:900")
    assert str(store.resolve("asana-team:900")) == "custompms-customer:1"


def test_complete_create_checks_the_destination(store: LinkStore) -> None:
    store.link(5, "asana-task:1", "custompms-task:1", origin="asana")
    store.begin_create(5, "asana-task:2")
    with pytest.raises(LinkError, match="custompms-task:1 is already linked to asana-task:1"):
        store.complete_create("asana-task:2", "custompms-task:1")
    with pytest.raises(LinkError, match="was to become a task, not custompms-project:3"):
        store.complete_create("asana-task:2", "custompms-project:3")
    with pytest.raises(LinkError, match="no pending create for asana-task:3"):
        store.complete_create("asana-task:3", "custompms-task:3")
    with pytest.raises(LinkError, match="asana-task:2 is not a asana workspace"):
        store.begin_create(1, "asana-task:2")


def test_fail_and_cancel_create(store: LinkStore) -> None:
    store.begin_create(3, "asana-project:9")
    failed = store.fail_create("asana-project:9")
    assert failed.status is LinkStatus.PENDING
    assert failed.create_key == create_key_for("asana-project:9", "project", 2)
    assert store.begin_create(3, "asana-project:9").create_key == failed.create_key
    cancelled = store.cancel_create("asana-project:9")
    # kept, unlinked: a record the create may have made is never copied back either
    assert cancelled.status is LinkStatus.UNLINKED
    assert store.find("asana-project:9") == cancelled
    with pytest.raises(LinkError, match="its link is unlinked"):
        store.begin_create(3, "asana-project:9")


def test_uniqueness_per_side(store: LinkStore) -> None:
    store.link(5, "asana-task:1", "custompms-task:10", origin="asana")
    with pytest.raises(LinkError, match="already linked as asana-task:1 <-> custompms-task:10"):
        store.link(5, "asana-task:1", "custompms-task:11", origin="asana")
    with pytest.raises(LinkError, match="already linked"):
        store.link(5, "asana-task:2", "custompms-task:10", origin="custompms")
    store.link(5, "asana-task:2", "custompms-task:20", origin="custompms")
    with pytest.raises(LinkError, match="both are linked elsewhere"):
        store.link(5, "asana-task:1", "custompms-task:20", origin="asana")
    # linking the same pair again is a no-op; the link keeps its origin
    assert (
        store.link(5, "asana-task:1", "custompms-task:10", origin="custompms").origin is Side.ASANA
    )
    with pytest.raises(LinkError, match="flow task_task links asana task to custompms task"):
        store.link(5, "asana-task:3", "custompms-project:3", origin="asana")


def test_database_constraint_backs_up_uniqueness(store: LinkStore) -> None:
    store.link(4, "asana-task:5", "custompms-project:6", origin="asana")
    duplicate = insert(LinkRow).values(
        flow="task_task",
        asana_type="task",
        asana_gid="5",
        custompms_type="task",
        custompms_id="99",
        origin="asana",
        status="linked",
        create_attempt=0,
    )
    with pytest.raises(IntegrityError), store.engine.begin() as connection:
        connection.execute(duplicate)


def test_link_completes_a_pending_create(store: LinkStore) -> None:
    # e.g. a 409 on external_id: the record exists, adopt it
    store.begin_create(5, "asana-task:7")
    linked = store.link(5, "asana-task:7", "custompms-task:70", origin="asana")
    assert linked.status is LinkStatus.LINKED
    assert linked.create_key == "talk-sync/asana-task:7/custompms-task/1"


def test_snapshots_update_and_store_json(store: LinkStore) -> None:
    store.link(
        3,
        "asana-project:1",
        "custompms-project:2",
        origin="asana",
        asana_snapshot={"name": "a", "due_on": date(2026, 1, 2)},
    )
    link = store.update_snapshots("custompms-project:2", custompms={"name": "a", "tags": {"x"}})
    assert link.asana_snapshot == {"name": "a", "due_on": "2026-01-02"}
    assert link.custompms_snapshot == {"name": "a", "tags": ["x"]}
    with pytest.raises(LinkError, match="custompms-project:3 is not linked"):
        store.update_snapshots("custompms-project:3", asana={})


def test_unlinked_records_are_neither_resolved_nor_created_again(store: LinkStore) -> None:
    store.link(5, "asana-task:1", "custompms-task:1", origin="asana")
    store.unlink("custompms-task:1")
    assert store.resolve("asana-task:1") is None
    assert store.find("asana-task:1").status is LinkStatus.UNLINKED
    with pytest.raises(LinkError, match="its link is unlinked"):
        store.begin_create(5, "asana-task:1")
    assert [link.status for link in store.links(flow="task_task")] == [LinkStatus.UNLINKED]
    assert store.links(status="linked") == []


def test_adopt_links_two_existing_records_without_snapshots(store: LinkStore) -> None:
    adopted = store.adopt("custompms-project:5", "asana-task:3", origin="custompms")
    link = adopted.link
    assert (link.flow.name, str(link.asana), str(link.custompms)) == (
        "board_task_project",
        "asana-task:3",
        "custompms-project:5",
    )
    assert (link.status, link.origin, adopted.replaced) == (LinkStatus.LINKED, Side.CUSTOMPMS, ())
    # The engine's contract: linked without snapshots = adopted, merged on the next sync.
    assert (link.asana_snapshot, link.custompms_snapshot, link.create_key) == (None, None, None)
    assert str(store.resolve("asana-task:3")) == "custompms-project:5"


def test_adopt_refuses_linked_pending_and_unrelated_records(store: LinkStore) -> None:
    store.link(5, "asana-task:1", "custompms-task:10", origin="asana")
    store.begin_create(5, "asana-task:2")
    with pytest.raises(LinkError, match=r"^asana-task:1 is already linked to custompms-task:10"):
        store.adopt("asana-task:1", "custompms-task:11", origin="asana")
    with pytest.raises(LinkError, match=r"^custompms-task:10 is already linked to asana-task:1"):
        store.adopt("asana-task:9", "custompms-task:10", origin="asana")
    with pytest.raises(LinkError, match=r"^asana-task:2 has a pending create"):
        store.adopt("asana-task:2", "custompms-task:12", origin="asana")
    with pytest.raises(LinkError, match="both asana records"):
        store.adopt("asana-task:7", "asana-task:8", origin="asana")
    with pytest.raises(LinkError, match=r"not linked by any flow; the pairs are: .*task_task"):
        store.adopt("asana-team:7", "custompms-task:8", origin="asana")
    assert len(store.links()) == 2  # nothing changed


def test_adopt_replaces_unlinked_rows_and_keeps_a_third_record_unlinked(store: LinkStore) -> None:
    store.link(5, "asana-task:1", "custompms-task:10", origin="asana", asana_snapshot={"a": 1})
    store.unlink("asana-task:1")
    again = store.adopt("asana-task:1", "custompms-task:10", origin="asana")  # the same pair
    assert [link.asana_snapshot for link in again.replaced] == [{"a": 1}]
    assert again.link.asana_snapshot is None  # a new row: the old snapshots are not merged
    assert [link.status for link in store.links()] == [LinkStatus.LINKED]

    store.unlink("asana-task:1")
    moved = store.adopt("custompms-task:20", "asana-task:1", origin="custompms")
    (old,) = moved.replaced
    assert (str(old.asana), str(old.custompms)) == ("asana-task:1", "custompms-task:10")
    # custompms-task:10 stays unlinked (not created again in Asana); asana-task:1 moved on.
    kept = store.find("custompms-task:10")
    assert kept is not None
    assert (kept.status, kept.asana) == (LinkStatus.UNLINKED, None)
    assert str(store.resolve("asana-task:1")) == "custompms-task:20"


def test_retry_now_makes_backed_off_and_stuck_rejects_due(store: LinkStore) -> None:
    backoff = Backoff(first=timedelta(hours=1))
    store.record_reject("custompms", "task_task", "asana-task:1", {}, "422", backoff=backoff)
    store.record_reject("custompms", "task_task", "asana-task:2", {}, "422", backoff=backoff)
    store.record_reject("asana", "task_task", "custompms-task:3", {}, "old", stuck="too old")
    first = store.rejects(side="custompms")[0]
    assert not first.due(first.last_seen)

    (retried,) = store.retry_now(source_keys=["asana-task:1"])
    assert (retried.source_key, retried.retry_at, retried.attempts) == ("asana-task:1", None, 1)
    assert retried.due(retried.last_seen)
    assert store.rejects(side="custompms")[1].retry_at is not None  # asana-task:2 untouched

    (stuck,) = store.retry_now(side="asana")
    assert (stuck.source_key, stuck.stuck) == ("custompms-task:3", None)
    assert store.rejects(stuck=True) == []
    assert len(store.retry_now()) == 3
    assert all(reject.retry_at is None for reject in store.rejects())


def test_resolve_fields(store: LinkStore) -> None:
    store.link(2, "asana-team:123", "custompms-customer:42", origin="asana")
    record = {
        "name": "Web",
        "customer_id": "asana-team:123",
        "parent_id": "asana-workspace:1",
        "owner": None,
        "already": "custompms-customer:5",
    }
    resolved, unresolved = store.resolve_fields(
        record, ["customer_id", "parent_id", "owner", "already"], Side.CUSTOMPMS
    )
    assert resolved == {**record, "customer_id": 42, "already": 5}
    assert unresolved == {"parent_id": "asana-workspace:1"}
    back, missing = store.resolve_fields({"team": "custompms-customer:42"}, ["team"], "asana")
    assert (back, missing) == ({"team": "123"}, {})


def test_transaction_is_atomic(store: LinkStore) -> None:
    def write_then_fail() -> None:
        with store.transaction():
            store.link(5, "asana-task:1", "custompms-task:1", origin="asana")
            store.record_reject("custompms", "tasks", "asana-task:2", {}, "422")
            raise RuntimeError("the write failed")

    with pytest.raises(RuntimeError, match="the write failed"):
        write_then_fail()
    assert store.links() == []
    assert store.rejects() == []
    with store.transaction():
        store.link(5, "asana-task:1", "custompms-task:1", origin="asana")
        with store.transaction():  # nested: joins the outer one
            store.link(5, "asana-task:2", "custompms-task:2", origin="asana")
        assert store.resolve("asana-task:2") is not None  # visible inside
    assert len(store.links()) == 2


def test_pending_create_survives_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "links.db"
    with LinkStore(path) as store:
        key = store.begin_create(5, "asana-task:1").create_key
        store.begin_create(5, "asana-task:2")
        store.complete_create("asana-task:2", "custompms-task:2")
    # the process died before completing asana-task:1
    with LinkStore(path) as store:
        (leftover,) = store.links(status=LinkStatus.PENDING)
        assert (str(leftover.source), leftover.create_key) == ("asana-task:1", key)
        assert store.begin_create(5, "asana-task:1").create_key == key


def test_rejects_are_kept_counted_and_cleared(store: LinkStore) -> None:
    first = store.record_reject(
        "custompms", "tasks", "asana-task:1", {"name": ""}, "too short", "name"
    )
    again = store.record_reject(
        Side.CUSTOMPMS, "tasks", Ref(Side.ASANA, "task", "1"), {"name": " "}, "blank", "name"
    )
    store.record_reject("asana", "customers", "custompms-customer:3", {}, "cannot create workspace")
    assert again.attempts == 2
    assert again.first_seen == first.first_seen
    assert again.last_seen >= first.last_seen
    assert (again.record, again.reason) == ({"name": " "}, "blank")
    assert [r.source_key for r in store.rejects(side="custompms")] == ["asana-task:1"]
    assert [r.stream for r in store.rejects(stream="customers")] == ["customers"]
    assert store.clear_reject("custompms", "tasks", "asana-task:1") is True
    assert store.clear_reject("custompms", "tasks", "asana-task:1") is False
    assert [r.side for r in store.rejects()] == [Side.ASANA]


def test_a_refused_record_waits_longer_each_time_its_same_values_are_refused(
    store: LinkStore,
) -> None:
    backoff = Backoff(first=timedelta(minutes=15), cap=timedelta(hours=1))

    def refuse(fingerprint: str | None, backoff: Backoff | None = backoff) -> Reject:
        return store.record_reject(
            "asana",
            "team_customer",
            "custompms-customer:7",
            {},
            "403",
            fingerprint=fingerprint,
            backoff=backoff,
        )

    def wait(kept: Reject) -> timedelta:
        assert kept.retry_at is not None
        return kept.retry_at - kept.last_seen

    kept = [refuse("a") for _ in range(4)]
    assert [wait(k) for k in kept] == [
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(hours=1),
        timedelta(hours=1),
    ]
    assert not kept[-1].due(kept[-1].last_seen)
    assert kept[-1].due(kept[-1].last_seen + wait(kept[-1]))
    # Other values start from the first wait again.
    assert wait(refuse("b")) == timedelta(minutes=15)
    # Without a back-off (a record waiting for a reference): retried on the next run.
    unbacked = refuse("b", None)
    assert (unbacked.retry_at, unbacked.fingerprint, unbacked.attempts) == (None, "b", 6)
    assert unbacked.due(unbacked.last_seen)


# --- properties ----------------------------------------------------------------------------

KEYS = st.integers(min_value=1, max_value=6)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(KEYS, KEYS), max_size=12))
def test_links_stay_one_to_one(pairs: list[tuple[int, int]]) -> None:
    # Whatever pairs a target tries to link, each record is linked at most once, and a link
    # attempt fails exactly when it would link a record to a second partner.
    model: dict[int, int] = {}
    with tempfile.TemporaryDirectory() as directory, LinkStore(Path(directory) / "l.db") as store:
        for asana_key, custompms_key in pairs:
            allowed = model.get(asana_key, custompms_key) == custompms_key and (
                custompms_key not in model.values() or model.get(asana_key) == custompms_key
            )
            if allowed:
                store.link(
                    5, f"asana-task:{asana_key}", f"custompms-task:{custompms_key}", origin="asana"
                )
                model[asana_key] = custompms_key
            else:
                with pytest.raises(LinkError):
                    store.link(
                        5,
                        f"asana-task:{asana_key}",
                        f"custompms-task:{custompms_key}",
                        origin="asana",
                    )
        stored = {int(link.asana.key): int(link.custompms.key) for link in store.links()}
        assert stored == model
        for asana_key, custompms_key in model.items():
            assert store.resolve(f"custompms-task:{custompms_key}").key == str(asana_key)


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(KEYS, st.booleans(), max_size=6), st.sets(KEYS, max_size=6))
def test_pending_creates_recover_after_reopen(completed: dict[int, bool], failed: set[int]) -> None:
    # Begin a create for every source, complete some, refuse some for good, then "crash".
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "l.db"
        keys: dict[int, str] = {}
        with LinkStore(path) as store:
            for source, done in completed.items():
                store.begin_create(5, f"asana-task:{source}")
                if source in failed:
                    store.fail_create(f"asana-task:{source}")
                if done:
                    store.complete_create(f"asana-task:{source}", f"custompms-task:{source}")
                keys[source] = store.find(f"asana-task:{source}").create_key
        with LinkStore(path) as store:
            leftovers = {
                int(link.source.key): link.create_key
                for link in store.links(status=LinkStatus.PENDING)
            }
            assert leftovers == {s: keys[s] for s, done in completed.items() if not done}
            for source, key in leftovers.items():
                assert store.begin_create(5, f"asana-task:{source}").create_key == key
                assert key.endswith("/2" if source in failed else "/1")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["reject", "retry_ok"]), KEYS), max_size=15))
def test_rejects_retried_until_cleared(events: list[tuple[str, int]]) -> None:
    attempts: dict[int, int] = {}
    with tempfile.TemporaryDirectory() as directory, LinkStore(Path(directory) / "l.db") as store:
        for event, key in events:
            source = f"asana-task:{key}"
            if event == "reject":
                store.record_reject("custompms", "tasks", source, {"key": key}, "422", "name")
                attempts[key] = attempts.get(key, 0) + 1
            else:
                assert store.clear_reject("custompms", "tasks", source) is (key in attempts)
                attempts.pop(key, None)
        kept = {int(r.source_key.split(":")[1]): r.attempts for r in store.rejects()}
        assert kept == attempts


def test_two_runs_racing_to_begin_the_same_create_never_both_claim_it(store: LinkStore) -> None:
    """Each "run" has its own engine (as two processes would); they start together."""
    url = store.engine.url.render_as_string(hide_password=False)
    for claim in ("run:a", "run:b"):
        store.leases.acquire(claim, claim, Process.of())
    for n in range(8):
        source = f"asana-task:{100 + n}"
        outcomes = _race_to_begin(url, source, ("run:a", "run:b"))
        assert sorted(outcomes.values()) == ["claimed", "in flight elsewhere"], source
        [link] = [
            link for link in store.links(status=LinkStatus.PENDING) if str(link.asana) == source
        ]
        assert link.claimed_by == next(c for c, o in outcomes.items() if o == "claimed")


def _race_to_begin(url: str, source: str, claims: tuple[str, ...]) -> dict[str, str]:
    barrier = threading.Barrier(len(claims))
    outcomes: dict[str, str] = {}

    def attempt(claim: str) -> None:
        with LinkStore(url) as own:
            barrier.wait()
            try:
                own.begin_create(5, source, claim=claim)
                outcomes[claim] = "claimed"
            except ClaimedElsewhereError:
                outcomes[claim] = "in flight elsewhere"

    threads = [threading.Thread(target=attempt, args=(claim,)) for claim in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_a_crashed_runs_claim_is_taken_over_and_completing_twice_is_harmless(
    store: LinkStore, exited_process: Callable[[], Process]
) -> None:
    store.leases.acquire("run:crashed", "crashed", exited_process())
    store.begin_create(5, "asana-task:1", claim="run:crashed")
    taken = store.begin_create(5, "asana-task:1", claim="run:me")
    assert taken.claimed_by == "run:me"
    store.complete_create("asana-task:1", "custompms-task:9")
    # The reverse direction recognised it first; the creating run completes it too.
    again = store.complete_create("asana-task:1", "custompms-task:9")
    assert (again.status, again.claimed_by) == (LinkStatus.LINKED, None)
    with pytest.raises(LinkError, match="no pending create"):
        store.complete_create("asana-task:1", "custompms-task:10")
