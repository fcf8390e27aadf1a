"""``talk-sync lock`` / ``unlock`` / ``stuck``: the sync job's lock and its Meltano runs."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from talk_sync.cli import main
from talk_sync.leases import Process, sync_lock_name
from talk_sync.linkstore import LinkStore

PIPELINE = "dev:tap-asana-talk-to-target-custompms"
RUNS_DDL = """
CREATE TABLE runs (
    id INTEGER NOT NULL PRIMARY KEY, job_name VARCHAR, state VARCHAR(7), started_at DATETIME,
    ended_at DATETIME, payload VARCHAR, payload_flags INTEGER, run_id CHAR(32),
    "trigger" VARCHAR, last_heartbeat_at DATETIME
)
"""


def talk_sync(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    return int(exited.value.code or 0)


@pytest.fixture
def links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "links.db"
    monkeypatch.setenv("TALK_SYNC_LINK_STORE_URL", str(path))
    for name in ("MELTANO_DATABASE_URI", "MELTANO_ENVIRONMENT", "MELTANO_RUN_STATE_ID_SUFFIX"):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def meltano_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., int]:
    """Meltano's system database with a ``runs`` table; returns a row adder."""
    path = tmp_path / "meltano.db"
    connection = sqlite3.connect(path)
    connection.execute(RUNS_DDL)
    connection.commit()
    monkeypatch.setenv("MELTANO_DATABASE_URI", f"sqlite:///{path}")
    monkeypatch.setenv("MELTANO_ENVIRONMENT", "dev")

    def add(started: datetime, heartbeat: datetime, job: str = PIPELINE) -> int:
        naive = [
            moment.astimezone(timezone.utc).replace(tzinfo=None) for moment in (started, heartbeat)
        ]
        cursor = connection.execute(
            "INSERT INTO runs (job_name, state, started_at, last_heartbeat_at, payload) "
            "VALUES (?, 'RUNNING', ?, ?, '{}')",
            (job, *naive),
        )
        connection.commit()
        return int(cursor.lastrowid or 0)

    add.state = lambda row: connection.execute(  # type: ignore[attr-defined]
        "SELECT state, payload FROM runs WHERE id = ?", (row,)
    ).fetchone()
    return add


def test_lock_then_unlock(links: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert talk_sync("lock") == 0
    with LinkStore(links) as store:
        lease = store.leases.get(sync_lock_name())
        assert lease is not None
        assert lease.process.same_as(Process.parent())  # the meltano that runs the job
    assert talk_sync("unlock") == 0
    with LinkStore(links) as store:
        assert store.leases.get(sync_lock_name()) is None
    assert "sync lock released" in capsys.readouterr().err


def test_a_second_sync_is_refused_in_one_line(
    links: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LinkStore(links) as store:
        store.leases.acquire(sync_lock_name(), "other", Process("web-2", 41, 0.0))
    assert talk_sync("lock") == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("talk-sync: another sync holds the lock (pid 41 on web-2 since ")
    assert "this sync wrote nothing" in line
    assert "if it died, its lock expires at" in line


def test_after_a_crash_the_dead_syncs_meltano_runs_are_failed_and_the_sync_runs(
    links: Path,
    meltano_db: Callable[..., int],
    exited_process: Callable[[], Process],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with LinkStore(links) as store:
        dead = store.leases.acquire(sync_lock_name(), "dead", exited_process()).lease
    now = datetime.now(timezone.utc)
    # Killed a second ago: Meltano would refuse this pipeline for five more minutes.
    row = meltano_db(started=dead.acquired_at + timedelta(seconds=1), heartbeat=now)

    assert talk_sync("lock") == 0

    err = capsys.readouterr().err
    assert "took over the lock of a sync that died" in err
    assert "marked 1 pipeline runs of the dead sync failed in Meltano" in err
    state, payload = meltano_db.state(row)  # type: ignore[attr-defined]
    assert state == "FAIL"
    assert "died; marked failed by talk-sync lock" in json.loads(payload)["error"]


def test_a_pipeline_still_running_outside_the_lock_refuses_the_sync(
    links: Path, meltano_db: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(timezone.utc)
    row = meltano_db(started=now - timedelta(minutes=1), heartbeat=now)

    assert talk_sync("lock") == 1

    err = capsys.readouterr().err
    assert f"pipeline {PIPELINE} is still running" in err
    assert "this sync wrote nothing" in err
    assert meltano_db.state(row)[0] == "RUNNING"  # type: ignore[attr-defined]
    with LinkStore(links) as store:
        assert store.leases.get(sync_lock_name()) is None  # given back


def test_unlock_fails_the_job_when_a_block_left_stuck_records(
    links: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert talk_sync("lock") == 0
    with LinkStore(links) as store:
        lock = store.leases.get(sync_lock_name())
        assert lock is not None
        store.leases.update_info(lock.name, lock.holder, **{"stuck:custompms-to-asana": 1})
        store.record_reject(
            "asana", "task_task", "custompms-task:7", {}, "waits", stuck="its parent was deleted"
        )
    assert talk_sync("unlock") == 1
    err = capsys.readouterr().err
    assert "the sync left stuck records (1 in custompms-to-asana)" in err
    assert "stuck asana task_task custompms-task:7: its parent was deleted" in err
    assert talk_sync("stuck") == 0
    assert "1 stuck records" in capsys.readouterr().err
