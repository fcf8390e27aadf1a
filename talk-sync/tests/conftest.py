"""Fixtures shared by the talk-sync suites."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from talk_sync.leases import Process


@pytest.fixture
def exited_process() -> Callable[[], Process]:
    """Makes processes of this host that have exited (as a crashed lease holder has)."""

    def make() -> Process:
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        process = Process.of(child.pid)
        child.wait()
        return process

    return make
