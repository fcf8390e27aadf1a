"""End-to-end fixtures: both local servers and `meltano` wired to them."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock
from local_stack import PROJECT_ROOT, LocalStack, crash_campaign, install_plugins, local_stack
from talk_sync.private_dirs import make_private_dir


@pytest.fixture(scope="session")
def meltano_installed(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Install the project's plugins into .meltano/ once per test session.

    Under pytest-xdist every worker has its own session: the lock makes them wait for the
    first, and a stamp in the session's shared temp directory lets the others skip
    `meltano install` (it reinstalls every editable plugin, ~16 s of CPU, even when nothing
    changed).
    """
    shared = _session_dir(tmp_path_factory)
    make_private_dir(PROJECT_ROOT / ".meltano")
    with FileLock(PROJECT_ROOT / ".meltano" / "install.lock"):
        stamp = shared / "meltano-installed"
        if not stamp.exists():
            install_plugins(tmp_path_factory.mktemp("meltano-install") / "meltano.db")
            stamp.touch()


def _session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of this test session's, shared by its pytest-xdist workers (their temp
    directories share a parent that belongs to this session alone)."""
    shared = tmp_path_factory.getbasetemp()
    return shared.parent if os.environ.get("PYTEST_XDIST_WORKER") else shared


@pytest.fixture
def stack(tmp_path: Path, meltano_installed: None) -> Iterator[LocalStack]:
    """The Asana sandbox (demo seed), an empty Custompms, and meltano pointed at them."""
    with local_stack(tmp_path, discover_once=True) as running:
        yield running


@pytest.fixture
def seeded_stack(tmp_path: Path, meltano_installed: None) -> Iterator[LocalStack]:
    """Like ``stack``, with Custompms holding the reference server's sample data."""
    with local_stack(tmp_path, custompms_seed=True, discover_once=True) as running:
        yield running


@pytest.fixture(scope="session")
def clean_reference(
    tmp_path_factory: pytest.TempPathFactory, meltano_installed: None
) -> crash_campaign.Reference:
    """Both systems after a clean sync of the demo seed and Custompms' sample data.

    What every crash, overlap and fault scenario must end with: computed once for the whole
    session, even under pytest-xdist.
    """
    shared = _session_dir(tmp_path_factory)
    cached = shared / "clean-reference.pickle"
    with FileLock(shared / "clean-reference.lock"):
        if not cached.exists():
            found = crash_campaign.reference(tmp_path_factory.mktemp("reference"))
            cached.write_bytes(pickle.dumps(found))
        return pickle.loads(cached.read_bytes())  # noqa: S301 (written by this session)
