"""What an idle `meltano run sync` costs in Asana requests, on the 100-project world.

Seeds a workspace of 100 projects and 10,000 top-level tasks (plus 2,000 subtasks), runs
the whole `sync` job once (the first sync fills Custompms), then again with nothing
changed, and prints the second run's Asana requests by route (from /_sandbox/stats):

    .venv/bin/python bench/idle_sync.py [--projects 100 --tasks 10000 --subtasks 2000]

Goal (issue 12): at most one request per project (its events) plus the listings
(workspaces, teams, projects per team). The `sync` job does not select the users stream,
which no target reads. A run that is due a full scan (every ``full_scan_interval_hours``)
costs more; it is printed too.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from asana_sandbox.seeds.synthetic import Shape, write
from local_stack import LocalStack, install_plugins, local_stack


def timed_sync(stack: LocalStack) -> tuple[float, dict[str, int]]:
    """Run the sync job; its wall time and the Asana requests it made, by route."""
    stack.asana.reset_stats()
    started = time.perf_counter()
    stack.run("sync")
    seconds = time.perf_counter() - started
    requests = stack.asana.stats()["requests"]
    return seconds, {route: count for route, count in sorted(requests.items()) if count}


def show(label: str, seconds: float, requests: dict[str, int], projects: int) -> None:
    total = sum(requests.values())
    print(
        f"{label}: {seconds:.1f} s, {total:,} Asana requests ({total / projects:.2f} per project)"
    )
    for route, count in requests.items():
        print(f"    {count:7,}  {route}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--subtasks", type=int, default=2_000)
    options = parser.parse_args()

    install_plugins()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        data = workdir / "asana.json"
        shape = Shape(projects=options.projects, tasks=options.tasks, subtasks=options.subtasks)
        write(data, shape)
        with local_stack(workdir, asana_seed=None, data_file=data, discover_once=True) as stack:
            seconds, _ = timed_sync(stack)
            print(f"first sync: {seconds:.1f} s")
            # Custompms -> Asana runs first: right after the first sync it still reads back
            # what Asana -> Custompms wrote then, and the sync after that is the idle one.
            show("next sync (reads back the first's writes)", *timed_sync(stack), options.projects)
            show("idle sync", *timed_sync(stack), options.projects)
            stack.env["TAP_ASANA_TALK_FULL_SCAN_INTERVAL_HOURS"] = "0"
            show("idle sync due a full scan", *timed_sync(stack), options.projects)


if __name__ == "__main__":
    main()
