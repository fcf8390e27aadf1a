"""The throwaway PostgreSQL fixtures: usable through SQLAlchemy, isolated, and off the network."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from talk_sync.testing.postgres import PostgresCluster

_urls_seen: set[str] = set()
"""postgres_url values of earlier tests in this session, to show each test gets its own."""


def _engine(url: str) -> sa.Engine:
    # No pool: nothing stays connected when the fixture drops the database.
    return sa.create_engine(url, poolclass=sa.NullPool)


def test_round_trip_through_sqlalchemy(postgres_url: str) -> None:
    """A table created, filled and read back through the URL the fixture gives."""
    engine = _engine(postgres_url)
    metadata = sa.MetaData()
    links = sa.Table(
        "links",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("gid", sa.Text, nullable=False),
    )
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(links.insert(), [{"id": 1, "gid": "1200"}, {"id": 2, "gid": "1201"}])
    with engine.connect() as connection:
        rows = connection.execute(sa.select(links.c.id, links.c.gid).order_by(links.c.id)).all()
    assert [tuple(row) for row in rows] == [(1, "1200"), (2, "1201")]


@pytest.mark.parametrize("which", ["first", "second"])
def test_each_test_gets_its_own_empty_database(postgres_url: str, which: str) -> None:
    """Whichever runs second sees a different URL and none of the first one's table."""
    assert postgres_url not in _urls_seen
    _urls_seen.add(postgres_url)
    engine = _engine(postgres_url)
    assert sa.inspect(engine).get_table_names() == []
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE TABLE made_by_{which} (id integer)"))
        database = connection.execute(sa.text("SELECT current_database()")).scalar_one()
    assert database == make_url(postgres_url).database


def test_cluster_gives_distinct_databases(postgres_cluster: PostgresCluster) -> None:
    """Databases created in one session are separate, whatever order tests run in."""
    first = postgres_cluster.create_database("distinct_a")
    second = postgres_cluster.create_database("distinct_b")
    try:
        assert first != second
        with _engine(first).begin() as connection:
            connection.execute(sa.text("CREATE TABLE only_in_a (id integer)"))
        assert sa.inspect(_engine(second)).get_table_names() == []
    finally:
        postgres_cluster.drop_database("distinct_a")
        postgres_cluster.drop_database("distinct_b")


def test_server_is_not_listening_on_tcp(
    postgres_url: str, postgres_cluster: PostgresCluster
) -> None:
    """Only the Unix socket in the cluster's private directory reaches the server."""
    url = make_url(postgres_url)
    assert (url.host, url.port) == (None, None)
    assert url.query["host"] == str(postgres_cluster.socket_dir)
    with _engine(postgres_url).connect() as connection:
        assert connection.execute(sa.text("SHOW listen_addresses")).scalar_one() == ""
        # inet_server_addr() is NULL on a Unix-socket connection.
        assert connection.execute(sa.text("SELECT inet_server_addr()")).scalar_one() is None
