"""A throwaway PostgreSQL cluster for tests: a context manager and pytest fixtures.

The link store runs on PostgreSQL in production, so its tests need a real server, not SQLite.
This starts one from the server binaries on the machine (``initdb``, ``pg_ctl``), in a fresh
temporary directory, listening only on a Unix socket in that directory (never on TCP), with
trust authentication for the ``postgres`` superuser and durability switched off for speed.

Outside pytest (a benchmark script, say)::

    from talk_sync.testing.postgres import running_postgres

    with running_postgres() as cluster:
        engine = sqlalchemy.create_engine(cluster.create_database("bench"))

In tests, with the plugin loaded (``-p talk_sync.testing.postgres``)::

    def test_store(postgres_url: str) -> None:  # a fresh, empty database per test
        engine = sqlalchemy.create_engine(postgres_url)

Without the binaries or psycopg the fixtures skip, naming what is missing, except under
``CI=true``, where they fail: CI must run the PostgreSQL tests. The cluster is stopped when
the block or session ends; a process killed outright (SIGKILL) leaves it running.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typing_extensions import LiteralString

SUPERUSER = "postgres"
"""The database superuser ``initdb`` creates, whoever runs the server."""
SERVER_OS_USER = "postgres"
"""The system user the server programs run as when we are root (they refuse to run as root)."""
PORT = 5432
"""Only names the socket file (``.s.PGSQL.5432``): the server listens on no TCP port."""
START_TIMEOUT = 60
"""Seconds ``pg_ctl -w start`` may wait (generous: two cores shared with other test suites)."""
_PACKAGED_BIN_DIRS = Path("/usr/lib/postgresql")
_PROGRAMS = ("initdb", "pg_ctl")
_SERVER_SETTINGS = {
    # Reachable only through the socket in our private directory.
    "listen_addresses": "''",
    "port": str(PORT),
    # Throwaway data: durability buys nothing and costs seconds.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    # Small, short queries: compiling them is slower than running them.
    "jit": "off",
    # Several clusters may run at once (one per xdist worker); tests need little memory.
    "shared_buffers": "'32MB'",
}
_SAFE_PATH = re.compile(r"[A-Za-z0-9/._-]+")
_MAX_BASE_DIR_LENGTH = 60
"""A Unix socket path is limited to 107 bytes: base + ``/pg-XXXXXXXX/.s.PGSQL.5432.lock``."""
_LOG_TAIL_CHARS = 4000
_database_numbers = itertools.count(1)


class PostgresUnavailableError(RuntimeError):
    """The server binaries or the psycopg driver are missing; the message names which."""


class PostgresStartError(RuntimeError):
    """``initdb`` or ``pg_ctl start`` failed; the message carries their output and log tail."""


@dataclass(frozen=True)
class PostgresCluster:
    """A running throwaway cluster, reachable only through its Unix socket."""

    directory: Path
    """The temporary directory holding everything; removed when the cluster stops."""
    bin_dir: Path
    """Where ``initdb`` and ``pg_ctl`` were found."""
    os_user: str | None
    """The system user the server runs as (``postgres`` when we are root), else ourselves."""

    @property
    def socket_dir(self) -> Path:
        """The directory holding the server's socket (``host=`` for libpq)."""
        return self.directory

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    def url(self, dbname: str) -> str:
        """The SQLAlchemy URL of database ``dbname``: no host or port, the socket dir as query."""
        return f"postgresql+psycopg://{SUPERUSER}@/{dbname}?host={self.socket_dir}"

    def create_database(self, name: str) -> str:
        """Create the empty database ``name`` and return its URL."""
        self._admin("CREATE DATABASE {}", name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, disconnecting whoever is still connected (e.g. an engine's pool)."""
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)

    def log_tail(self, chars: int = _LOG_TAIL_CHARS) -> str:
        """The end of the server log, for error messages."""
        return _tail(self.log_path, chars)

    def _admin(self, statement: LiteralString, database: str) -> None:
        """Run ``statement`` with ``database`` quoted into its ``{}``, outside a transaction."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host=str(self.socket_dir),
            port=PORT,
            user=SUPERUSER,
            dbname="postgres",
            autocommit=True,
        ) as connection:
            connection.execute(sql.SQL(statement).format(sql.Identifier(database)))


def find_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: on PATH first, then the highest packaged version."""
    on_path = [shutil.which(program) for program in _PROGRAMS]
    if all(on_path):
        initdb = Path(str(on_path[0]))
        if all(Path(str(found)).parent == initdb.parent for found in on_path):
            return initdb.parent
    packaged = sorted(
        (path for path in _PACKAGED_BIN_DIRS.glob("*/bin") if _has_programs(path)),
        key=lambda path: _version_key(path.parent.name),
        reverse=True,
    )
    return packaged[0] if packaged else None


def unavailable_reason() -> str | None:
    """Why a cluster cannot start here, in one line, or None when it can."""
    if find_bin_dir() is None:
        return (
            "PostgreSQL server binaries not found (no initdb/pg_ctl on PATH "
            f"or in {_PACKAGED_BIN_DIRS}/*/bin)"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError as error:
        return f"psycopg 3 is not importable ({error}); pip install 'psycopg[binary]>=3.1'"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_OS_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_OS_USER!r} user to run PostgreSQL as"
    return None


def start_cluster() -> PostgresCluster:
    """Initialise and start a cluster in a new temporary directory; :func:`stop_cluster` it."""
    reason = unavailable_reason()
    if reason is not None:
        raise PostgresUnavailableError(reason)
    bin_dir = find_bin_dir()
    assert bin_dir is not None
    os_user = SERVER_OS_USER if os.geteuid() == 0 else None
    directory = Path(tempfile.mkdtemp(prefix="pg-", dir=_base_dir(os_user)))
    cluster = PostgresCluster(directory, bin_dir, os_user)
    try:
        if os_user is not None:
            account = pwd.getpwnam(os_user)
            os.chown(directory, account.pw_uid, account.pw_gid)
        _run(
            cluster,
            "initdb",
            ["-D", str(cluster.data_dir), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8"],
            ["--locale=C", "--no-sync", "--no-instructions"],
        )
        _configure(cluster)
        _run(
            cluster,
            "pg_ctl",
            ["start", "-w", "-t", str(START_TIMEOUT), "-D", str(cluster.data_dir)],
            ["-l", str(cluster.log_path)],
        )
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def stop_cluster(cluster: PostgresCluster) -> None:
    """Stop the server at once (no checkpoint: the data is thrown away) and remove its files."""
    if (cluster.data_dir / "postmaster.pid").exists():
        stopped = _run(
            cluster,
            "pg_ctl",
            ["stop", "-m", "immediate", "-w", "-D", str(cluster.data_dir)],
            check=False,
        )
        if stopped.returncode != 0:
            _kill_postmaster(cluster)
    shutil.rmtree(cluster.directory, ignore_errors=True)


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresCluster]:
    """A throwaway cluster for the duration of the block."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One cluster for the whole session (a start takes 1-3 s; a database, a tenth of that).

    Skips when PostgreSQL or psycopg is missing, but fails under ``CI=true``.
    """
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"CI=true requires PostgreSQL tests to run: {reason}", pytrace=False)
        pytest.skip(reason)
    with running_postgres() as cluster:
        yield cluster


