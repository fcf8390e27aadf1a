"""Fixtures: the offline Asana sandbox (demo seed), one per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from asana_sandbox.testing import SandboxServer, running_sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """A demo sandbox shared by a module's tests (each test uses its own records)."""
    with running_sandbox(seed="demo") as server:
        yield server
