"""Throughput of tap-asana-talk against the Asana sandbox under Asana's quota.

Seeds a workspace of 100 projects and 10,000 top-level tasks (plus subtasks), serves it
with 150 ms of latency per call and a 1,500 requests/minute quota, and prints for the
tap (run as its console script, as Meltano would):

- full sync: wall time, requests made (from /_sandbox/stats), achieved requests per
  minute and their share of the quota, 429s met;
- incremental run with nothing changed: requests and wall time;
- incremental run after 1% of the tasks changed: requests, wall time, records.

    .venv/bin/python bench/tap_asana.py [--projects 100 --tasks 10000 --subtasks 2000]

Goals (issue 4): the full sync reaches 85% of the quota or more; a no-change run costs
at most one request per project plus the listing calls.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asana_sandbox.seeds.synthetic import Shape, write
from asana_sandbox.testing import SandboxServer, running_sandbox

QUOTA = 1500
LATENCY_MS = 150


@dataclass
class Run:
    """One tap run: wall time, requests the sandbox served, output messages."""

    seconds: float
    requests: int
    rate_limited: int
    messages: list[dict[str, Any]]

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    @property
    def state(self) -> dict[str, Any]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"][-1]

    @property
    def per_minute(self) -> float:
        return self.requests / self.seconds * 60


def tap_command() -> list[str]:
    script = shutil.which("tap-asana-talk", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "tap_asana_talk"]


def run_tap(server: SandboxServer, workdir: Path, state: dict[str, Any] | None) -> Run:
    """Run the tap's CLI once against the server and measure it."""
    config = workdir / "config.json"
    config.write_text(
        json.dumps(
            {
                "access_token": server.token,
                "api_url": server.api_url,
                "requests_per_minute": QUOTA,
            }
        )
    )
    args = [*tap_command(), "--config", str(config)]
    if state is not None:
        (workdir / "state.json").write_text(json.dumps(state))
        args += ["--state", str(workdir / "state.json")]
    server.reset_stats()
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"tap failed:\n{done.stderr[-3000:]}")
    stats = server.stats()
    messages = [json.loads(line) for line in done.stdout.splitlines() if line]
    return Run(seconds, stats["requests_total"], stats["rate_limited"], messages)


def change_tasks(server: SandboxServer, tasks: list[dict[str, Any]], share: float) -> int:
    """Rename ``share`` of the tasks (top-level and subtasks alike), as users would."""
    rng = random.Random(4)
    picked = rng.sample(tasks, max(1, int(len(tasks) * share)))
    for task in picked:
        server.act("put", f"/tasks/{task['gid']}", {"name": f"{task['name']} (edited)"})
    return len(picked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--subtasks", type=int, default=2_000)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        data = workdir / "asana.json"
        shape = Shape(projects=options.projects, tasks=options.tasks, subtasks=options.subtasks)
        write(data, shape)
        print(
            f"workspace: {options.projects} projects, {options.tasks:,} tasks, "
            f"{options.subtasks:,} subtasks; latency {LATENCY_MS} ms, quota {QUOTA}/min"
        )
        with running_sandbox(
            seed=None, data_file=data, latency_ms=LATENCY_MS, rate_limit_per_minute=QUOTA
        ) as server:
            full = run_tap(server, workdir, None)
            tasks = full.records("tasks")
            print(
                f"full sync:      {full.seconds:7.1f} s {full.requests:6,} requests "
                f"{full.per_minute:7.0f}/min = {full.per_minute / QUOTA:5.1%} of quota, "
                f"{full.rate_limited} x 429, {len(tasks):,} task records"
            )

            idle = run_tap(server, workdir, full.state)
            projects = len(full.records("projects"))
            print(
                f"no change:      {idle.seconds:7.1f} s {idle.requests:6,} requests "
                f"({projects} projects + {idle.requests - projects} listing calls), "
                f"{len(idle.records('tasks'))} task records"
            )

            changed = change_tasks(server, tasks, 0.01)
            delta = run_tap(server, workdir, idle.state)
            print(
                f"1% changed:     {delta.seconds:7.1f} s {delta.requests:6,} requests, "
                f"{len(delta.records('tasks'))} task records for {changed} edited tasks"
            )


if __name__ == "__main__":
    main()
