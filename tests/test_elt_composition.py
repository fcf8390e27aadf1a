"""Each tap stands alone: `meltano config test <tap>` passes and it composes with target-jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from local_stack import LocalStack

pytestmark = pytest.mark.e2e


def _jsonl_records(directory: Path, stream: str) -> list[dict]:
    path = directory / f"{stream}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("tap", ["tap-asana-talk", "tap-custompms"])
def test_meltano_config_test_passes(seeded_stack: LocalStack, tap: str) -> None:
    result = seeded_stack.meltano("config", "test", tap)
    assert "Plugin configuration is valid" in result.stdout


def test_tap_custompms_to_target_jsonl(seeded_stack: LocalStack, tmp_path: Path) -> None:
    out = tmp_path / "jsonl"
    out.mkdir()
    seeded_stack.env["TARGET_JSONL_DESTINATION_PATH"] = str(out)
    seeded_stack.run("tap-custompms", "target-jsonl")
    customers = _jsonl_records(out, "customers")
    tasks = _jsonl_records(out, "tasks")
    assert customers
    assert tasks
    assert all(isinstance(record["id"], int) for record in customers)
    assert {task["project_id"] for task in tasks} <= {
        project["id"] for project in _jsonl_records(out, "projects")
    }


def test_tap_asana_talk_to_target_jsonl(stack: LocalStack, tmp_path: Path) -> None:
    out = tmp_path / "jsonl"
    out.mkdir()
    stack.env["TARGET_JSONL_DESTINATION_PATH"] = str(out)
    stack.run("tap-asana-talk", "target-jsonl")
    workspaces = _jsonl_records(out, "workspaces")
    tasks = _jsonl_records(out, "tasks")
    assert {w["name"] for w in workspaces} == {"Acme Consulting", "Personal Projects"}
    assert len(tasks) >= 100
    assert any(task.get("parent") for task in tasks), "subtasks arrive with their parent"
