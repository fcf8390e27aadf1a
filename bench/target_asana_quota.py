"""target-asana-talk under a free domain's quota: 300 task updates at 150 actions a minute.

Asana counts every action of a ``POST /batch`` against the quota. This serves a synthetic
workspace of 300 tasks with ``--rate-limit-per-minute 150``, links it to Custompms with an
Asana -> Custompms run, renames every task in Custompms, and measures the Custompms -> Asana
run (``meltano run custompms-to-asana``, both plugins at ``requests_per_minute: 150``) that
writes the 300 updates. It prints:

- the actions the sandbox charged against the quota (a batch: one per action; refused calls
  included) and the HTTP requests they travelled in;
- the 429s met (quota and concurrency), from ``/_sandbox/stats``;
- the run's wall time, and the share of the quota it used: actions / (minutes x 150).

    .venv/bin/python bench/target_asana_quota.py [--tasks 300]

Goals (issue 12, point 1): zero 429s, and at least 90% of the quota used.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from asana_sandbox.seeds.synthetic import Shape, write
from local_stack import LocalStack, install_plugins, local_stack

QUOTA = 150
#: Both Asana plugins at the quota (meltano.yml's settings, through the environment).
PLUGIN_QUOTA = {
    "TAP_ASANA_TALK_REQUESTS_PER_MINUTE": str(QUOTA),
    "TARGET_ASANA_TALK_REQUESTS_PER_MINUTE": str(QUOTA),
}


def seed_asana(path: Path, tasks: int) -> None:
    """A synthetic workspace of ``tasks`` top-level tasks in three projects, no subtasks."""
    write(path, Shape(projects=3, tasks=tasks, subtasks=0, teams=1, users=5))


def rename_tasks(stack: LocalStack) -> int:
    """Rename every Custompms task (each needs its own PATCH with If-Match)."""
    with httpx.Client(
        base_url=stack.custompms.api_url, headers=stack.custompms.headers, timeout=60
    ) as api:
        tasks = api.get("/tasks", params={"limit": 1000}).raise_for_status().json()["data"]
        for task in tasks:
            api.patch(
                f"/tasks/{task['id']}",
                json={"name": f"{task['name']} (renamed)"},
                headers={"If-Match": str(task["version"])},
            ).raise_for_status()
        return len(tasks)


def latest_report(stack: LocalStack) -> dict[str, Any]:
    """The newest run report of the stack."""
    reports = sorted((stack.workdir / "reports").glob("*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(reports[-1].read_text())


def main() -> None:
    """Set up, measure the Custompms -> Asana run, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        install_plugins(workdir / "install.db")
        data = workdir / "asana.json"
        seed_asana(data, options.tasks)
        with local_stack(
            workdir,
            asana_seed=None,
            data_file=data,
            rate_limit_per_minute=QUOTA,
            discover_once=True,
        ) as stack:
            stack.env.update(PLUGIN_QUOTA)
            # Link both systems (Asana -> Custompms creates the Custompms side), then one
            # Custompms -> Asana run that finds nothing to write and sets its bookmark.
            stack.run("asana-to-custompms")
            stack.run("custompms-to-asana")
            renamed = rename_tasks(stack)

            stack.asana.reset_stats()  # also empties the quota window: a minute of its own
            started = time.perf_counter()
            stack.run("custompms-to-asana")
            seconds = time.perf_counter() - started
            stats = stack.asana.stats()
            totals = latest_report(stack)["totals"]

    actions = stats["quota_charged"]
    batches = stats["requests"].get("POST /api/1.0/batch", 0)
    requests = stats["requests_total"] - stats["batch_actions"]
    minutes = seconds / 60
    print(
        f"quota {QUOTA}/min (sandbox and both plugins); {renamed} tasks renamed in Custompms; "
        f"report: {totals['updated']} updated, {totals['rejected']} rejected"
    )
    print(f"custompms -> asana: {seconds:7.1f} s wall time (meltano run, start to end)")
    print(f"  actions sent:     {actions:7,} in {requests:,} HTTP requests ({batches:,} /batch)")
    print(
        f"  429s met:         {stats['rate_limited']:7,} quota, "
        f"{stats['concurrency_limited']:,} concurrency"
    )
    print(
        f"  quota used:       {actions / (minutes * QUOTA):7.1%} "
        f"= {actions:,} / ({minutes:.2f} min x {QUOTA})"
    )


if __name__ == "__main__":
    main()
