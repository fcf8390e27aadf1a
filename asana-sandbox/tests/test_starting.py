"""Starting sandboxes side by side: each test talks to the server it started."""

from __future__ import annotations

import httpx
import pytest
from asana_sandbox import testing
from asana_sandbox.testing import running_sandbox


def test_a_port_taken_before_the_sandbox_binds_it_is_given_up_for_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another sandbox binds the port chosen for ours first (parallel tests race for free
    ports): ours must not take the other's answers for its own, and starts elsewhere."""
    with running_sandbox(token="someone-elses") as other:
        taken = int(other.url.rsplit(":", 1)[1])
        ports = iter([taken])
        real_free_port = testing.free_port
        monkeypatch.setattr(testing, "free_port", lambda: next(ports, None) or real_free_port())
        with running_sandbox(token="ours", rate_limit_per_minute=1) as ours:
            assert ours.url != other.url
            answer = httpx.get(f"{ours.api_url}/users/me", headers={"Authorization": "Bearer ours"})
            assert answer.status_code == 200
            limited = httpx.get(
                f"{ours.api_url}/users/me", headers={"Authorization": "Bearer ours"}
            )
            assert limited.status_code == 429  # our sandbox's quota, not the other's
