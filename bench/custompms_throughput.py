"""Throughput of the Custompms reference server on this machine.

Starts the real server (console script, SQLite WAL, synchronous=FULL) on a free loopback port
and prints, for N records (default 10,000):

- bulk upsert: tasks created through POST /api/v1/tasks/bulk in batches of 1,000;
- single POST: projects created one request at a time (one client, keep-alive);
- incremental read: the bulk-created tasks read back through the paged list (limit 1,000).

    .venv/bin/python bench/custompms_throughput.py [--records 10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from custompms.testing import running_server

BATCH = 1000


def timed(label: str, records: int, action: Callable[[], int]) -> None:
    """Run action (which returns how many records it handled) and print records/s."""
    start = time.perf_counter()
    handled = action()
    elapsed = time.perf_counter() - start
    assert handled == records, f"{label}: handled {handled} of {records}"
    print(f"{label:<34}{records:>8,} records {elapsed:>8.2f} s {records / elapsed:>10,.0f} rec/s")


def bulk_upsert(api: httpx.Client, project_id: int, n: int) -> int:
    """Create n tasks through the bulk endpoint; returns how many were created."""
    created = 0
    for start in range(0, n, BATCH):
        records = [
            {
                "project_id": project_id,
                "external_id": f"bench-task:{i}",
                "name": f"Task {i}",
                "description": "Benchmark task with a realistic short description.",
                "due_date": "2026-12-31",
                "assignee_email": "bench@example.com",
            }
            for i in range(start, min(start + BATCH, n))
        ]
        response = api.post("/tasks/bulk", json={"records": records}).raise_for_status()
        created += sum(r["status"] == "created" for r in response.json()["results"])
    return created


def single_posts(api: httpx.Client, customer_id: int, n: int) -> int:
    """Create n projects one request at a time."""
    for i in range(n):
        body = {"customer_id": customer_id, "name": f"Project {i}"}
        api.post("/projects", json=body).raise_for_status()
    return n


def incremental_read(api: httpx.Client) -> int:
    """Read every task through the paged list, as an incremental reader would."""
    seen, cursor = 0, None
    while True:
        params = {"limit": BATCH, "updated_since": "1970-01-01T00:00:00Z"}
        page = api.get("/tasks", params={**params, **({"cursor": cursor} if cursor else {})})
        body = page.raise_for_status().json()
        seen += len(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


def main() -> None:
    """Start a server on a throwaway database and print the three figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    n = parser.parse_args().records

    with (
        tempfile.TemporaryDirectory() as tmp,
        running_server(Path(tmp) / "bench.db") as server,
        httpx.Client(base_url=server.api_url, headers=server.headers, timeout=120) as api,
    ):
        customer = api.post("/customers", json={"name": "Bench customer"}).json()
        body = {"customer_id": customer["id"], "name": "Bench"}
        project = api.post("/projects", json=body).json()
        print(f"Custompms reference server at {server.url} (SQLite WAL, synchronous=FULL)")
        timed(f"bulk upsert (batches of {BATCH})", n, lambda: bulk_upsert(api, project["id"], n))
        timed("single-record POST (sequential)", n, lambda: single_posts(api, customer["id"], n))
        timed(f"incremental read (limit {BATCH})", n, lambda: incremental_read(api))


if __name__ == "__main__":
    main()
