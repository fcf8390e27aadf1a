"""Fixtures: a sandbox per module for read-mostly tests, a validating client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from asana_sandbox.testing import SandboxServer, asana_sandbox, running_sandbox

from .oas_check import ValidatingClient

__all__ = ["asana_sandbox"]


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[SandboxServer]:
    """One demo sandbox for all tests of a module."""
    with running_sandbox() as server:
        yield server


def client_for(server: SandboxServer, token: str | None = None) -> ValidatingClient:
    """A validating client authenticated with the sandbox's token."""
    return ValidatingClient(
        base_url=server.api_url,
        headers={"Authorization": f"Bearer {token or server.token}"},
        timeout=30,
    )


@pytest.fixture
def api(asana_sandbox: SandboxServer) -> Iterator[ValidatingClient]:
    """A validating client on a fresh demo sandbox."""
    with client_for(asana_sandbox) as client:
        yield client
