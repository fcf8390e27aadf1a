"""Moves written to Asana through `meltano run sync` whatever order a /batch runs in.

Live, Asana runs a batch's actions in parallel, in no guaranteed order: two calls that
depend on each other must never share a batch. The sandbox runs each batch in a shuffled
order (``--batch-order shuffled``, seeded) and counts batches that write one record twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from local_stack import local_stack
from local_stack.systems import Systems

pytestmark = pytest.mark.e2e

WEBSITE, MOBILE = "1200000000000064", "1200000000000087"  # Asana projects of the demo seed
SHUFFLED = ["--batch-order", "shuffled"]
#: A seed under which the old, unsplit batch ran the subtask's setParent before its new
#: parent's: refused as a cycle (400).
FAULT_SEED = 1


def test_a_parent_and_subtask_swapping_places_and_a_task_changing_project_reach_asana(
    tmp_path: Path, meltano_installed: None
) -> None:
    with local_stack(
        tmp_path,
        custompms_seed=True,
        discover_once=True,
        asana_args=SHUFFLED,
        fault_seed=FAULT_SEED,
    ) as stack:
        s = Systems(stack)
        s.sync()  # links the demo
        website = s.pms_of("projects", f"asana-project:{WEBSITE}")
        mobile = s.pms_of("projects", f"asana-project:{MOBILE}")
        parent = s.pms_create("tasks", name="Swap: parent first", project_id=website["id"])
        child = s.pms_create(
            "tasks", name="Swap: child first", project_id=website["id"], parent_task_id=parent["id"]
        )
        mover = s.pms_create("tasks", name="Changes project", project_id=website["id"])
        s.sync()
        gid = {
            task["id"]: s.asana_ref_of(f"custompms-task:{task['id']}").split(":")[1]
            for task in (parent, child, mover)
        }
        assert s.asana("tasks", gid[child["id"]])["parent"]["gid"] == gid[parent["id"]]

        # The subtask becomes the top-level task, its parent its subtask; a task moves.
        s.pms_edit("tasks", child["id"], parent_task_id=None)
        s.pms_edit("tasks", parent["id"], parent_task_id=child["id"])
        s.pms_edit("tasks", mover["id"], project_id=mobile["id"])
        stack.asana.reset_stats()
        reports = s.sync()

        ours = {f"custompms-task:{task['id']}" for task in (parent, child, mover)}
        rejects = reports["custompms -> asana"]["rejects"]
        assert [r for r in rejects if r["record"] in ours] == []
        top, sub = s.asana("tasks", gid[child["id"]]), s.asana("tasks", gid[parent["id"]])
        assert top["parent"] is None
        assert [m["project"]["gid"] for m in top["memberships"]] == [WEBSITE]
        assert sub["parent"]["gid"] == gid[child["id"]]
        assert sub["memberships"] == []
        moved = s.asana("tasks", gid[mover["id"]])
        assert [m["project"]["gid"] for m in moved["memberships"]] == [MOBILE]
        assert stack.asana.stats()["batch_same_record_writes"] == 0
        s.assert_idle_sync_writes_nothing()
