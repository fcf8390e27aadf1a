"""Schema versioning: a new database is created and stamped, an old one is upgraded."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect, text
from talk_sync.leases import Process
from talk_sync.linkstore import Backoff, LinkStatus, LinkStore, create_link_engine
from talk_sync.migrations import SCHEMA_VERSION, SchemaError, current_version, migrate


def _version(path: Path) -> int | None:
    engine = create_link_engine(path)
    with engine.connect() as connection:
        return current_version(connection)


def test_empty_database_gets_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "links.db"
    assert _version(path) is None
    with LinkStore(path) as store:
        assert store.opened_at_version == 0
        tables = set(inspect(store.engine).get_table_names())
    assert {"talk_sync_links", "talk_sync_rejects", "talk_sync_schema_version"} <= tables
    assert _version(path) == SCHEMA_VERSION


def _add_note_column(connection: Connection) -> None:
    connection.execute(text("ALTER TABLE talk_sync_links ADD COLUMN note VARCHAR(100)"))
    connection.execute(text("UPDATE talk_sync_links SET note = 'migrated'"))


def test_migrations_run_in_order_once(tmp_path: Path) -> None:
    path = tmp_path / "links.db"
    with LinkStore(path) as store:
        store.link(1, "asana-workspace:1", "custompms-customer:1", origin="asana")
    ran: list[int] = []

    def step(version: int):
        def run(connection: Connection) -> None:
            ran.append(version)
            if version == SCHEMA_VERSION + 1:
                _add_note_column(connection)

        return run

    migrations = {v: step(v) for v in (SCHEMA_VERSION + 1, SCHEMA_VERSION + 2)}
    engine = create_link_engine(path)
    assert migrate(engine, target=SCHEMA_VERSION + 2, migrations=migrations) == SCHEMA_VERSION
    assert ran == [SCHEMA_VERSION + 1, SCHEMA_VERSION + 2]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT note FROM talk_sync_links")).scalar() == "migrated"
    assert migrate(engine, target=SCHEMA_VERSION + 2, migrations=migrations) == SCHEMA_VERSION + 2
    assert ran == [SCHEMA_VERSION + 1, SCHEMA_VERSION + 2]
    # this release cannot read the newer database
    with pytest.raises(SchemaError, match=f"version {SCHEMA_VERSION + 2} is newer"):
        LinkStore(path)


def test_failed_migration_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "links.db"
    LinkStore(path).close()

    def broken(connection: Connection) -> None:
        _add_note_column(connection)
        raise RuntimeError("boom")

    engine = create_link_engine(path)
    with pytest.raises(RuntimeError, match="boom"):
        migrate(engine, target=SCHEMA_VERSION + 1, migrations={SCHEMA_VERSION + 1: broken})
    assert _version(path) == SCHEMA_VERSION
    columns = {c["name"] for c in inspect(engine).get_columns("talk_sync_links")}
    assert "note" not in columns  # the DDL rolled back with the version stamp
    with pytest.raises(
        SchemaError, match=f"no migration to link store schema version {SCHEMA_VERSION + 1}"
    ):
        migrate(engine, target=SCHEMA_VERSION + 1, migrations={})


def test_version_1_database_gains_claims_match_keys_stuck_rejects_and_leases(
    tmp_path: Path,
) -> None:
    path = tmp_path / "links.db"
    connection = sqlite3.connect(path)
    connection.executescript((Path(__file__).parent / "data" / "links_v1.sql").read_text())
    connection.close()

    with LinkStore(path) as store:
        assert store.opened_at_version == 1
        [pending] = store.links(status=LinkStatus.PENDING)
        assert (str(pending.asana), pending.claimed_by, pending.match_key) == (
            "asana-task:77",
            None,
            None,
        )
        [kept] = store.rejects()
        assert (kept.source_key, kept.stuck) == ("asana-task:78", None)
        # The new parts work on the upgraded database.
        store.begin_create("task_task", "asana-task:77", claim="run:x", match_key="k")
        assert store.pending_matches("task_task", "asana", "k")[0].claimed_by == "run:x"
        store.mark_stuck("custompms", "task_task", "asana-task:78", "a person must act")
        assert store.rejects(stuck=True)[0].stuck == "a person must act"
        store.leases.acquire("sync-lock", "h", Process.of())
        assert store.leases.is_live("sync-lock")
    assert _version(path) == SCHEMA_VERSION == 3


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a link store goes: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return tmp_path / "links.db"


def test_version_2_database_gains_reject_fingerprints_and_retry_times(
    location: str | Path,
) -> None:
    # A version 2 database: today's schema less the two columns, with a reject kept.
    engine = create_link_engine(location)
    migrate(engine)
    with engine.begin() as connection:
        for column in ("fingerprint", "retry_at"):
            connection.execute(text(f"ALTER TABLE talk_sync_rejects DROP COLUMN {column}"))
        connection.execute(text("UPDATE talk_sync_schema_version SET version = 2"))
        connection.execute(
            text(
                "INSERT INTO talk_sync_rejects (side, stream, source_key, record, reason, "
                "attempts, first_seen, last_seen) VALUES ('asana', 'team_customer', "
                "'custompms-customer:7', '{}', '403 forbidden', 1, :at, :at)"
            ),
            {"at": "2026-01-01 00:00:00+00:00"},
        )
    engine.dispose()

    with LinkStore(location) as store:
        assert store.opened_at_version == 2
        [kept] = store.rejects()
        # Kept before back-off existed: retried on the next run, as before.
        assert (kept.fingerprint, kept.retry_at, kept.attempts) == (None, None, 1)
        again = store.record_reject(
            "asana",
            "team_customer",
            "custompms-customer:7",
            {},
            "403 forbidden",
            fingerprint="f" * 64,
            backoff=Backoff(first=timedelta(minutes=15)),
        )
        assert again.retry_at - again.last_seen == timedelta(minutes=15)
        assert (again.fingerprint, again.attempts) == ("f" * 64, 2)
    assert _version(location) == SCHEMA_VERSION == 3
