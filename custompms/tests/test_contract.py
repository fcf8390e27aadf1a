"""The OpenAPI contract: committed == served, and the server honours it for any request."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from custompms.app import create_app
from custompms.contract import COMMITTED
from custompms.store import Store
from custompms.testing import CustompmsServer
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

TOKEN = "schemathesis-token"
app = create_app(token=TOKEN)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
# Bounded: ~20 positive and negative examples per operation keeps the run well under a minute.
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    max_examples=20,
)


@pytest.fixture(scope="module", autouse=True)
def _store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # The ASGI app (in-process, far faster than HTTP for hundreds of generated requests).
    store = Store(tmp_path_factory.mktemp("schemathesis") / "pms.db")
    app.state.store = store
    yield
    app.state.store = None
    store.close()


def test_the_served_contract_is_the_committed_one(server: CustompmsServer) -> None:
    served = httpx.get(f"{server.url}/openapi.json").json()
    assert served == json.loads(COMMITTED.read_text(encoding="utf-8")), (
        "custompms/openapi.json is stale: run `python -m custompms.contract --write`"
    )


def test_contract_check_detects_drift(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "custompms.contract", "--check"]
    assert subprocess.run(command, capture_output=True, check=False).returncode == 0
    drifted = tmp_path / "openapi.json"
    drifted.write_text(COMMITTED.read_text(encoding="utf-8").replace("Custompms", "Other"))
    result = subprocess.run([*command, "--path", str(drifted)], capture_output=True, check=False)
    assert result.returncode == 1
    assert b"--write" in result.stderr


def test_the_contract_declares_auth_and_problem_responses() -> None:
    document = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            public = path == "/api/v1/health"
            assert ("security" not in operation) is public, f"{method} {path}"
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"]


def _negation_never_sent(case: schemathesis.Case) -> bool:
    """An empty list or object in the query string is sent as no parameter at all, so a
    request "invalid" only through one is a valid request (a schemathesis false positive:
    GET /api/v1/tasks with ``cursor={}`` is sent as GET /api/v1/tasks)."""
    return any(value in ([], {}) for value in (case.query or {}).values())


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_a_server_error_or_breaks_the_contract(case: schemathesis.Case) -> None:
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    # Bulk answers 200 with per-item errors by design; everywhere else invalid input is a 4xx.
    if not case.path.endswith("/bulk") and not _negation_never_sent(case):
        checks.append(negative_data_rejection)
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=checks)
