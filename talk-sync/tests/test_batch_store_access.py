"""How much a batch costs the link store: a constant number of statements, however many
records it holds, on SQLite and PostgreSQL alike; and a waiting record is planned again
only once what it waits for is linked (docs/architecture.md §3.3, §4.6)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from talk_sync.apply import ApplyEngine
from talk_sync.flows import get_flow
from talk_sync.incoming import Incoming
from talk_sync.linkstore import LinkStore
from talk_sync.refs import Side, parse_ref
from talk_sync.testing import MemoryDestination

#: Below the store's few hundred refs per query, so both sizes read in as many queries.
SMALL, LARGE = 20, 300


@contextmanager
def statements(store: LinkStore) -> Iterator[list[str]]:
    """The SQL statements the store sends inside the block."""
    sent: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(store.engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(store.engine, "before_cursor_execute", note)


def task(n: int, name: str) -> Incoming:
    desired = {"name": name, "project_id": "asana-project:3", "parent_task_id": None}
    return Incoming(
        get_flow("task_task"), parse_ref(f"asana-task:{100 + n}"), desired, {"name": name}
    )


def one_batch(store: LinkStore, pms: MemoryDestination, items: list[Incoming]) -> int:
    """Statements of one run that applies ``items`` as one batch (then its checkpoint)."""
    engine = ApplyEngine(store, pms, adopt_existing=False)
    engine.start()
    with statements(store) as sent:
        engine.apply(items)
        engine.checkpoint()
    report = engine.finish()
    assert report.totals()["skipped"] == 0
    return len(sent)


def test_a_batch_costs_the_same_statements_whatever_its_size(store: LinkStore) -> None:
    pms = MemoryDestination(Side.CUSTOMPMS)
    pms.put("custompms-project:7", {"name": "ERP", "customer_id": 1})
    snapshots = {"asana_snapshot": {"name": "ERP"}, "custompms_snapshot": {"name": "ERP"}}
    store.link(
        "project_project", "asana-project:3", "custompms-project:7", origin="asana", **snapshots
    )

    creates = {
        size: one_batch(store, pms, [task(n + offset, f"Task {n}") for n in range(size)])
        for size, offset in ((SMALL, 0), (LARGE, 1000))
    }
    assert len(pms.of_type("task")) == SMALL + LARGE
    assert creates[SMALL] == creates[LARGE], creates

    updates = {
        size: one_batch(store, pms, [task(n + offset, f"Task {n}, renamed") for n in range(size)])
        for size, offset in ((SMALL, 0), (LARGE, 1000))
    }
    assert {t["name"] for t in pms.of_type("task")} == {f"Task {n}, renamed" for n in range(LARGE)}
    assert updates[SMALL] == updates[LARGE], updates


def test_a_waiting_record_is_planned_again_only_once_its_parent_is_linked(
    store: LinkStore,
) -> None:
    pms = MemoryDestination(Side.CUSTOMPMS)
    engine = ApplyEngine(store, pms, adopt_existing=False)
    planned: list[str] = []
    plan = engine.planner.plan

    def counting_plan(item: Incoming, *args: Any, **kwargs: Any) -> Any:
        planned.append(str(item.source))
        return plan(item, *args, **kwargs)

    engine.planner.plan = counting_plan  # type: ignore[method-assign]
    teams = [
        Incoming(
            get_flow("team_customer"),
            parse_ref(f"asana-team:{10 + n}"),
            {"name": f"Team {n}", "parent_id": "asana-workspace:1"},
            {"name": f"Team {n}"},
        )
        for n in range(30)
    ]
    workspace = Incoming(
        get_flow("workspace_customer"), parse_ref("asana-workspace:1"), {"name": "Acme"}, {}
    )
    engine.start()
    engine.apply(teams)  # their workspace has not arrived: all wait
    for _ in range(3):  # STATE after STATE: nothing they wait for has changed
        engine.checkpoint()
    assert len(planned) == 30

    engine.apply([workspace])
    engine.checkpoint()  # now each is planned once more, and created
    report = engine.finish()
    assert len(planned) == 30 + 1 + 30
    assert report.totals()["created"] == 31
    assert store.rejects() == []
