"""The directories talk-sync creates (link store, run reports) are readable by their owner only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from talk_sync.linkstore import LinkStore
from talk_sync.private_dirs import make_private_dir
from talk_sync.refs import Side
from talk_sync.report import RunReport


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)  # what most shells have: new directories would be 0755
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_directory_created_is_0700_and_existing_ones_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir(mode=0o755)
    made = make_private_dir(tmp_path / "shared" / "talk-sync" / "reports")
    assert mode(made) == mode(made.parent) == 0o700
    assert mode(tmp_path / "shared") == 0o755


def test_the_link_store_and_report_directories_are_private(tmp_path: Path) -> None:
    LinkStore(tmp_path / "project" / ".meltano" / "talk-sync" / "links.db").close()
    assert mode(tmp_path / "project" / ".meltano") == 0o700
    assert mode(tmp_path / "project" / ".meltano" / "talk-sync") == 0o700
    written = RunReport(Side.ASANA).write_json(tmp_path / "reports" / "run.json")
    assert mode(written.parent) == 0o700
