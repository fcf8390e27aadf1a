"""Fixtures: the offline Asana sandbox for one test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from asana_sandbox.testing import SandboxServer, running_sandbox


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A fresh demo sandbox for one test."""
    with running_sandbox(seed="demo") as server:
        yield server
