"""Small lookups on the demo seed shared by the behaviour tests."""

from __future__ import annotations

from typing import Any

import httpx


def org(api: httpx.Client) -> str:
    """The demo organization's gid."""
    workspaces = api.get("/workspaces", params={"opt_fields": "is_organization"}).json()["data"]
    return next(w["gid"] for w in workspaces if w["is_organization"])


def project_named(api: httpx.Client, name: str) -> str:
    """A demo project's gid by name."""
    projects = api.get("/projects", params={"workspace": org(api)}).json()["data"]
    return next(p["gid"] for p in projects if p["name"] == name)


def task_with_subtasks(api: httpx.Client, project: str) -> dict[str, Any]:
    """The first task of a project that has subtasks."""
    tasks = api.get(
        f"/projects/{project}/tasks", params={"opt_fields": "name,num_subtasks,modified_at"}
    ).json()["data"]
    return next(t for t in tasks if t["num_subtasks"])


def all_pages(
    api: httpx.Client, path: str, params: dict[str, Any]
) -> tuple[list[dict[str, Any]], int]:
    """Follow next_page.offset to the end; return the records and the number of pages."""
    records: list[dict[str, Any]] = []
    pages = 0
    offset = None
    while True:
        body = api.get(path, params={**params, **({"offset": offset} if offset else {})}).json()
        pages += 1
        records += body["data"]
        if body["next_page"] is None:
            return records, pages
        offset = body["next_page"]["offset"]
