"""The link store: which Asana record is linked to which Custompms record, and what each
side last looked like.

One row per linked pair (docs/architecture.md §3), unique on each side's key. SQLite by default
(a file path), any SQLAlchemy URL otherwise (PostgreSQL when pipelines run on several
machines). Every method runs in its own transaction unless called inside
:meth:`LinkStore.transaction`, which commits all of them at once: a target writes its batch,
records the links and snapshots in one transaction, and only then emits STATE.

The store is one class (:class:`LinkStore`) over three modules: :mod:`.database` (engine
setup, migrations, transactions run again after a lost race), :mod:`.links` and
:mod:`.rejects`.
"""

from __future__ import annotations

from pathlib import Path

from talk_sync.leases import Leases
from talk_sync.link_status import LinkStatus
from talk_sync.linkstore.database import (
    DEFAULT_PATH,
    RETRY_ATTEMPTS,
    LinkStoreConfigError,
    create_link_engine,
)
from talk_sync.linkstore.links import (
    Adopted,
    ClaimedElsewhereError,
    CreateRequest,
    Link,
    LinkError,
    LinkMap,
    Links,
    create_key_for,
)
from talk_sync.linkstore.rejects import Backoff, Reject, Rejects

__all__ = [
    "DEFAULT_PATH",
    "RETRY_ATTEMPTS",
    "Adopted",
    "Backoff",
    "ClaimedElsewhereError",
    "CreateRequest",
    "Link",
    "LinkError",
    "LinkMap",
    "LinkStatus",
    "LinkStore",
    "LinkStoreConfigError",
    "Reject",
    "create_key_for",
    "create_link_engine",
]


class LinkStore(Links, Rejects):
    """The link store. Open it once per run; it migrates the schema on open.

    >>> store = LinkStore(".meltano/talk-sync/links.db")            # doctest: +SKIP
    >>> store = LinkStore("postgresql+psycopg://sync@db/links")      # doctest: +SKIP

    References are :class:`~talk_sync.refs.Ref` objects or their namespaced strings.
    Not for concurrent use from several threads of one process inside one transaction:
    each thread gets its own transaction.
    """

    def __init__(self, url_or_path: str | Path = DEFAULT_PATH) -> None:
        super().__init__(url_or_path)
        #: The sync lock and the runs' claims (see :mod:`talk_sync.leases`).
        self.leases = Leases(self)

    def __repr__(self) -> str:
        return f"LinkStore({self.engine.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> LinkStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
