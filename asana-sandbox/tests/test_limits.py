"""Quota, Retry-After, batch cost and injected faults, as a client sees them."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import pytest
import requests
from asana_sandbox.testing import running_sandbox

if TYPE_CHECKING:
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
