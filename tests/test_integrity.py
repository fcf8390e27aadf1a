"""Overlapping runs, lost answers and stuck records, through `meltano run` on both servers.

The overlap scenarios hold one run's write in a proxy (local_stack.write_gate) and run the
other one to its end inside that window, then let the first go on. Every scenario ends
with the sync rerun until quiet and both systems compared with a clean run's.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from local_stack.crash_campaign import GatedStack, Reference, compare, gated_stack, world_of

pytestmark = pytest.mark.e2e

A_TO_C = ("run", "tap-asana-talk", "target-custompms")
C_TO_A = ("run", "tap-custompms", "target-asana-talk")
HOLD_TIMEOUT = 300


def assert_converges_to(gated: GatedStack, expected: Reference, log: Path) -> None:
    """Sync until quiet; then both systems hold exactly the clean run's records."""
    runs, quiet, codes = gated.sync_until_quiet(log)
    assert quiet, f"no quiet sync after {runs} runs (exit codes {codes}); see {log}"
    duplicates, lost, mismatched, notes = compare(world_of(gated.stack), expected.world)
    assert (duplicates, lost, mismatched) == (0, 0, 0), "\n".join(notes[:20])


def test_a_second_sync_exits_before_writing_while_the_first_runs(
    clean_reference: Reference, tmp_path: Path
) -> None:
    log = tmp_path / "meltano.log"
    with gated_stack(tmp_path) as gated:
        held = gated.gates["custompms"]
        held.arm(1, "answered")  # inside the first sync's second block
        first = gated.start("run", "sync", log=log)
        assert held.held.wait(HOLD_TIMEOUT), f"the first sync never wrote; see {log}"
        writes = gated.writes()

        second_log = tmp_path / "second.log"
        assert gated.run("run", "sync", log=second_log) == 1
        output = second_log.read_text()
        assert "talk-sync: another sync holds the lock" in output
        assert "this sync wrote nothing" in output
        # A lone pipeline started meanwhile refuses too, before its first write.
        lone_log = tmp_path / "lone.log"
        assert gated.run(*C_TO_A, log=lone_log) != 0
        assert "another sync holds the link store's lock" in lone_log.read_text()
        assert gated.writes() == writes  # neither wrote anything

        held.release()
        assert first.wait(600) == 0, log.read_text()[-4000:]
        assert_converges_to(gated, clean_reference, log)


def test_custompms_records_of_an_unfinished_create_are_not_copied_to_asana(
    clean_reference: Reference, tmp_path: Path
) -> None:
    """Asana -> Custompms created records and waits for its answer; meanwhile Custompms ->
    Asana reads them (their external_id names their Asana record, the link is pending)."""
    log = tmp_path / "meltano.log"
    with gated_stack(tmp_path) as gated:
        held = gated.gates["custompms"]
        held.arm(1, "answered")
        first = gated.start(*A_TO_C, log=log)
        assert held.held.wait(HOLD_TIMEOUT), f"Asana -> Custompms never wrote; see {log}"
        assert gated.run(*C_TO_A, log=log) == 0  # links them; a copy would show below
        held.release()
        assert first.wait(600) == 0, log.read_text()[-4000:]
        assert_converges_to(gated, clean_reference, log)


def test_asana_records_of_an_unfinished_create_are_neither_copied_nor_created_twice(
    clean_reference: Reference, tmp_path: Path, postgres_url: str
) -> None:
    """Custompms -> Asana created records and waits for Asana's answer; meanwhile Asana ->
    Custompms reads them, and a second Custompms -> Asana run (--force) tries again.

    On PostgreSQL (the other overlap tests use SQLite): the claims hold across connections.
    """
    log = tmp_path / "meltano.log"
    with gated_stack(tmp_path, link_store_url=postgres_url) as gated:
        held = gated.gates["asana"]
        held.arm(1, "answered")
        first = gated.start(*C_TO_A, log=log)
        assert held.held.wait(HOLD_TIMEOUT), f"Custompms -> Asana never wrote; see {log}"

        assert gated.run(*A_TO_C, log=log) == 0  # waits for them; a copy would show below
        assert gated.run("run", "--force", *C_TO_A[1:], log=log) == 0  # leaves them alone

        held.release()
        assert first.wait(600) == 0, log.read_text()[-4000:]
        assert_converges_to(gated, clean_reference, log)


def test_a_sync_under_lost_answers_ends_like_a_clean_one(
    clean_reference: Reference, tmp_path: Path
) -> None:
    """20% of the writes on both servers run and then answer a 5xx or drop the connection."""
    faults = {"fault_after_write_rate": 0.2, "fault_seed": 20261130}
    log = tmp_path / "meltano.log"
    with gated_stack(tmp_path, custompms_options=faults, **faults) as gated:
        runs, quiet, codes = gated.sync_until_quiet(log, max_runs=6)
        stats = gated.stack.asana.stats()
        assert stats["after_write_faults_total"] > 0, stats
        assert quiet, f"no quiet sync after {runs} runs (exit codes {codes}); see {log}"
        duplicates, lost, mismatched, notes = compare(world_of(gated.stack), clean_reference.world)
        assert (duplicates, lost, mismatched) == (0, 0, 0), "\n".join(notes[:20])


def test_a_stuck_record_fails_the_sync_at_its_end_after_both_directions_ran(
    tmp_path: Path,
) -> None:
    log = tmp_path / "meltano.log"
    with gated_stack(tmp_path) as gated:
        pms = httpx.Client(
            base_url=gated.stack.custompms.api_url, headers=gated.stack.custompms.headers
        )
        customer = pms.post("/customers", json={"name": "Orphanage"}).raise_for_status().json()
        project = pms.post("/projects", json={"name": "Doomed", "customer_id": customer["id"]})
        project = project.raise_for_status().json()
        task = pms.post("/tasks", json={"name": "Left behind", "project_id": project["id"]})
        task = task.raise_for_status().json()
        headers = {"If-Match": str(project["version"])}
        pms.delete(f"/projects/{project['id']}", headers=headers).raise_for_status()

        assert gated.run("run", "sync", log=log) == 1
        output = log.read_text()
        stuck = f"custompms-task:{task['id']}"
        assert "talk-sync: the sync left stuck records (1 in custompms-to-asana)" in output
        assert f"stuck asana task_task {stuck}" in output
        assert "deleted on one side" in output
        reports = sorted((gated.stack.workdir / "reports").glob("*.json"))
        assert {path.name.split("-2")[0] for path in reports} == {
            "asana-to-custompms",
            "custompms-to-asana",
        }, "both directions ran"

        # The fix the README gives: delete the record (or move it under a synced project).
        version = pms.get(f"/tasks/{task['id']}").raise_for_status().json()["version"]
        pms.delete(f"/tasks/{task['id']}", headers={"If-Match": str(version)}).raise_for_status()
        assert gated.run("run", "sync", log=log) == 0
        pms.close()
