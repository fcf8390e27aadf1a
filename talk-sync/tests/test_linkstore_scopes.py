"""Tenants sharing one link store: each sees and touches its own links only."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy
from talk_sync.linkstore import LinkStore, LinkStoreConfigError
from talk_sync.linkstore.scopes import check_scope, scoped_url


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'links.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_tenants_in_one_store_never_see_each_others_links(shared_url: str) -> None:
    acme = LinkStore(scoped_url(shared_url, "acme"))
    globex = LinkStore(scoped_url(shared_url, "globex"))
    try:
        acme.link("team_customer", "asana-team:1", "custompms-customer:2", origin="asana")
        assert acme.find("asana-team:1") is not None
        assert globex.find("asana-team:1") is None
        # The same Asana record in another tenant is another pair: no clash, no sharing.
        globex.link("team_customer", "asana-team:1", "custompms-customer:9", origin="asana")
        acme_link, globex_link = acme.find("asana-team:1"), globex.find("asana-team:1")
        assert acme_link is not None
        assert globex_link is not None
        assert str(acme_link.custompms) == "custompms-customer:2"
        assert str(globex_link.custompms) == "custompms-customer:9"
        globex.unlink("asana-team:1")
        assert acme.find("asana-team:1") is not None
    finally:
        acme.close()
        globex.close()


def test_on_postgresql_each_tenant_is_a_schema_and_the_shared_one_stays_empty(
    postgres_url: str,
) -> None:
    store = LinkStore(scoped_url(postgres_url, "acme"))
    store.link("team_customer", "asana-team:1", "custompms-customer:2", origin="asana")
    store.close()
    engine = sqlalchemy.create_engine(postgres_url)
    with engine.connect() as connection:
        tables = dict(
            connection.execute(
                sqlalchemy.text(
                    "SELECT table_schema, count(*) FROM information_schema.tables "
                    "WHERE table_schema IN ('public', 'talk_sync_acme') GROUP BY table_schema"
                )
            ).all()
        )
        links = connection.execute(
            sqlalchemy.text("SELECT count(*) FROM talk_sync_acme.talk_sync_links")
        )
        assert links.scalar() == 1
    engine.dispose()
    assert tables.get("talk_sync_acme", 0) > 0
    assert "public" not in tables


def test_a_user_who_may_not_create_the_tenants_schema_is_told_what_to_do(
    postgres_url: str,
) -> None:
    admin = sqlalchemy.create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(sqlalchemy.text("CREATE ROLE sync_only LOGIN"))
    admin.dispose()
    as_sync_only = sqlalchemy.make_url(postgres_url).set(username="sync_only")
    url = scoped_url(as_sync_only.render_as_string(hide_password=False), "acme")
    with pytest.raises(LinkStoreConfigError, match=r"schema talk_sync_acme .*grant"):
        LinkStore(url)


@pytest.mark.parametrize("name", ["", "Acme", "1acme", "acme-corp", "a" * 41, "acme;drop"])
def test_a_tenant_name_that_cannot_name_a_schema_is_refused(name: str) -> None:
    with pytest.raises(LinkStoreConfigError, match="lowercase letters"):
        check_scope(name)


def test_a_shared_url_that_sets_its_own_search_path_is_refused() -> None:
    with pytest.raises(LinkStoreConfigError, match="leave options out"):
        scoped_url("postgresql+psycopg://u@/db?options=-csearch_path%3Dx", "acme")
