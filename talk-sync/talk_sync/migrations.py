"""Schema versioning of the link store: a version row plus an ordered list of migrations.

A new, empty database gets the current schema (``models.py``) and is stamped with
:data:`SCHEMA_VERSION` directly. An older database is upgraded at open by running, in order
and in one transaction, every migration above its stamped version.

To change the schema in a release:

1. edit the tables in :mod:`talk_sync.models`;
2. bump :data:`SCHEMA_VERSION` to ``N``;
3. add ``MIGRATIONS[N]``: a function taking a SQLAlchemy ``Connection`` that turns a
   version ``N-1`` database into version ``N`` (``ALTER TABLE``, data copies... written
   with ``sqlalchemy`` Core or ``connection.exec_driver_sql``, portable to SQLite and
   PostgreSQL), and a test that opens a version ``N-1`` database and checks the upgrade.

Migrations never run on a fresh database, so ``MIGRATIONS[N]`` may assume the ``N-1``
schema exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import Connection, DateTime, Engine, MetaData, inspect, select, text

from talk_sync.models import Base, LeaseRow, SchemaVersion

#: The schema version this release of talk-sync reads and writes.
SCHEMA_VERSION = 3

Migration = Callable[[Connection], None]


def _claims_and_leases(connection: Connection) -> None:
    """Version 2: pending creates are claimed by a run and carry a match key; rejects can be
    stuck; the leases table (sync lock, run claims) is new."""
    connection.execute(text("ALTER TABLE talk_sync_links ADD COLUMN claimed_by VARCHAR(200)"))
    connection.execute(text("ALTER TABLE talk_sync_links ADD COLUMN match_key VARCHAR(600)"))
    connection.execute(
        text("CREATE INDEX ix_talk_sync_links_match_key ON talk_sync_links (match_key)")
    )
    connection.execute(text("ALTER TABLE talk_sync_rejects ADD COLUMN stuck TEXT"))
    Base.metadata.tables[LeaseRow.__tablename__].create(connection)


def _reject_backoff(connection: Connection) -> None:
    """Version 3: a refused record keeps a fingerprint of its values and when it is sent
    again. Both columns are nullable: rejects kept before are retried on the next run."""
    connection.execute(text("ALTER TABLE talk_sync_rejects ADD COLUMN fingerprint VARCHAR(64)"))
    retry_at = DateTime(timezone=True).compile(dialect=connection.dialect)
    connection.execute(text(f"ALTER TABLE talk_sync_rejects ADD COLUMN retry_at {retry_at}"))


#: ``MIGRATIONS[N]`` upgrades a version ``N-1`` database to version ``N``.
MIGRATIONS: dict[int, Migration] = {2: _claims_and_leases, 3: _reject_backoff}


class SchemaError(RuntimeError):
    """The database's schema version cannot be brought to the one this code expects."""


def current_version(connection: Connection) -> int | None:
    """The version stamped in the database, or ``None`` for a database without the table."""
    if not inspect(connection).has_table(SchemaVersion.__tablename__):
        return None
    return connection.execute(select(SchemaVersion.version)).scalar_one_or_none()


def _stamp(connection: Connection, version: int) -> None:
    table = Base.metadata.tables[SchemaVersion.__tablename__]
    if connection.execute(select(table.c.id)).first() is None:
        connection.execute(table.insert().values(id=1, version=version))
    else:
        connection.execute(table.update().values(version=version))


def migrate(
    engine: Engine,
    *,
    target: int = SCHEMA_VERSION,
    migrations: Mapping[int, Migration] = MIGRATIONS,
    metadata: MetaData = Base.metadata,
) -> int:
    """Bring the database to version ``target``; returns the version it was at before (0: new)."""
    with engine.begin() as connection:
        found = current_version(connection)
        if found is None:
            metadata.create_all(connection)
            _stamp(connection, target)
            return 0
        if found > target:
            raise SchemaError(
                f"link store schema version {found} is newer than this talk-sync supports "
                f"({target}); upgrade talk-sync"
            )
        for version in range(found + 1, target + 1):
            if version not in migrations:
                raise SchemaError(f"no migration to link store schema version {version}")
            migrations[version](connection)
            _stamp(connection, version)
        return found
