"""`make demo`: start both local servers with sample data and show them serving.

The two-way sync pipelines are added to this demo as their plugins land; for now it shows the
Custompms reference server and the Asana sandbox, each with its sample data, and how to
browse them.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any

import httpx
from local_stack import PROJECT_ROOT, LocalStack, local_stack

WORKDIR = PROJECT_ROOT / ".demo"


def _get_all(url: str, token: str, params: dict[str, Any], data_key: str = "data") -> list[dict]:
    """Every record of a paged list (Custompms `next_cursor` or Asana `next_page`)."""
    records: list[dict] = []
    headers = {"Authorization": f"Bearer {token}"}
    params = dict(params)
    while True:
        body = httpx.get(url, params=params, headers=headers, timeout=30).raise_for_status().json()
        records.extend(body[data_key])
        if body.get("next_cursor"):
            params["cursor"] = body["next_cursor"]
        elif body.get("next_page"):
            params["offset"] = body["next_page"]["offset"]
        else:
            return records


def show_custompms(stack: LocalStack) -> None:
    server = stack.custompms
    counts = {
        resource: len(_get_all(f"{server.api_url}/{resource}", server.token, {"limit": 1000}))
        for resource in ("customers", "projects", "tasks")
    }
    customers = _get_all(f"{server.api_url}/customers", server.token, {"limit": 1000})
    print(f"\nCustompms reference server at {server.url}")
    print("  " + ", ".join(f"{count} {resource}" for resource, count in counts.items()))
    for customer in customers[:5]:
        print(f"  - customer {customer['id']}: {customer['name']}")


def show_asana(stack: LocalStack) -> None:
    server = stack.asana
    workspaces = _get_all(f"{server.api_url}/workspaces", server.token, {"limit": 100})
    print(f"\nAsana sandbox at {server.api_url}")
    for workspace in workspaces:
        projects = _get_all(
            f"{server.api_url}/projects",
            server.token,
            {"workspace": workspace["gid"], "limit": 100},
        )
        tasks = sum(
            len(
                _get_all(
                    f"{server.api_url}/tasks",
                    server.token,
                    {"project": project["gid"], "limit": 100},
                )
            )
            for project in projects
        )
        print(f"  - workspace {workspace['name']}: {len(projects)} projects, {tasks} tasks")


def main() -> int:
    shutil.rmtree(WORKDIR, ignore_errors=True)
    print("Starting the Asana sandbox (demo seed) and the Custompms reference server...")
    with local_stack(WORKDIR, custompms_seed=True) as stack:
        show_custompms(stack)
        show_asana(stack)
        print(
            "\nBrowse them while this demo runs (both take the throwaway demo token "
            f"'{stack.custompms.token}'):"
            f"\n  curl -H 'Authorization: Bearer {stack.custompms.token}' "
            f"{stack.custompms.api_url}/customers"
            f"\n  curl -H 'Authorization: Bearer {stack.asana.token}' "
            f"{stack.asana.api_url}/workspaces"
            f"\n  the Custompms contract: {stack.custompms.url}/openapi.json"
            "\nRerun everything with `make demo`; run every test with `make test`."
        )
        if sys.stdin.isatty():
            input("\nPress Enter to stop both servers. ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
