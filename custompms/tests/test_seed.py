"""Named seeds: sample (the default), demo and overlap; idempotent, with or without external_ids."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from custompms.resources import CUSTOMERS, PROJECTS, TASKS
from custompms.seed import SEEDS, seed
from custompms.store import Store
from custompms.testing import running_server

RESOURCES = (CUSTOMERS, PROJECTS, TASKS)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "pms.db")
    yield opened
    opened.close()


def records(store: Store, resource: str) -> list[dict]:
    chosen = next(r for r in RESOURCES if r.name == resource)
    return store.list(chosen, limit=1000)[0]


@pytest.mark.parametrize(
    ("name", "counts"),
    [
        ("sample", {"customers": 3, "projects": 3, "tasks": 6}),
        ("demo", {"customers": 5, "projects": 4, "tasks": 9}),
        ("overlap", {"customers": 4, "projects": 6, "tasks": 10}),
    ],
)
def test_each_seed_loads_once(store: Store, name: str, counts: dict[str, int]) -> None:
    assert seed(store, name) == counts
    assert seed(store, name) == dict.fromkeys(counts, 0)
    assert {resource: len(records(store, resource)) for resource in counts} == counts


def test_the_default_seed_is_the_sample(store: Store) -> None:
    seed(store)
    external_ids = {r["external_id"] for r in records(store, "customers")}
    assert external_ids == {"seed:customer:acme", "seed:customer:acme-eu", "seed:customer:globex"}


def test_demo_adds_records_without_external_ids_to_the_sample(store: Store) -> None:
    seed(store, "demo")
    added = {
        resource: sorted(r["name"] for r in records(store, resource) if r["external_id"] is None)
        for resource in ("customers", "projects", "tasks")
    }
    assert added == {
        "customers": ["Acme Consulting", "Operations"],
        "projects": ["Hiring"],
        "tasks": ["Designer intern", "Interview training", "Onboarding checklist"],
    }
    customers = {r["name"]: r for r in records(store, "customers")}
    assert customers["Operations"]["parent_id"] == customers["Acme Consulting"]["id"]


def test_demo_on_top_of_the_sample_adds_only_the_overlap(store: Store) -> None:
    seed(store, "sample")
    assert seed(store, "demo") == {"customers": 2, "projects": 1, "tasks": 3}


def test_overlap_records_have_no_external_id_and_date_from_june(store: Store) -> None:
    seed(store, "overlap")
    stamps = []
    for resource in ("customers", "projects", "tasks"):
        found = records(store, resource)
        assert all(r["external_id"] is None for r in found)
        assert all(r["created_at"] == r["updated_at"] for r in found)
        stamps.append([r["updated_at"] for r in found])
    # Each table's records a microsecond apart from 2026-06-01, in seed order.
    assert stamps[0] == [f"2026-06-01T00:00:00.00000{i}Z" for i in range(4)]
    assert all(s[0] == "2026-06-01T00:00:00.000000Z" for s in stamps)
    tasks = {r["name"]: r for r in records(store, "tasks")}
    assert tasks["Customer table"]["parent_task_id"] == tasks["Data mapping"]["id"]
    assert tasks["KPI  Definitions "]["status"] == "open"
    assert tasks["Dashboard mockups"]["status"] == "done"


def test_overlap_never_dates_a_record_before_the_newest_one(store: Store) -> None:
    """On a database written since 2026-06-01, updated_at keeps increasing in commit order
    (a reader paging by updated_at never misses a record)."""
    today = CUSTOMERS.create.model_validate({"name": "Written today"}).model_dump()
    _, newest, _ = store.create(CUSTOMERS, today)
    seed(store, "overlap")
    after = [r for r in records(store, "customers") if r["name"] != "Written today"]
    assert len(after) == 4
    assert all(r["updated_at"] > newest["updated_at"] for r in after)


def test_a_record_without_external_id_is_found_by_name_in_its_place(store: Store) -> None:
    seed(store, "overlap")
    # Another "Review" elsewhere does not count; the same name in the same project does.
    projects = {r["name"]: r["id"] for r in records(store, "projects")}
    review = {"project_id": projects["Support contract"], "name": "Review"}
    store.create(TASKS, TASKS.create.model_validate(review).model_dump())
    assert seed(store, "overlap") == {"customers": 0, "projects": 0, "tasks": 0}
    tasks = [r for r in records(store, "tasks") if r["name"] == "Review"]
    assert len(tasks) == 2


def test_unknown_seed_names_the_known_ones(store: Store) -> None:
    with pytest.raises(KeyError, match="choose from demo, overlap, sample"):
        seed(store, "nope")
    assert sorted(SEEDS) == ["demo", "overlap", "sample"]


def test_server_loads_a_named_seed(tmp_path: Path) -> None:
    with running_server(tmp_path / "pms.db", seed="overlap") as server:
        response = httpx.get(f"{server.api_url}/customers", headers=server.headers)
    names = sorted(c["name"] for c in response.raise_for_status().json()["data"])
    assert names == ["GLOBEX", "Initech", "Northwind Consulting", "Soylent"]
