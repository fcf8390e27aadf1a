"""Fixtures shared by the talk-sync suites."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from talk_sync.leases import Process
from talk_sync.linkstore import LinkStore


@pytest.fixture
def exited_process() -> Callable[[], Process]:
    """Makes processes of this host that have exited (as a crashed lease holder has)."""

    def make() -> Process:
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        process = Process.of(child.pid)
        child.wait()
        return process

    return make


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LinkStore]:
    """A fresh link store: a SQLite file, and an empty database of a throwaway PostgreSQL
    (a module that needs only SQLite defines its own ``store``)."""
    location: str | Path = tmp_path / "links.db"
    if request.param == "postgresql":
        location = request.getfixturevalue("postgres_url")
    with LinkStore(location) as opened:
        yield opened
