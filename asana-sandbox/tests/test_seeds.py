"""Seeds: the demo organization and deterministic synthetic workspaces."""

from __future__ import annotations

import json
from pathlib import Path

from asana_sandbox import seeds
from asana_sandbox.seeds.synthetic import Shape, write
from asana_sandbox.store import Store


def test_demo_seed_is_a_small_realistic_organization() -> None:
    """An organization and a personal workspace, three teams (and a guest-only one), a client
    board, ~150 tasks."""
    store = Store()
    seeds.build("demo", store)
    workspaces = list(store.records["workspace"].values())
    assert sorted(w["is_organization"] for w in workspaces) == [False, True]
    teams = sorted(t.get("visibility") for t in store.records["team"].values())
    assert teams == ["request_to_join"] * 3 + ["secret"]
    projects = {p["name"]: p for p in store.records["project"].values()}
    board = projects["Client projects"]
    assert board["default_view"] == "board"
    engagements = [store.records["task"][gid] for gid in store.tasks_by_project[board["gid"]]]
    assert len(engagements) == 10
    assert all(t["start_on"] and t["due_on"] and t["assignee"] for t in engagements)
    tasks = list(store.records["task"].values())
    assert 130 <= len(tasks) <= 170
    assert any(t["parent"] for t in tasks)
    assert any(t.get("due_at") for t in tasks)
    assert any(t["completed"] for t in tasks)
    assert any(p.get("archived") for p in projects.values())
    assert all("@" in u["email"] for u in store.records["user"].values())


def test_synthetic_seed_is_deterministic_and_loadable(tmp_path: Path) -> None:
    """Same shape and seed value, same bytes; the file loads with indexes built."""
    shape = Shape(workspaces=2, teams=4, users=5, projects=6, tasks=300, subtasks=120, seed_value=3)
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    counts = write(first, shape)
    write(second, shape)
    assert first.read_bytes() == second.read_bytes()
    assert counts == {
        "workspaces": 2,
        "users": 5,
        "teams": 4,
        "projects": 6,
        "sections": 12,
        "tasks": 420,
    }
    store = Store.from_file(first)
    assert sum(len(store.tasks_by_project[p]) for p in store.records["project"]) == 300
    assert sum(len(children) for children in store.subtasks.values()) == 120
    assert int(store.new_gid()) > max(int(g) for g in store.records["task"])
    assert json.loads(first.read_text())["format"] == "asana-sandbox/1"


def test_overlap_seed_is_small_with_old_and_new_timestamps_and_two_reviews() -> None:
    """One organization, three teams, five projects (one a board), twelve tasks; every
    project and task modified either before or after 2026-06-01."""
    store = Store()
    seeds.build("overlap", store)
    records = store.records
    assert [w["name"] for w in records["workspace"].values()] == ["Northwind Consulting"]
    assert [t["name"] for t in records["team"].values()] == ["Globex", "Initech", "Hooli"]
    me = next(iter(records["user"].values()))
    assert me["name"] == "Alex Morgan"
    assert set(me["teams"]) == set(records["team"])
    assert len(records["project"]) == 5
    assert len(records["task"]) == 12
    stamps = {
        record["modified_at"][:10]
        for kind in ("project", "task")
        for record in records[kind].values()
    }
    assert stamps == {"2026-03-01", "2026-09-01"}
    assert [t["name"] for t in records["task"].values()].count("Review") == 2
    emails = {u["gid"]: u["email"] for u in records["user"].values()}
    assert all(emails.get(t["assignee"]) for t in records["task"].values())
