"""The whole `meltano run sync` against a sandbox that behaves like the live Asana API at its
least kind: events late and sometimes lost, subtask edits missing from their project's
event stream, pagination offsets that expire, and writes whose answer is lost.

Every edit must still arrive, and nothing may be duplicated.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from local_stack import local_stack
from local_stack.systems import Systems

pytestmark = pytest.mark.e2e

LIVE_RULES = [
    "--event-delay-s", "2",
    "--event-drop-rate", "0.1",
    "--subtask-events", "none",
    "--offset-ttl-s", "5",
    "--fault-after-write-rate", "0.2",
    "--fault-seed", "20261130",
]  # fmt: skip
AUDIT, AUDIT_DRAFT = "1200000000000068", "1200000000000069"  # a task and its subtask
#: Syncs allowed for the edits to arrive (each takes longer than the event delay).
ATTEMPTS = 4


def test_every_edit_arrives_and_nothing_is_duplicated_under_the_live_apis_rules(
    tmp_path: Path, meltano_installed: None
) -> None:
    with local_stack(tmp_path, asana_args=LIVE_RULES, discover_once=True) as stack:
        # The shortest interval: every sync also rescans every project.
        stack.env["TAP_ASANA_TALK_FULL_SCAN_INTERVAL_HOURS"] = "0"
        s = Systems(stack)
        for _ in range(ATTEMPTS):  # until the lost answers and events are made up for
            if stack.run("sync", check=False).returncode == 0 and len(s.pms_all("tasks")) == 135:
                break
        tasks_before = len(s.pms_all("tasks"))
        assert tasks_before == 135

        s.asana_edit("tasks", AUDIT, name="Site audit (live rules)")
        s.asana_edit("tasks", AUDIT_DRAFT, name="Audit draft (live rules)")
        pms_task = s.pms_of("tasks", f"asana-task:{AUDIT}")
        s.pms_edit("tasks", pms_task["id"], description="Edited in Custompms")

        for _ in range(ATTEMPTS):
            stack.run("sync", check=False)
            arrived = (
                s.pms_of("tasks", f"asana-task:{AUDIT}")["name"],
                s.pms_of("tasks", f"asana-task:{AUDIT_DRAFT}")["name"],
                s.asana("tasks", AUDIT)["notes"],
            )
            if arrived == (
                "Site audit (live rules)",
                "Audit draft (live rules)",
                "Edited in Custompms",
            ):
                break
        assert arrived == (
            "Site audit (live rules)",
            "Audit draft (live rules)",
            "Edited in Custompms",
        )
        assert len(s.pms_all("tasks")) == tasks_before  # nothing duplicated
