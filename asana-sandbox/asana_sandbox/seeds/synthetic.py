"""``asana-sandbox seed``: a deterministic synthetic workspace of any size, streamed to JSON.

Records are generated and written one at a time, so 100k tasks need little memory and a
few seconds. The file is a ``--data`` document the server loads.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from asana_sandbox.clock import format_ms, parse_ms
from asana_sandbox.seeds import records as r
from asana_sandbox.store import FIRST_GID, FORMAT

BASE_MS = parse_ms("2025-01-06T08:00:00.000Z")
DAY_MS = 86_400_000
WORDS = (
    "audit",
    "budget",
    "design",
    "review",
    "launch",
    "migrate",
    "report",
    "plan",
    "test",
    "deploy",
    "invoice",
    "contract",
    "onboard",
    "research",
    "update",
    "support",
    "train",
)


@dataclass(frozen=True)
class Shape:
    """How big the synthetic workspace is."""

    workspaces: int = 1
    teams: int = 3
    users: int = 10
    projects: int = 10
    tasks: int = 100
    subtasks: int = 50
    seed_value: int = 1


class _Gids:
    def __init__(self) -> None:
        self.next = FIRST_GID

    def take(self, count: int) -> list[str]:
        start = self.next
        self.next += count
        return [str(gid) for gid in range(start, start + count)]


def _spread(total: int, buckets: int) -> list[int]:
    """Split ``total`` items over ``buckets`` as evenly as possible."""
    base, extra = divmod(total, buckets)
    return [base + (1 if index < extra else 0) for index in range(buckets)]


def _write_array(
    out: IO[str], key: str, items: Iterator[dict[str, Any]], *, last: bool = False
) -> int:
    out.write(f'"{key}":[')
    count = 0
    for item in items:
        out.write(("," if count else "") + json.dumps(item, separators=(",", ":")))
        count += 1
    out.write("]" + ("" if last else ",") + "\n")
    return count


def write(path: Path, shape: Shape) -> dict[str, int]:
    """Write the synthetic document; return how many records of each kind it holds."""
    if min(shape.workspaces, shape.users) < 1 or shape.teams < shape.workspaces:
        raise ValueError("need at least one workspace, one user and one team per workspace")
    if shape.projects < 1 and shape.tasks:
        raise ValueError("tasks need at least one project")
    rng = random.Random(shape.seed_value)
    gids = _Gids()
    workspace_gids = gids.take(shape.workspaces)
    user_gids = gids.take(shape.users)
    team_gids = gids.take(shape.teams)
    project_gids = gids.take(shape.projects)
    section_gids = gids.take(shape.projects * 2)
    task_gids = gids.take(shape.tasks)
    subtask_gids = gids.take(shape.subtasks)
    team_workspace = {gid: workspace_gids[i % shape.workspaces] for i, gid in enumerate(team_gids)}
    project_team = {gid: team_gids[i % shape.teams] for i, gid in enumerate(project_gids)}

    def stamp(index: int) -> str:
        return format_ms(BASE_MS + index * 1000)

    def workspaces() -> Iterator[dict[str, Any]]:
        for index, gid in enumerate(workspace_gids):
            yield r.workspace(
                gid, f"Workspace {index + 1}", organization=True, domains=[f"ws{index + 1}.example"]
            )

    def users() -> Iterator[dict[str, Any]]:
        for index, gid in enumerate(user_gids):
            teams = list(team_gids) if index == 0 else [team_gids[index % shape.teams]]
            yield r.user(
                gid,
                f"User {index + 1}",
                f"user{index + 1}@ws1.example",
                list(workspace_gids),
                teams,
            )

    def teams() -> Iterator[dict[str, Any]]:
        for index, gid in enumerate(team_gids):
            yield r.team(gid, f"Team {index + 1}", team_workspace[gid])

    def projects() -> Iterator[dict[str, Any]]:
        for index, gid in enumerate(project_gids):
            team = project_team[gid]
            yield r.project(
                gid,
                f"Project {index + 1}",
                workspace=team_workspace[team],
                team=team,
                owner=user_gids[index % shape.users],
                created_at=stamp(index),
                modified_at=stamp(index + 1),
                archived=index % 10 == 9,
            )

    def sections() -> Iterator[dict[str, Any]]:
        for index, gid in enumerate(project_gids):
            for offset, name in enumerate(("To do", "Done")):
                yield r.section(section_gids[index * 2 + offset], name, gid, stamp(index))

    def task_fields(index: int) -> dict[str, Any]:
        due = BASE_MS + rng.randint(0, 365) * DAY_MS
        completed = rng.random() < 0.3
        fields: dict[str, Any] = {
            "assignee": rng.choice(user_gids) if rng.random() < 0.8 else None,
            "due_on": format_ms(due)[:10],
            "completed_at": format_ms(due - DAY_MS) if completed else None,
        }
        if rng.random() < 0.3:
            fields["start_on"] = format_ms(due - rng.randint(1, 30) * DAY_MS)[:10]
        return fields

    per_project = _spread(shape.tasks, max(shape.projects, 1))
    project_index = {gid: index for index, gid in enumerate(project_gids)}
    task_project: list[str] = [
        gid for gid, count in zip(project_gids, per_project, strict=False) for _ in range(count)
    ]

    def tasks() -> Iterator[dict[str, Any]]:
        for index, gid in enumerate(task_gids):
            project = task_project[index]
            workspace = team_workspace[project_team[project]]
            fields = task_fields(index)
            section = section_gids[
                project_index[project] * 2 + (1 if fields["completed_at"] else 0)
            ]
            yield r.task(
                gid,
                f"{rng.choice(WORDS).title()} {index + 1}",
                workspace=workspace,
                created_by=user_gids[0],
                created_at=stamp(index),
                modified_at=stamp(index + shape.tasks),
                memberships=[{"project": project, "section": section}],
                notes=f"Synthetic task {index + 1}",
                **fields,
            )
        for index, gid in enumerate(subtask_gids):
            parent_index = index % max(shape.tasks, 1)
            project = task_project[parent_index]
            yield r.task(
                gid,
                f"Subtask {index + 1}",
                workspace=team_workspace[project_team[project]],
                created_by=user_gids[0],
                created_at=stamp(shape.tasks + index),
                modified_at=stamp(2 * shape.tasks + index),
                parent=task_gids[parent_index],
                **task_fields(index),
            )

    counts: dict[str, int] = {}
    with path.open("w", encoding="utf-8") as out:
        out.write(f'{{"format":"{FORMAT}","next_gid":{gids.next},\n')
        counts["workspaces"] = _write_array(out, "workspaces", workspaces())
        counts["users"] = _write_array(out, "users", users())
        counts["teams"] = _write_array(out, "teams", teams())
        counts["projects"] = _write_array(out, "projects", projects())
        counts["sections"] = _write_array(out, "sections", sections())
        counts["tasks"] = _write_array(out, "tasks", tasks(), last=True)
        out.write("}\n")
    return counts
