"""Scopes in one shared link store: each tenant (sync pair) sees only its own links.

Many sync pairs can share one PostgreSQL database; each gets its own schema there, named by
the ``search_path`` of its link store URL (``?options=-csearch_path%3Dtalk_sync_acme``).
Every table the link store uses is unqualified, so a run connected with one tenant's URL
reads and writes that tenant's tables only: another tenant's links are out of its reach,
not just filtered out. The schema is created on first open
(:func:`talk_sync.linkstore.database.ensure_schema`).

SQLite has no schemas: a tenant's store there is a file of its own beside the shared one.
"""

from __future__ import annotations

import re
from pathlib import Path

from talk_sync.linkstore.database import LinkStoreConfigError, engine_url

#: A scope is a tenant's name: safe as a schema name, a file name and a state-id suffix.
SCOPE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
#: Each tenant's PostgreSQL schema is this prefix plus the tenant's name.
SCHEMA_PREFIX = "talk_sync_"


def check_scope(scope: str) -> str:
    """``scope`` if it is a valid tenant name; a clear error otherwise."""
    if not SCOPE_PATTERN.fullmatch(scope):
        raise LinkStoreConfigError(
            f"tenant name {scope!r} must be 1-40 lowercase letters, digits or underscores, "
            "starting with a letter (it names a database schema and a state id)"
        )
    return scope


def scoped_url(base: str | Path, scope: str) -> str:
    """The link store URL of tenant ``scope`` inside the shared store ``base``.

    PostgreSQL: the same database, with the tenant's schema first and only on the search
    path. SQLite: the file ``<name>-<scope>.db`` beside the shared file.
    """
    url = engine_url(base)
    check_scope(scope)
    if url.get_backend_name() == "postgresql":
        if "options" in url.query:
            raise LinkStoreConfigError(
                "the shared link_store_url already sets libpq options; each tenant's "
                "search_path is set there, so leave options out of it"
            )
        return url.update_query_dict(
            {"options": f"-csearch_path={SCHEMA_PREFIX}{scope}"}
        ).render_as_string(hide_password=False)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        shared = Path(url.database or "")
        own = shared.with_name(f"{shared.stem}-{scope}{shared.suffix or '.db'}")
        return f"sqlite:///{own}"
    raise LinkStoreConfigError(
        f"cannot give tenants their own scope in a {url.get_backend_name()} link store: "
        "use PostgreSQL or a SQLite file"
    )
