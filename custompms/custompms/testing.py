"""Run the real reference server for tests: a context manager and a pytest fixture.

    from custompms.testing import running_server

    with running_server(tmp_path / "pms.db", seed=True) as server:  # or seed="overlap"
        httpx.get(f"{server.api_url}/customers", headers=server.headers)

Other test suites reuse the fixture by importing it into their conftest.py::

    from custompms.testing import custompms_server  # noqa: F401
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

DEFAULT_TOKEN = "test-token"  # noqa: S105 (a fixed token for throwaway test servers)
STARTUP_TIMEOUT = 30.0
"""Seconds to wait for /api/v1/health (generous: two cores shared with other test suites)."""
_PORT_ATTEMPTS = 3


@dataclass
class CustompmsServer:
    """A reference server running as a subprocess on 127.0.0.1."""

    url: str
    """Base URL, e.g. ``http://127.0.0.1:54321``."""
    api_url: str
    """``url + "/api/v1"``."""
    token: str = field(repr=False)
    db_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    log: IO[bytes] | None = field(default=None, repr=False)
    """Where the server's stdout and stderr go (a temporary file, closed on stop)."""

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header for this server."""
        return {"Authorization": f"Bearer {self.token}"}

    def log_text(self) -> str:
        """Everything the server has logged so far."""
        return _read(self.log) if self.log else ""


class ServerStartError(RuntimeError):
    """The server did not become healthy; the message carries its stderr."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def console_script() -> list[str]:
    """The installed ``custompms`` console script (next to this interpreter, else on PATH)."""
    beside = Path(sys.executable).with_name("custompms")
    found = str(beside) if beside.exists() else shutil.which("custompms")
    if found is None:
        raise ServerStartError("the custompms console script is not installed")
    return [found]


def start_server(
    db_path: Path,
    *,
    token: str = DEFAULT_TOKEN,
    seed: bool | str = False,
    port: int | None = None,
    fault_rate: float = 0.0,
    fault_after_write_rate: float = 0.0,
    fault_seed: int | None = None,
    fault_slow_ms: int | None = None,
    launch: Callable[..., Any] | None = None,
) -> CustompmsServer:
    """Start the server and wait until it is healthy; the caller must :func:`stop_server` it.

    ``seed``: ``True`` loads the default seed (``sample``), a string names one (``serve
    --seed NAME``).

    The ``fault_*`` options become ``serve --fault-*`` (none by default); ``CUSTOMPMS_FAULT_*``
    variables of the calling environment are not passed on, so a test gets only the faults it
    asks for. ``launch(command, env=..., stdout=...)`` starts the process instead of
    :class:`subprocess.Popen` (``local_stack`` forks it from a process that imported the
    server already).
    """
    for attempt in range(_PORT_ATTEMPTS):
        chosen = port or free_port()
        command = [*console_script(), "serve", "--host", "127.0.0.1", "--port", str(chosen)]
        command += ["--db", str(db_path), "--log-level", "warning"]
        if seed:
            command += ["--seed"] if seed is True else ["--seed", str(seed)]
        command += _fault_options(fault_rate, fault_after_write_rate, fault_seed, fault_slow_ms)
        # The token goes through the environment, not argv, so `ps` does not show it.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMPMS_FAULT_")}
        env = {**inherited, "CUSTOMPMS_TOKEN": token}
        log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server; closed in stop_server)
        if launch:
            process = launch(command, env=env, stdout=log)
        else:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        url = f"http://127.0.0.1:{chosen}"
        server = CustompmsServer(url, f"{url}/api/v1", token, Path(db_path), process, log)
        try:
            _wait_healthy(server)
        except ServerStartError as error:
            stop_server(server)
            # Another process may have taken the port between choosing and binding it.
            if port is None and attempt + 1 < _PORT_ATTEMPTS and "in use" in str(error):
                continue
            raise
        return server
    raise AssertionError("unreachable")  # pragma: no cover


def _fault_options(
    rate: float, after_write_rate: float, seed: int | None, slow_ms: int | None
) -> list[str]:
    options = []
    if rate:
        options += ["--fault-rate", str(rate)]
    if after_write_rate:
        options += ["--fault-after-write-rate", str(after_write_rate)]
    if seed is not None:
        options += ["--fault-seed", str(seed)]
    if slow_ms is not None:
        options += ["--fault-slow-ms", str(slow_ms)]
    return options


def stop_server(server: CustompmsServer, *, timeout: float = 10.0) -> None:
    """Terminate the server (SIGTERM, then SIGKILL if it lingers)."""
    process = server.process
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if server.log is not None:
        server.log.close()


@contextlib.contextmanager
def running_server(
    db_path: Path,
    *,
    token: str = DEFAULT_TOKEN,
    seed: bool | str = False,
    fault_rate: float = 0.0,
    fault_after_write_rate: float = 0.0,
    fault_seed: int | None = None,
    fault_slow_ms: int | None = None,
    launch: Callable[..., Any] | None = None,
) -> Iterator[CustompmsServer]:
    """The reference server on a free 127.0.0.1 port for the duration of the block."""
    server = start_server(
        db_path,
        token=token,
        seed=seed,
        fault_rate=fault_rate,
        fault_after_write_rate=fault_after_write_rate,
        fault_seed=fault_seed,
        fault_slow_ms=fault_slow_ms,
        launch=launch,
    )
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def custompms_server(tmp_path: Path) -> Iterator[CustompmsServer]:
    """A fresh, empty reference server for one test."""
    with running_server(tmp_path / "custompms.db") as server:
        yield server


def _wait_healthy(server: CustompmsServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerStartError(
                f"custompms exited with status {server.process.returncode} before becoming "
                f"healthy on {server.url}; its output:\n{server.log_text()[-4000:]}"
            )
        try:
            with urllib.request.urlopen(f"{server.api_url}/health", timeout=2) as response:  # noqa: S310 (our own loopback URL)
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise ServerStartError(
        f"custompms did not answer {server.api_url}/health within {STARTUP_TIMEOUT:.0f}s; "
        f"its output:\n{server.log_text()[-4000:]}"
    )


def _read(log: IO[bytes]) -> str:
    if log.closed:
        return ""
    log.flush()
    log.seek(0)
    return log.read().decode("utf-8", "replace")
