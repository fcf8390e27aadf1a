"""The link store's database: engine setup (SQLite or any SQLAlchemy URL), the schema
migrated on open, and transactions that are run again when they lose a race."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError, NoSuchModuleError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from talk_sync.migrations import migrate
from talk_sync.normalize import to_jsonable
from talk_sync.private_dirs import make_private_dir

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Transactions that lose a race to another process are run again this many times at most.
RETRY_ATTEMPTS = 6

#: Where the SQLite link store lives when no URL is configured (relative to the Meltano
#: project, which is the working directory of both targets).
DEFAULT_PATH = ".meltano/talk-sync/links.db"


def _json_dumps(value: Any) -> str:
    # Snapshots may hold dates or sets a target parsed; store them in their JSON spelling.
    # json calls to_jsonable only for what it cannot write itself: most values are plain.
    try:
        return json.dumps(value, sort_keys=True, default=to_jsonable)
    except TypeError:  # keys of mixed types, which sort_keys cannot order: made strings
        return json.dumps(to_jsonable(value), sort_keys=True)


class LinkStoreConfigError(ValueError):
    """The link store URL cannot be used as given (the message says what to do)."""


#: The extra that installs each backend's driver.
_DRIVER_EXTRAS = {"postgresql": ("psycopg", "talk-sync[postgres]")}


def _driver_error(url: URL, error: Exception) -> LinkStoreConfigError:
    """A missing database driver, as one line naming the extra that installs it."""
    shown = url.render_as_string(hide_password=True)
    if isinstance(error, NoSuchModuleError):
        return LinkStoreConfigError(f"link_store_url {shown}: unknown database kind ({error})")
    backend = url.get_backend_name()
    module, extra = _DRIVER_EXTRAS.get(backend, (getattr(error, "name", "?"), None))
    hint = f"pip install '{extra}'" if extra else f"install the {module} driver"
    return LinkStoreConfigError(
        f"link_store_url {shown} needs the {backend} driver ({module}), which is not "
        f"installed: {hint}"
    )


def engine_url(url_or_path: str | Path) -> URL:
    """The SQLAlchemy URL of a link store given as a URL or a SQLite file path."""
    text = str(url_or_path)
    if "://" in text:
        return make_url(text)
    return URL.create("sqlite", database=str(Path(text).expanduser().resolve()))


def sqlite_file(url_or_path: str | Path) -> Path | None:
    """The file of a SQLite link store (a path or a ``sqlite:`` URL); ``None`` otherwise."""
    url = engine_url(url_or_path)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def create_link_engine(url_or_path: str | Path = DEFAULT_PATH) -> Engine:
    """A SQLAlchemy engine for the link store; a plain path means a SQLite file.

    SQLite gets its parent directories created, WAL journaling (the other pipeline may read
    while this one writes), foreign keys, a busy timeout and real transactions (``BEGIN
    IMMEDIATE``, so DDL and read-then-write sequences are atomic too).
    """
    url = engine_url(url_or_path)
    if url.get_backend_name() != "sqlite":
        try:
            return create_engine(url, json_serializer=_json_dumps, pool_pre_ping=True)
        except (ModuleNotFoundError, NoSuchModuleError) as error:
            raise _driver_error(url, error) from None
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        make_private_dir(Path(database).parent)
    engine = create_engine(url, json_serializer=_json_dumps, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite (it would not BEGIN before DDL or SELECT).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def ensure_schema(engine: Engine) -> None:
    """PostgreSQL: create the schema the connection's ``search_path`` names first, if it
    does not exist yet (a tenant's first run). Nothing on other databases, or when the
    search path already resolves to a schema."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        if connection.execute(text("SELECT current_schema()")).scalar() is not None:
            return
        first = str(connection.execute(text("SHOW search_path")).scalar()).split(",")[0]
        schema = first.strip().strip('"')
    if not schema or schema == "$user":
        return
    quoted = engine.dialect.identifier_preparer.quote_identifier(schema)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
    except IntegrityError:
        pass  # another process created it at the same moment (a unique violation)
    except ProgrammingError as error:  # e.g. no CREATE privilege on the database
        reason = str(error.orig).strip().splitlines()[0]
        raise LinkStoreConfigError(
            f"cannot create the link store's schema {schema} ({reason}): create it, or grant "
            "the link store's user CREATE on the database"
        ) from None


class Database:
    """The link store's database and its transactions (:class:`~talk_sync.linkstore.LinkStore`
    adds the links and the rejects)."""

    def __init__(self, url_or_path: str | Path = DEFAULT_PATH) -> None:
        self.engine = create_link_engine(url_or_path)
        ensure_schema(self.engine)
        #: The schema version found at open (0: the database was new).
        self.opened_at_version = migrate(self.engine)
        self._local = threading.local()

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the enclosed store calls in one transaction: all commit, or none on error.

        Nested calls join the outermost transaction.
        """
        if getattr(self._local, "session", None) is not None:
            yield
            return
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            self._local.session = session
            self._local.rows = {}
            try:
                yield
            finally:
                self._local.session = None
                self._local.rows = None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """The current transaction's session (a new transaction outside :meth:`transaction`)."""
        with self.transaction():
            yield self._local.session

    def _cached_rows(self) -> dict[Any, tuple[Any, bool]] | None:
        """The rows the current transaction has read, by what names them (a link's ref, a
        reject's key), each with whether it is locked (``FOR UPDATE``); ``None`` outside a
        transaction.

        A batch reads the rows of all its records up front, in a few queries
        (:meth:`Links.preload`, :meth:`Rejects.preload_rejects`); each per-record call then
        finds its row here instead of querying, and the changes reach the database together
        at the next query or at commit. Each transaction starts with an empty cache, so a
        transaction run again after a lost race reads afresh.
        """
        return getattr(self._local, "rows", None)

    @property
    def in_transaction(self) -> bool:
        """Whether the calling thread is inside :meth:`transaction`."""
        return getattr(self._local, "session", None) is not None

    def retrying(self, work: Callable[[Session], T], *, attempts: int = RETRY_ATTEMPTS) -> T:
        """Run ``work(session)`` in a transaction, again from the start when it lost a race.

        Two processes inserting the same key at once (PostgreSQL: a unique violation), or a
        serialization failure or deadlock, roll the transaction back; a fresh one then sees
        what the other committed. Inside an outer transaction the outer one must retry, so
        ``work`` just runs.
        """
        if self.in_transaction:
            with self.session() as session:
                return work(session)
        for attempt in range(1, attempts + 1):
            try:
                with self.session() as session:
                    return work(session)
            except (IntegrityError, OperationalError) as error:
                if attempt == attempts or not _is_race(error):
                    raise
                logger.info("link store: lost a race (%s); retrying", type(error.orig).__name__)
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    _session = session


def _is_race(error: IntegrityError | OperationalError) -> bool:
    """A unique violation, serialization failure or deadlock: worth running again."""
    if isinstance(error, IntegrityError):
        return True
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code in ("40001", "40P01")  # serialization_failure, deadlock_detected
