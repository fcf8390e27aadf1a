"""Quota, Retry-After, batch cost and injected faults, as a client sees them."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import requests
from asana_sandbox import cli
from asana_sandbox.testing import running_sandbox

if TYPE_CHECKING:
    from asana_sandbox.conformance import ValidatingClient
    from asana_sandbox.testing import SandboxServer
    from conftest import ClientFactory, Demo


def test_quota_answers_429_with_retry_after_and_counts_rejections(
    make_client: ClientFactory,
) -> None:
    """Past the per-minute quota: 429 + Retry-After seconds; rejected calls still count."""
    with running_sandbox(rate_limit_per_minute=5) as server, make_client(server) as api:
        statuses = [api.get("/workspaces").status_code for _ in range(7)]
        assert statuses == [200] * 5 + [429] * 2
        limited = api.get("/workspaces")
        assert limited.status_code == 429
        retry_after = int(limited.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        assert "rate limit" in limited.json()["errors"][0]["message"]
        stats = server.stats()
        assert stats["rate_limited"] == 3
        assert stats["requests"]["GET /api/1.0/workspaces"] == 8


def test_batch_actions_each_count_against_the_quota(
    demo: type[Demo], make_client: ClientFactory
) -> None:
    """A batch costs one call per action; a batch that does not fit is refused whole."""
    with running_sandbox(rate_limit_per_minute=12) as server, make_client(server) as api:
        workspace = demo.org(api)
        actions = [
            {"relative_path": f"/workspaces/{workspace}", "method": "get"} for _ in range(10)
        ]
        assert api.post("/batch", json={"data": {"actions": actions}}).status_code == 200
        refused = api.post("/batch", json={"data": {"actions": actions[:5]}})
        assert refused.status_code == 429
        assert server.stats()["batch_actions"] == 10
        assert server.stats()["quota_charged"] == 1 + 10 + 5  # the lookup, both batches
        too_many = api.post("/batch", json={"data": {"actions": actions + actions[:1]}})
        assert too_many.status_code in {400, 429}


def test_more_than_ten_batch_actions_is_400(make_client: ClientFactory) -> None:
    """At most ten actions per batch."""
    with running_sandbox() as server, make_client(server) as api:
        actions = [{"relative_path": "/workspaces", "method": "get"}] * 11
        response = api.post("/batch", json={"data": {"actions": actions}})
        assert response.status_code == 400
        assert "at most 10" in response.json()["errors"][0]["message"]


def test_faults_serve_500_503_slow_and_dropped_connections() -> None:
    """--fault-rate 1: every call fails one way; a requests client (as the Singer SDK uses)
    sees error bodies, or a ChunkedEncodingError when the connection is cut mid-reply."""
    args = ["--fault-seed", "7", "--fault-slow-ms", "10"]
    seen: Counter[str] = Counter()
    with running_sandbox(fault_rate=1.0, extra_args=args) as server, requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {server.token}"
        for _ in range(24):
            try:
                response = http.get(server.api_url + "/workspaces", timeout=30)
            except requests.exceptions.ChunkedEncodingError:
                seen["drop"] += 1
                continue
            seen[str(response.status_code)] += 1
            error = response.json().get("errors", [{}])[0]
            if response.status_code == 500:
                assert error["phrase"]
            if response.status_code == 503:
                assert "phrase" not in error
        faults = server.stats()["faults"]
    assert set(seen) == {"500", "503", "200", "drop"}  # 200: a slow reply still succeeds
    assert faults == {
        "500": seen["500"],
        "503": seen["503"],
        "slow": seen["200"],
        "drop": seen["drop"],
    }


@pytest.mark.parametrize("method", ["get", "post"])
def test_unknown_routes_are_404(method: str, make_client: ClientFactory) -> None:
    """Paths outside the implemented subset answer Asana's 404 body."""
    with running_sandbox(seed="empty") as server, make_client(server) as api:
        response = api.request(method.upper(), "/portfolios")
        assert response.status_code == 404
        assert response.json()["errors"][0]["message"]


def _post(api: httpx.Client, path: str, data: dict[str, Any]) -> str:
    """The status a POST answered, or "drop" when the connection was cut mid-reply."""
    try:
        return str(api.post(path, json={"data": data}).status_code)
    except httpx.RemoteProtocolError:
        return "drop"


def test_after_write_faults_lose_the_answer_but_not_the_write(
    demo: type[Demo], make_client: ClientFactory
) -> None:
    """--fault-after-write-rate 1: every applied write answers 500, 503 or a dropped
    connection, yet it happened; reads and read-only batches are untouched."""
    server_options = {"fault_after_write_rate": 1.0, "fault_seed": 5}
    with running_sandbox(**server_options) as server, make_client(server) as api:
        workspace = demo.org(api)
        project = demo.project_named(api, "Website relaunch")
        names = [f"Lost answer {i}" for i in range(12)]
        seen = Counter(
            _post(api, "/tasks", {"name": name, "projects": [project]}) for name in names
        )
        read = {"relative_path": f"/workspaces/{workspace}", "method": "get"}
        create = {
            "relative_path": "/tasks",
            "method": "post",
            "data": {"name": "Lost batch answer", "projects": [project]},
        }
        seen[_post(api, "/batch", {"actions": [create, read]})] += 1
        assert _post(api, "/batch", {"actions": [read]}) == "200"
        # A write that was refused did not apply: it answers as usual.
        assert _post(api, "/tasks", {"name": "Nowhere", "workspace": "1"}) == "400"
        listed = api.get(f"/projects/{project}/tasks", params={"limit": 100})
        assert listed.status_code == 200
        stats = server.stats()
    assert set(seen) == {"500", "503", "drop"}
    assert {task["name"] for task in listed.json()["data"]} >= {*names, "Lost batch answer"}
    assert stats["after_write_faults"] == {kind: seen[kind] for kind in ("500", "503", "drop")}
    assert stats["after_write_faults_total"] == 13
    assert stats["faults_total"] == 0
    assert stats["writes"] == 13


def test_no_after_write_faults_by_default(
    asana_sandbox: SandboxServer, api: ValidatingClient, demo: type[Demo]
) -> None:
    """Rate 0 (the default): writes answer normally and nothing is counted."""
    workspace = demo.org(api)
    assert _post(api, "/tasks", {"name": "Plain", "workspace": workspace}) == "201"
    stats = asana_sandbox.stats()
    assert stats["after_write_faults"] == {"500": 0, "503": 0, "drop": 0}
    assert stats["after_write_faults_total"] == 0
    assert stats["writes"] == 1


def test_after_write_faults_are_reproducible_with_a_seed(
    demo: type[Demo], make_client: ClientFactory
) -> None:
    """The same --fault-seed and the same calls give the same answers."""
    runs = []
    for _ in range(2):
        server_options = {"fault_after_write_rate": 0.5, "fault_seed": 11}
        with running_sandbox(**server_options) as server, make_client(server) as api:
            data = {"name": "Seeded", "workspace": demo.org(api)}
            runs.append([_post(api, "/tasks", data) for _ in range(16)])
    assert runs[0] == runs[1]
    assert "201" in runs[0]
    assert set(runs[0]) - {"201"}


def test_after_write_rate_must_be_a_probability() -> None:
    """The option takes a share of calls between 0 and 1."""
    with pytest.raises(SystemExit):
        cli.main(["serve", "--token", "t", "--fault-after-write-rate", "1.5"])
