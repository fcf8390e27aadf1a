"""SQLite storage: schema, connections, durability and the write clock.

Why the standard library's sqlite3 rather than SQLAlchemy: the server needs exact control of
PRAGMAs, ``BEGIN IMMEDIATE``, SAVEPOINTs and commit timing (that is where its guarantees come
from), uses one fixed schema, and gains nothing from an ORM or dialect layer.

Guarantees and where they come from:

- *No acknowledged write is lost on kill -9 (or power loss)*: WAL journal with
  ``synchronous=FULL`` fsyncs the log on every commit, and the server answers only after commit.
- *updated_at strictly increases within a table, in commit order*: all writes go through one
  connection under a lock, each transaction starts with ``BEGIN IMMEDIATE`` (which also holds
  off other processes), and every write takes ``max(now, last + 1µs)`` from :class:`Clock`.
  Because the order of updated_at equals the order of commits, a reader paging by
  ``(updated_at, id)`` never misses a record that was committed before its cursor.
- *Readers never block the writer*: they use their own pooled connections on the WAL snapshot.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id TEXT UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    deleted_at INTEGER,
    name TEXT NOT NULL,
    description TEXT,
    parent_id INTEGER REFERENCES customers (id),
    email_domains TEXT NOT NULL DEFAULT '[]',
    url TEXT
);
CREATE INDEX IF NOT EXISTS customers_updated ON customers (updated_at, id);

CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id TEXT UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    deleted_at INTEGER,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    name TEXT NOT NULL,
    description TEXT,
    status TEXT NOT NULL,
    start_date TEXT,
    end_date TEXT,
    owner_email TEXT,
    url TEXT
);
CREATE INDEX IF NOT EXISTS projects_updated ON projects (updated_at, id);

CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id TEXT UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    deleted_at INTEGER,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    parent_task_id INTEGER REFERENCES tasks (id),
    name TEXT NOT NULL,
    description TEXT,
    status TEXT NOT NULL,
    start_date TEXT,
    due_date TEXT,
    assignee_email TEXT,
    completed_at TEXT
);
CREATE INDEX IF NOT EXISTS tasks_updated ON tasks (updated_at, id);

-- First response of each POST made with an Idempotency-Key, kept with the write it describes.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    resource TEXT NOT NULL,
    key TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (resource, key)
) WITHOUT ROWID;
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def format_timestamp(micros: int) -> str:
    """Render epoch microseconds as RFC 3339 UTC with microseconds and a 'Z'."""
    return (_EPOCH + timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_micros(moment: datetime) -> int:
    """Epoch microseconds of an aware datetime."""
    return (moment - _EPOCH) // _MICROSECOND


class Clock:
    """Hands out strictly increasing timestamps for one table within one write transaction."""

    def __init__(self, conn: sqlite3.Connection, table: str) -> None:
        # The table's own maximum (read under the write lock) makes the clock monotonic across
        # restarts, wall-clock steps backwards and other processes writing the same file.
        (last,) = conn.execute(f"SELECT COALESCE(MAX(updated_at), 0) FROM {table}").fetchone()  # noqa: S608
        self._last: int = last

    def tick(self) -> int:
        """Next timestamp: now, or 1µs after the last one if the wall clock has not moved on."""
        self._last = max(time.time_ns() // 1000, self._last + 1)
        return self._last


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE / SAVEPOINT).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA foreign_keys = ON")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    return conn


class Database:
    """One SQLite file: a single locked writer connection and a pool of reader connections."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = _connect(self.path, readonly=False)
        # WAL lets readers work on a snapshot while the writer commits; FULL fsyncs each commit.
        self._writer.execute("PRAGMA journal_mode = WAL")
        self._writer.execute("PRAGMA synchronous = FULL")
        self._writer.executescript(_SCHEMA)
        self._writer.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._write_lock = threading.Lock()
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all_readers: list[sqlite3.Connection] = []

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; commits on success (durably), rolls back on any exception."""
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A reader connection from the pool (each statement sees a committed snapshot)."""
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = _connect(self.path, readonly=True)
            self._all_readers.append(conn)
        try:
            yield conn
        finally:
            self._readers.put(conn)

    def close(self) -> None:
        """Close every connection."""
        for conn in self._all_readers:
            conn.close()
        self._writer.close()
