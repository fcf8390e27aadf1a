"""Print how the sandbox copes with a large workspace (figures, not assertions).

    python scripts/bench_load.py [--tasks 100000] [--projects 20]

Seeds a synthetic workspace, starts the server on it, and reports the seed time and size,
the startup time, the server's memory, and the time to page through a project's tasks.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from asana_sandbox.testing import running_sandbox


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    """Seed, serve, measure, print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--subtasks", type=int, default=20_000)
    parser.add_argument("--projects", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "big.json"
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "asana_sandbox.cli",
                "seed",
                "--out",
                str(data),
                "--projects",
                str(args.projects),
                "--tasks",
                str(args.tasks),
                "--subtasks",
                str(args.subtasks),
            ],
            check=True,
        )
        print(f"seed: {time.perf_counter() - started:.1f}s, {data.stat().st_size / 1e6:.1f} MB")
        started = time.perf_counter()
        with running_sandbox(seed=None, data_file=data) as server:
            print(
                f"startup (load + index): {time.perf_counter() - started:.1f}s, "
                f"RSS {_rss_mb(server.process.pid):.0f} MB"
            )
            headers = {"Authorization": f"Bearer {server.token}"}
            with httpx.Client(base_url=server.api_url, headers=headers, timeout=60) as api:
                workspace = api.get("/workspaces").json()["data"][0]["gid"]
                project = api.get("/projects", params={"workspace": workspace, "limit": 1}).json()[
                    "data"
                ][0]["gid"]
                for label, params in (
                    ("compact", {}),
                    (
                        "opt_fields",
                        {
                            "opt_fields": "name,modified_at,assignee.email,"
                            "memberships.section.name,due_on,completed"
                        },
                    ),
                ):
                    started = time.perf_counter()
                    pages = records = 0
                    offset = None
                    while True:
                        query = {
                            "project": project,
                            "limit": 100,
                            **params,
                            **({"offset": offset} if offset else {}),
                        }
                        body = api.get("/tasks", params=query).json()
                        pages += 1
                        records += len(body["data"])
                        if not body["next_page"]:
                            break
                        offset = body["next_page"]["offset"]
                    elapsed = time.perf_counter() - started
                    print(
                        f"list {records} tasks of one project ({label}): "
                        f"{pages} pages in {elapsed:.2f}s "
                        f"({elapsed / pages * 1000:.1f} ms/page)"
                    )
                started = time.perf_counter()
                recent = api.get(
                    "/tasks",
                    params={
                        "project": project,
                        "modified_since": "2030-01-01T00:00:00Z",
                        "limit": 100,
                    },
                ).json()
                elapsed_ms = (time.perf_counter() - started) * 1000
                print(
                    f"modified_since with no match (full project scan): {elapsed_ms:.0f} ms, "
                    f"{len(recent['data'])} tasks"
                )
                started = time.perf_counter()
                task = api.post(
                    "/tasks", json={"data": {"name": "bench", "projects": [project]}}
                ).json()["data"]["gid"]
                api.put(f"/tasks/{task}", json={"data": {"completed": True}})
                print(f"create + update: {(time.perf_counter() - started) * 1000:.0f} ms")
            started = time.perf_counter()
        print(f"shutdown (final save of the data file): {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
