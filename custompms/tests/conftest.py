"""Fixtures: one real server subprocess per test module, and an authenticated HTTP client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from _pytest.nodeid import coerce_node_id
from custompms.testing import CustompmsServer, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CustompmsServer]:
    """The reference server, shared by the tests of one module (each makes its own records)."""
    with running_server(tmp_path_factory.mktemp("custompms") / "pms.db") as running:
        yield running


@pytest.fixture
def api(server: CustompmsServer) -> Iterator[httpx.Client]:
    """A client for /api/v1 carrying the server's token."""
    with httpx.Client(base_url=server.api_url, headers=server.headers, timeout=30) as client:
        yield client


class Factory:
    """Creates valid records through the API, with unique names."""

    def __init__(self, api: httpx.Client) -> None:
        self.api = api
        self.count = 0

    def _create(self, resource: str, fields: dict[str, Any]) -> dict[str, Any]:
        self.count += 1
        body = {"name": f"{resource} {self.count}", **fields}
        response = self.api.post(f"/{resource}", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def customer(self, **fields: Any) -> dict[str, Any]:
        return self._create("customers", fields)

    def project(self, **fields: Any) -> dict[str, Any]:
        fields.setdefault("customer_id", self.customer()["id"])
        return self._create("projects", fields)

    def task(self, **fields: Any) -> dict[str, Any]:
        fields.setdefault("project_id", self.project()["id"])
        return self._create("tasks", fields)


@pytest.fixture
def make(api: httpx.Client) -> Factory:
    """Record factory over the shared server."""
    return Factory(api)


def _fault_names(problem: dict[str, Any]) -> set[str]:
    return {
        error.get("field") or error.get("header") or error.get("parameter")
        for error in problem["errors"]
    }


@pytest.fixture
def blamed() -> Callable[[httpx.Response], set[str]]:
    """Checks a response is problem+json and returns the names its errors[] blames."""

    def names(response: httpx.Response) -> set[str]:
        assert response.headers["content-type"] == "application/problem+json", response.text
        problem = response.json()
        assert problem["status"] == response.status_code
        assert {"type", "title", "detail"} <= problem.keys()
        return _fault_names(problem)

    return names


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each schemathesis case its operation in its node id, which schemathesis (4.x,
    written for pytest 8's ``_nodeid``) leaves out under pytest 9: pytest-xdist reports
    results by node id, and would count the cases as one."""
    for item in items:
        operation = item.name.partition("[")[2]
        if operation and "[" not in item.nodeid:
            item._id = coerce_node_id(f"{item.nodeid}[{operation}")
