"""End-to-end fixtures: both local servers and `meltano` wired to them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_stack import MELTANO, PROJECT_ROOT, LocalStack, local_stack


@pytest.fixture(scope="session")
def meltano_installed(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Install the project's plugins into .meltano/ once per test session."""
    db = tmp_path_factory.mktemp("meltano-install") / "meltano.db"
    result = subprocess.run(
        [MELTANO, "install"],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "MELTANO_DATABASE_URI": f"sqlite:///{db}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"meltano install failed:\n{result.stderr[-8000:]}"


@pytest.fixture
def stack(tmp_path: Path, meltano_installed: None) -> Iterator[LocalStack]:
    """The Asana sandbox (demo seed), an empty Custompms, and meltano pointed at them."""
    with local_stack(tmp_path) as running:
        yield running


@pytest.fixture
def seeded_stack(tmp_path: Path, meltano_installed: None) -> Iterator[LocalStack]:
    """Like ``stack``, with Custompms holding the reference server's sample data."""
    with local_stack(tmp_path, custompms_seed=True) as running:
        yield running


def isolate_meltano_dirs(running: LocalStack) -> None:
    """Give the stack's `meltano` its own `.meltano/run` and logs, sharing the plugin venvs.

    Meltano writes each run's config, catalog and state files to `.meltano/run/<plugin>/`
    under fixed names, so two `meltano run`s of one project at once (two test sessions, a
    demo) overwrite or delete each other's state.json. A private system directory whose
    plugin folders link to the installed ones keeps the runs apart.
    """
    installed = PROJECT_ROOT / ".meltano"
    private = running.workdir / "meltano-sys"
    private.mkdir(exist_ok=True)
    for kind in ("extractors", "loaders", "utilities", "mappers", "orchestrators"):
        if (installed / kind).is_dir() and not (private / kind).exists():
            (private / kind).symlink_to(installed / kind, target_is_directory=True)
    running.env["MELTANO_SYS_DIR_ROOT"] = str(private)


@pytest.fixture
def isolated_stack(tmp_path: Path, meltano_installed: None) -> Iterator[LocalStack]:
    """Like ``stack``, but its meltano runs cannot collide with other runs of the project."""
    with local_stack(tmp_path) as running:
        isolate_meltano_dirs(running)
        yield running
