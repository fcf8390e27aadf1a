"""Fixtures: sandboxes, validating clients and demo-seed lookups."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from asana_sandbox.conformance import ValidatingClient
from asana_sandbox.testing import SandboxServer, asana_sandbox, running_sandbox

__all__ = ["asana_sandbox"]

ClientFactory = Callable[..., ValidatingClient]


#: Every validating client of the session, for the count in the terminal summary.
_CLIENTS: list[ValidatingClient] = []


def _client(server: SandboxServer, token: str | None = None) -> ValidatingClient:
    client = ValidatingClient(
        base_url=server.api_url,
        headers={"Authorization": f"Bearer {token or server.token}"},
        timeout=30,
    )
    _CLIENTS.append(client)
    return client


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many responses were checked against Asana's description."""
    counters = {id(client.validated): client.validated for client in _CLIENTS}
    if counters:
        total = sum(sum(counter.values()) for counter in counters.values())
        routes = {(method, path) for counter in counters.values() for method, path, _ in counter}
        terminalreporter.write_line(
            f"asana-sandbox: {total} responses on {len(routes)} routes validated against "
            "Asana's OpenAPI description"
        )


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[SandboxServer]:
    """One demo sandbox for all tests of a module."""
    with running_sandbox() as server:
        yield server


@pytest.fixture(scope="session")
def make_client() -> ClientFactory:
    """``make_client(server, token=None)``: a validating client for a sandbox."""
    return _client


@pytest.fixture
def api(asana_sandbox: SandboxServer) -> Iterator[ValidatingClient]:
    """A validating client on a fresh demo sandbox."""
    with _client(asana_sandbox) as client:
        yield client


class Demo:
    """Lookups on the demo seed."""

    @staticmethod
    def org(api: httpx.Client) -> str:
        """The demo organization's gid."""
        workspaces = api.get("/workspaces", params={"opt_fields": "is_organization"}).json()["data"]
        return next(w["gid"] for w in workspaces if w["is_organization"])

    @staticmethod
    def project_named(api: httpx.Client, name: str) -> str:
        """A demo project's gid by name."""
        projects = api.get("/projects", params={"workspace": Demo.org(api)}).json()["data"]
        return next(p["gid"] for p in projects if p["name"] == name)

    @staticmethod
    def task_with_subtasks(api: httpx.Client, project: str) -> dict[str, Any]:
        """The first task of a project that has subtasks."""
        params = {"opt_fields": "name,num_subtasks,modified_at"}
        tasks = api.get(f"/projects/{project}/tasks", params=params).json()["data"]
        return next(t for t in tasks if t["num_subtasks"])

    @staticmethod
    def all_pages(
        api: httpx.Client, path: str, params: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], int]:
        """Follow next_page.offset to the end; return the records and the number of pages."""
        records: list[dict[str, Any]] = []
        pages = 0
        offset = None
        while True:
            query = {**params, **({"offset": offset} if offset else {})}
            body = api.get(path, params=query).json()
            pages += 1
            records += body["data"]
            if body["next_page"] is None:
                return records, pages
            offset = body["next_page"]["offset"]


@pytest.fixture(scope="session")
def demo() -> type[Demo]:
    """Lookups on the demo seed (``demo.org(api)``, ``demo.project_named(api, name)``...)."""
    return Demo
