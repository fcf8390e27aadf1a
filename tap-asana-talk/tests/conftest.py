"""Fixtures: the offline Asana sandbox for one test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from asana_sandbox.testing import SandboxServer, running_sandbox
from local_stack.launcher import launch


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A fresh demo sandbox for one test (forked from a process that imported it once)."""
    with running_sandbox(seed="demo", launch=launch) as server:
        yield server
