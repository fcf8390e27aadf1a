"""Many tenants on Dagster, for real: the orchestrator's jobs run `meltano run sync` per
tenant, with the link store, Meltano's system database (its state backend too) and
Dagster's own storage in one throwaway PostgreSQL cluster.

Three tenants: acme (demo seed) and globex (overlap seed), each with its own sandbox and
Custompms, and initech, whose Asana token is wrong.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter, build_schedule_context
from local_stack.tenants_stack import TenantsStack, tenants_stack
from talk_sync.testing.postgres import PostgresCluster
from talk_sync_orchestrate.dagster_defs import ALL_TENANTS_JOB, tenant_schedule
from talk_sync_orchestrate.tenants import load_tenants

pytestmark = pytest.mark.e2e

GOOD = ("acme", "globex")


@pytest.fixture
def deployment(
    tmp_path: Path,
    meltano_installed: None,
    postgres_cluster: PostgresCluster,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[TenantsStack]:
    seeds = {"acme": "demo", "globex": "overlap", "initech": "demo"}
    with tenants_stack(
        tmp_path, postgres_cluster, seeds, bad_asana_tokens={"initech": "a-revoked-token"}
    ) as running:
        # This process reads Dagster's storage too.
        monkeypatch.setenv("DAGSTER_POSTGRES_URL", running.env["DAGSTER_POSTGRES_URL"])
        yield running


def _finish(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=600)
    return output


def _metadata(instance: DagsterInstance, tenant: str) -> dict[str, Any]:
    event = instance.get_latest_materialization_event(AssetKey(f"tenant_{tenant}"))
    assert event is not None
    assert event.asset_materialization is not None
    return {key: value.value for key, value in event.asset_materialization.metadata.items()}


def test_tenants_sync_in_parallel_each_alone_and_never_twice_at_once(
    deployment: TenantsStack,
) -> None:
    output = _finish(deployment.dagster(ALL_TENANTS_JOB))
    instance = DagsterInstance.from_config(str(deployment.dagster_home))
    records = instance.get_run_records(RunsFilter(job_name=ALL_TENANTS_JOB))
    assert len(records) == 1, output[-3000:]
    record = records[0]
    steps = {stat.step_key: stat for stat in instance.get_run_step_stats(record.dagster_run.run_id)}

    # The bad token fails its tenant alone, at once (no retry), saying what to fix.
    assert record.dagster_run.status == DagsterRunStatus.FAILURE
    assert {key: str(steps[key].status) for key in steps} == {
        "tenant_acme": "StepEventStatus.SUCCESS",
        "tenant_globex": "StepEventStatus.SUCCESS",
        "tenant_initech": "StepEventStatus.FAILURE",
    }, output[-3000:]
    assert steps["tenant_initech"].attempts == 1
    assert "tenant initech: misconfigured" in output
    assert "check the access_token setting" in output
    # Both good tenants ran at once, on the multi-process executor.
    acme, globex = steps["tenant_acme"], steps["tenant_globex"]
    starts, ends = (acme.start_time, globex.start_time), (acme.end_time, globex.end_time)
    assert None not in starts
    assert None not in ends
    assert max(starts) < min(ends)  # type: ignore[type-var]

    # Each good tenant's report is on its asset: everything created, nothing refused.
    for tenant in GOOD:
        metadata = _metadata(instance, tenant)
        assert metadata["asana_to_custompms/created"] > 0, metadata
        assert metadata["asana_to_custompms/rejects"] == 0, metadata
        assert metadata["asana_to_custompms/stuck"] == 0, metadata

    # Links, bookmarks and reports are kept per tenant, in PostgreSQL.
    engine = sqlalchemy.create_engine(deployment.links_url)
    with engine.connect() as connection:
        counts = {
            tenant: connection.execute(
                sqlalchemy.text(f"SELECT count(*) FROM talk_sync_{tenant}.talk_sync_links")  # noqa: S608
            ).scalar()
            for tenant in (*GOOD, "initech")
        }
        public = connection.execute(
            sqlalchemy.text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            )
        ).scalar()
    engine.dispose()
    assert counts["acme"]
    assert counts["globex"]
    assert counts["acme"] != counts["globex"]
    assert counts["initech"] == 0
    assert public == 0
    engine = sqlalchemy.create_engine(deployment.meltano_url)
    with engine.connect() as connection:
        state_ids = {
            row[0] for row in connection.execute(sqlalchemy.text("SELECT state_id FROM state"))
        }
    engine.dispose()
    suffixes = {state_id.rsplit(":", 1)[-1] for state_id in state_ids}
    assert set(GOOD) <= suffixes <= {*GOOD, "initech"}, state_ids
    for tenant in GOOD:
        reports = list(deployment.report_dir(tenant).glob("*.json"))
        assert len(reports) == 2, reports

    # A tick while acme's sync runs is skipped for acme, and only for acme.
    second = deployment.dagster("sync_acme")
    deadline = time.monotonic() + 120
    while not instance.get_run_records(
        RunsFilter(job_name="sync_acme", statuses=[DagsterRunStatus.STARTED])
    ):
        assert second.poll() is None, second.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "acme's second sync never started"
        time.sleep(0.1)
    tenants = {
        tenant.name: tenant for tenant in load_tenants(deployment.env["TALK_SYNC_TENANTS_FILE"])
    }
    ticks = {
        name: tenant_schedule(tenants[name], f"sync_{name}").evaluate_tick(
            build_schedule_context(instance=instance)
        )
        for name in GOOD
    }
    still_running = instance.get_run_records(
        RunsFilter(job_name="sync_acme", statuses=[DagsterRunStatus.STARTED])
    )
    assert still_running, "acme's sync ended before the tick: the overlap was not tested"
    assert "has not ended yet" in (ticks["acme"].skip_message or "")
    assert not ticks["acme"].run_requests
    assert not ticks["globex"].skip_message
    assert ticks["globex"].run_requests
    assert ticks["globex"].run_requests[0].tags["tenant"] == "globex"

    # The tick for globex runs beside acme's sync. Both second syncs find nothing to do:
    # each tenant converged in the first.
    third = deployment.dagster("sync_globex")
    for tenant, process in (("acme", second), ("globex", third)):
        output = _finish(process)
        assert process.returncode == 0, output[-3000:]
        metadata = _metadata(instance, tenant)
        for direction in ("asana_to_custompms", "custompms_to_asana"):
            assert metadata[f"{direction}/created"] == 0, (tenant, direction, metadata)
            assert metadata[f"{direction}/updated"] == 0, (tenant, direction, metadata)
            assert metadata[f"{direction}/unchanged"] > 0, (tenant, direction, metadata)
