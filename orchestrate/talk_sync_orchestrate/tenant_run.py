"""One tenant's sync: ``meltano run sync`` in the tenant's environment, and what it did.

Independent of any orchestrator: :mod:`talk_sync_orchestrate.definitions` calls
:func:`run_tenant` from Dagster, and anything else (a cron line, another scheduler) can too.
The outcome says whether to try again: a refused token or stuck records will not mend
themselves by retrying, a timeout or a server error may.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from talk_sync.report_files import recent_runs

from talk_sync_orchestrate.tenants import Deployment, Tenant

#: The counters of a run report's ``totals`` that the summary carries.
COUNTERS = ("created", "updated", "unchanged", "conflicts", "rejected", "deferred", "unlinked")
#: Lists in a run report that need a person's attention, counted in the summary.
ATTENTION = ("stuck", "rejects", "ambiguous", "unreadable")
#: talk-sync's messages (talk_sync.cli, talk_sync.startup_errors) that classify a failure.
_STUCK = "left stuck records"
_LOCKED = "another sync holds the lock"
_CONFIG = ("check the access_token setting", "check the api_token setting", "(401)", "(403)")


class Outcome(str, Enum):
    SUCCEEDED = "succeeded"
    #: The tenant's sync already runs elsewhere (its sync lock): this one wrote nothing;
    #: a later try finds it ended.
    LOCKED = "locked"
    #: Stuck records: a person must act; retrying changes nothing.
    STUCK = "stuck"
    #: A token refused, or another setting wrong: fix the configuration; no retry.
    MISCONFIGURED = "misconfigured"
    #: Anything else (a timeout, a server error, a crash): worth another try.
    FAILED = "failed"

    @property
    def retryable(self) -> bool:
        return self in (Outcome.LOCKED, Outcome.FAILED)


@dataclass
class TenantRun:
    """What one ``meltano run`` of a tenant did."""

    tenant: str
    outcome: Outcome
    exit_code: int
    seconds: float
    #: The run reports written during the run, by direction (``asana -> custompms``).
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The last lines of output that say why it failed (empty when it succeeded).
    reason: str = ""

    def summary(self) -> dict[str, Any]:
        """Counts per direction, and what needs attention: for the orchestrator's UI."""
        summary: dict[str, Any] = {"outcome": self.outcome.value, "seconds": round(self.seconds, 1)}
        for direction, report in sorted(self.reports.items()):
            key = direction.replace(" -> ", "_to_")
            totals = report.get("totals") or {}
            summary[key] = {name: totals.get(name, 0) for name in COUNTERS}
            summary[key].update({name: len(report.get(name) or []) for name in ATTENTION})
            summary[key]["status"] = report.get("status")
        return summary

    def describe(self) -> str:
        """One line: the tenant, the outcome and the counts, or why it failed."""
        if self.outcome is not Outcome.SUCCEEDED:
            return (
                f"tenant {self.tenant}: {self.outcome.value} (exit {self.exit_code}): {self.reason}"
            )
        parts = []
        for direction, report in sorted(self.reports.items()):
            totals = report.get("totals") or {}
            counts = ", ".join(f"{totals.get(name, 0)} {name}" for name in COUNTERS[:4])
            parts.append(f"{direction}: {counts}")
        return f"tenant {self.tenant}: succeeded in {self.seconds:.1f} s; " + "; ".join(parts)


def _classify(exit_code: int, output: list[str]) -> Outcome:
    if exit_code == 0:
        return Outcome.SUCCEEDED
    text = "\n".join(output)
    if _STUCK in text:
        return Outcome.STUCK
    if _LOCKED in text:
        return Outcome.LOCKED
    if any(marker in text for marker in _CONFIG):
        return Outcome.MISCONFIGURED
    return Outcome.FAILED


def _reason(output: list[str]) -> str:
    """The lines that say what went wrong: errors and talk-sync's own, else the last line."""
    telling = [
        line.strip()
        for line in output
        if "error" in line.lower() or "talk-sync:" in line or "check the" in line
    ]
    return " | ".join(dict.fromkeys(telling[-4:] or output[-1:]))


#: Reports one ``meltano run sync`` writes: one per direction.
REPORTS_PER_SYNC = 2


def reports_since(folder: Path, started: datetime) -> dict[str, dict[str, Any]]:
    """The reports among the newest of ``folder`` written since ``started``, by direction
    (only the newest files are opened: a tenant's folder gathers one every few minutes)."""
    found: dict[str, dict[str, Any]] = {}
    runs, _unreadable = recent_runs(folder, REPORTS_PER_SYNC)
    for run in runs:
        if datetime.fromtimestamp(run.path.stat().st_mtime, timezone.utc) >= started:
            found[str(run.data.get("direction"))] = run.data
    return found


def run_tenant(
    tenant: Tenant,
    tenants: list[Tenant],
    deployment: Deployment,
    *,
    job: str = "sync",
    log: Callable[[str], None] = print,
    environ: Mapping[str, str] | None = None,
) -> TenantRun:
    """Run the Meltano job ``job`` for ``tenant``; each output line goes to ``log``."""
    env = deployment.environment(tenant, tenants, os.environ if environ is None else environ)
    started_at = datetime.now(timezone.utc).replace(microsecond=0)
    started = time.monotonic()
    output: list[str] = []
    with subprocess.Popen(
        [deployment.meltano, "run", job],
        cwd=deployment.project_root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip())
            log(line.rstrip())
        exit_code = process.wait()
    outcome = _classify(exit_code, output)
    return TenantRun(
        tenant=tenant.name,
        outcome=outcome,
        exit_code=exit_code,
        seconds=time.monotonic() - started,
        reports=reports_since(deployment.report_dir(tenant), started_at),
        reason="" if outcome is Outcome.SUCCEEDED else _reason(output),
    )