@pytest.fixture
def postgres_url(
    postgres_cluster: PostgresCluster, request: pytest.FixtureRequest
) -> Iterator[str]:
    """The SQLAlchemy URL of a fresh, empty database for this test, dropped afterwards."""
    name = _database_name(request.node.name)
    yield postgres_cluster.create_database(name)
    try:
        postgres_cluster.drop_database(name)
    except Exception as error:  # the test's outcome matters more
        warnings.warn(f"could not drop test database {name}: {error}", stacklevel=1)


def _run(
    cluster: PostgresCluster, program: str, *argument_lists: list[str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a server program, as the server's system user when we are root."""
    command = [str(cluster.bin_dir / program), *itertools.chain(*argument_lists)]
    # PG* variables (PGDATA, PGPORT...) would redirect the programs; C locale keeps logs English.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    as_user: dict[str, Any] = {}
    if cluster.os_user is not None:
        account = pwd.getpwnam(cluster.os_user)
        as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    result = subprocess.run(  # checked below, with the log
        command,
        cwd=cluster.directory,  # our cwd may be unreadable to the server's user
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT + 30,
        check=False,
        **as_user,
    )
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-_LOG_TAIL_CHARS:]
        raise PostgresStartError(
            f"{program} exited with status {result.returncode}:\n{output}\n"
            f"--- server log ({cluster.log_path}) ---\n{cluster.log_tail() or '(empty)'}"
        )
    return result


def _configure(cluster: PostgresCluster) -> None:
    """Append our settings to postgresql.conf (later lines win; the file keeps its owner)."""
    settings = {**_SERVER_SETTINGS, "unix_socket_directories": f"'{cluster.socket_dir}'"}
    lines = "".join(f"{name} = {value}\n" for name, value in settings.items())
    with (cluster.data_dir / "postgresql.conf").open("a") as conf:
        conf.write(f"\n# talk_sync.testing.postgres\n{lines}")


def _base_dir(os_user: str | None) -> str:
    """The temporary directory if the socket path fits and the server's user can reach it."""
    base = tempfile.gettempdir()
    fits = len(base) <= _MAX_BASE_DIR_LENGTH and _SAFE_PATH.fullmatch(base) is not None
    if fits and (os_user is None or _searchable_by_others(Path(base))):
        return base
    return "/tmp"  # noqa: S108 (mkdtemp makes a private directory inside it)


def _searchable_by_others(path: Path) -> bool:
    """Whether every directory down to ``path`` lets other users through (pytest's do not)."""
    return all(os.stat(part).st_mode & 0o001 for part in [path, *path.parents])


def _kill_postmaster(cluster: PostgresCluster) -> None:
    """SIGKILL the postmaster whose pid ``pg_ctl stop`` could not bring down."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((cluster.data_dir / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            os.kill(pid, 0)  # raises once it is gone
            time.sleep(0.05)


def _database_name(test_name: str) -> str:
    """A unique database name that still says which test it belongs to (63 bytes at most)."""
    number = next(_database_numbers)
    label = re.sub(r"[^a-z0-9]+", "_", test_name.lower()).strip("_")[:40]
    return f"t{os.getpid()}_{number}_{label}".rstrip("_")


def _has_programs(bin_dir: Path) -> bool:
    return all((bin_dir / program).is_file() for program in _PROGRAMS)


def _version_key(version: str) -> tuple[int, ...]:
    """``"15"`` -> ``(15,)``, ``"9.6"`` -> ``(9, 6)``; anything else sorts first."""
    return (
        tuple(int(part) for part in version.split("."))
        if re.fullmatch(r"\d+(\.\d+)*", version)
        else ()
    )


def _tail(path: Path, chars: int) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
