"""The Dagster building blocks of a tenants deployment (:mod:`.definitions` loads them).

Load them with ``dagster dev -m talk_sync_orchestrate.definitions`` (or a workspace.yaml
entry). From the tenants file (``$TALK_SYNC_TENANTS_FILE``, see
:mod:`talk_sync_orchestrate.tenants`) they make:

- an asset per tenant, ``tenant_<name>``: materialising it is one ``meltano run sync`` of
  that tenant. Its metadata is the run's report (counts per direction, conflicts, rejects,
  stuck records), so the asset's history in the UI is the tenant's sync history;
- a job per tenant, ``sync_<name>``, and its schedule (the tenant's ``schedule``, every 15
  minutes by default). A tick while that tenant's previous run is still queued or running
  is skipped, with the reason in the tick's history;
- ``sync_all_tenants``: every tenant in one run, in parallel on the multi-process executor
  (``$TALK_SYNC_WORKERS`` processes at once; Dagster's Celery or Kubernetes executors spread
  the same steps over machines).

A failed sync is retried with exponential back-off (``$TALK_SYNC_RETRIES`` times, from
``$TALK_SYNC_RETRY_DELAY_SECONDS``), unless retrying cannot help: a refused token or stuck
records fail the run at once, which is the alert.
"""

# No `from __future__ import annotations` here: Dagster reads the asset function's `context`
# annotation at definition time and refuses it as a string.

import os
from collections.abc import Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AssetSelection,
    Backoff,
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    Definitions,
    Failure,
    Jitter,
    MaterializeResult,
    RetryPolicy,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    asset,
    define_asset_job,
    multiprocess_executor,
    schedule,
)

from talk_sync_orchestrate.tenant_run import Outcome, TenantRun, run_tenant
from talk_sync_orchestrate.tenants import (
    TENANTS_FILE_ENV,
    Deployment,
    Tenant,
    TenantConfigError,
    load_tenants,
)

#: The run tag naming the tenant a run syncs (the run queue's per-tenant limit uses it).
TENANT_TAG = "tenant"
ALL_TENANTS_JOB = "sync_all_tenants"
GROUP = "tenants"
#: A run in one of these states still holds (or will hold) its tenant.
IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def _flat(summary: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested report counts as flat metadata entries (``asana_to_custompms/created``)."""
    flat: dict[str, Any] = {}
    for key, value in summary.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}/"))
        elif value is not None:
            flat[f"{prefix}{key}"] = value
    return flat


def retry_policy(environ: Mapping[str, str] = os.environ) -> RetryPolicy:
    return RetryPolicy(
        max_retries=int(environ.get("TALK_SYNC_RETRIES", "3")),
        delay=float(environ.get("TALK_SYNC_RETRY_DELAY_SECONDS", "60")),
        backoff=Backoff.EXPONENTIAL,
        jitter=Jitter.PLUS_MINUS,
    )


def tenant_asset(
    tenant: Tenant, tenants: list[Tenant], deployment: Deployment, retry: RetryPolicy
) -> AssetsDefinition:
    """The asset whose materialisation is one sync of ``tenant``."""

    @asset(
        name=f"tenant_{tenant.name}",
        group_name=GROUP,
        retry_policy=retry,
        kinds={"meltano"},
        description=f"Asana <-> Custompms sync of tenant {tenant.name}",
    )
    def sync(context: AssetExecutionContext) -> MaterializeResult:
        try:
            run: TenantRun = run_tenant(tenant, tenants, deployment, log=context.log.debug)
        except TenantConfigError as error:  # a token's variable unset: no retry can help
            context.log.error(str(error))
            raise Failure(description=str(error), allow_retries=False) from None
        metadata = _flat(run.summary())
        if run.outcome is Outcome.SUCCEEDED:
            context.log.info(run.describe())
            return MaterializeResult(metadata=metadata)
        context.log.error(run.describe())
        raise Failure(
            description=run.describe(), metadata=metadata, allow_retries=run.outcome.retryable
        )

    return sync


def in_flight_run(instance: DagsterInstance, tenant: str) -> str | None:
    """The id of a run that syncs ``tenant`` and has not ended, if any."""
    for filters in (
        RunsFilter(tags={TENANT_TAG: tenant}, statuses=IN_FLIGHT),
        RunsFilter(job_name=ALL_TENANTS_JOB, statuses=IN_FLIGHT),
    ):
        records = instance.get_run_records(filters=filters, limit=1)
        if records:
            return records[0].dagster_run.run_id
    return None


def tenant_schedule(tenant: Tenant, job_name: str) -> ScheduleDefinition:
    """The tenant's schedule: a run per tick, unless the last one still runs."""

    @schedule(
        cron_schedule=tenant.schedule,
        job_name=job_name,
        name=f"{job_name}_schedule",
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
    )
    def tick(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        busy = in_flight_run(context.instance, tenant.name)
        if busy is not None:
            return SkipReason(
                f"tenant {tenant.name}: run {busy} has not ended yet; this tick is skipped"
            )
        return RunRequest(tags={TENANT_TAG: tenant.name})

    return tick


def build_definitions(
    tenants: list[Tenant], deployment: Deployment, environ: Mapping[str, str] = os.environ
) -> Definitions:
    """Assets, jobs and schedules for ``tenants``; retries and workers from ``environ``."""
    retry = retry_policy(environ)
    assets = [tenant_asset(tenant, tenants, deployment, retry) for tenant in tenants]
    jobs = []
    schedules = []
    for tenant, tenant_sync in zip(tenants, assets, strict=True):
        job = define_asset_job(
            f"sync_{tenant.name}",
            selection=AssetSelection.assets(tenant_sync),
            run_tags={TENANT_TAG: tenant.name},
            description=f"One sync of tenant {tenant.name}",
        )
        jobs.append(job)
        schedules.append(tenant_schedule(tenant, job.name))
    workers = int(environ.get("TALK_SYNC_WORKERS") or os.cpu_count() or 1)
    jobs.append(
        define_asset_job(
            ALL_TENANTS_JOB,
            selection=AssetSelection.groups(GROUP),
            executor_def=multiprocess_executor.configured({"max_concurrent": workers}),
            description="Every tenant once, in parallel",
        )
    )
    return Definitions(assets=assets, jobs=jobs, schedules=schedules)


def definitions_from_environment(environ: Mapping[str, str] = os.environ) -> Definitions:
    """The definitions of the tenants file ``$TALK_SYNC_TENANTS_FILE`` names."""
    deployment = Deployment.from_environment(environ)
    path = environ.get(TENANTS_FILE_ENV) or str(deployment.project_root / "tenants.yml")
    return build_definitions(load_tenants(path), deployment, environ)
