"""Many tenants on one machine: wall time per tick as workers are added, requests per tenant.

For 1, 4 and 16 small tenants (the demo seed each, every Asana call answered 150 ms late,
each sandbox with its own quota of 1,500 requests a minute, as a paid Asana domain has),
runs orchestrate/'s ``sync_all_tenants`` job on 1, 2 and 4 workers (the multi-process
executor's ``max_concurrent``), twice: tick 1 is every tenant's first sync, tick 2 an idle
one. Everything runs as README "Running many tenants" deploys it: Dagster, Meltano's system
database, the link store and Dagster's storage in one local PostgreSQL cluster
(local_stack.tenants_stack).

It prints, per tick: the run's wall time (Dagster's start to end), tenants synced per
minute, and each tenant's Asana requests (fewest, median, most), the 429s the sandboxes
answered, and the fastest pace of any tenant (its requests over its own sync's minutes)
against its quota.

    .venv/bin/python bench/tenants.py [--tenants 1 4 16] [--workers 1 2 4] [--latency-ms 150]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from dagster import AssetKey, DagsterInstance, RunsFilter
from local_stack import install_plugins
from local_stack.tenants_stack import TenantsStack, tenants_stack
from talk_sync.testing.postgres import running_postgres
from talk_sync_orchestrate.dagster_defs import ALL_TENANTS_JOB

QUOTA = 1_500


def tick(stack: TenantsStack, workers: int) -> tuple[float, dict[str, dict[str, float]]]:
    """One run of every tenant: its wall time and each tenant's Asana requests."""
    for server in stack.asana.values():
        server.reset_stats()
    process = stack.dagster(ALL_TENANTS_JOB, TALK_SYNC_WORKERS=str(workers))
    output, _ = process.communicate()
    instance = DagsterInstance.from_config(str(stack.dagster_home))
    record = instance.get_run_records(RunsFilter(job_name=ALL_TENANTS_JOB), limit=1)[0]
    if process.returncode != 0 or not record.dagster_run.is_success:
        sys.exit(f"the tick failed:\n{output[-4000:]}")
    stats = instance.get_run_stats(record.dagster_run.run_id)
    if stats.start_time is None or stats.end_time is None:
        sys.exit("Dagster recorded no start or end for the tick")
    requests = {}
    for name, server in stack.asana.items():
        counts = server.stats()
        event = instance.get_latest_materialization_event(AssetKey(f"tenant_{name}"))
        if event is None or event.asset_materialization is None:
            sys.exit(f"tenant {name} recorded no sync")
        requests[name] = {
            "requests": int(counts["requests_total"]),
            "rate_limited": int(counts["rate_limited"]),
            # The tenant's own sync, from its report: its requests all fell inside it.
            "seconds": float(event.asset_materialization.metadata["seconds"].value),  # type: ignore[arg-type]
        }
    return stats.end_time - stats.start_time, requests


def show(label: str, seconds: float, requests: dict[str, dict[str, float]]) -> None:
    totals = sorted(int(r["requests"]) for r in requests.values())
    limited = sum(int(r["rate_limited"]) for r in requests.values())
    # A tenant's pace: its requests over its own sync's minutes (a bound on its busiest one).
    pace = max(r["requests"] / (r["seconds"] / 60) for r in requests.values())
    print(
        f"    {label:<7}{seconds:7.1f} s  {len(requests) / seconds * 60:6.1f} tenants/min  "
        f"Asana requests per tenant {totals[0]}/{statistics.median(totals):.0f}/{totals[-1]} "
        f"(fewest/median/most), {limited} answered 429, fastest pace "
        f"{pace:,.0f}/min against a quota of {QUOTA:,}/min per tenant",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--latency-ms", type=int, default=150)
    options = parser.parse_args()
    install_plugins()
    print(
        f"{os.cpu_count()} cores; demo seed per tenant; Asana latency {options.latency_ms} ms; "
        f"quota {QUOTA:,} requests/min per tenant"
    )
    with running_postgres() as cluster, tempfile.TemporaryDirectory() as tmp:
        for count in options.tenants:
            for workers in options.workers:
                workdir = Path(tmp) / f"{count}-{workers}"
                seeds = {f"tenant{i:02d}": "demo" for i in range(count)}
                with tenants_stack(
                    workdir,
                    cluster,
                    seeds,
                    workers=workers,
                    latency_ms=options.latency_ms,
                    rate_limit_per_minute=QUOTA,
                ) as stack:
                    os.environ["DAGSTER_POSTGRES_URL"] = stack.env["DAGSTER_POSTGRES_URL"]
                    print(f"  {count} tenant(s), {workers} worker(s)", flush=True)
                    for label in ("first", "idle"):
                        seconds, requests = tick(stack, workers)
                        show(label, seconds, requests)


if __name__ == "__main__":
    main()
