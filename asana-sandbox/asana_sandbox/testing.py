"""Start a real sandbox for tests: ``running_sandbox()`` and the ``asana_sandbox`` fixture.

Other packages' conftests import it::

    from asana_sandbox.testing import asana_sandbox, running_sandbox  # noqa: F401
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

STARTUP_TIMEOUT_SECONDS = 60.0


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SandboxServer:
    """A sandbox running as a subprocess."""

    url: str  # http://127.0.0.1:PORT
    api_url: str  # url + "/api/1.0"
    token: str
    process: subprocess.Popen[bytes]

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the sandbox's own http URL
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - local URL
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        """GET /_sandbox/stats."""
        return self._request("GET", "/_sandbox/stats")

    def reset_stats(self) -> None:
        """POST /_sandbox/reset-stats (also clears the quota windows)."""
        self._request("POST", "/_sandbox/reset-stats", {})

    def expire_sync_tokens(self, resource: str | None = None) -> None:
        """Make sync tokens stale, so the next GET /events answers 412."""
        suffix = f"?resource={resource}" if resource else ""
        self._request("POST", f"/_sandbox/expire-sync-tokens{suffix}", {})

    def act(
        self,
        method: str,
        relative_path: str,
        data: dict[str, Any] | None = None,
        *,
        user: str | None = None,
    ) -> Any:
        """Call the API as a user, outside quota, faults and stats ("someone edits in Asana")."""
        payload = {
            "method": method,
            "relative_path": relative_path,
            "data": data or {},
            "user": user,
        }
        try:
            return self._request("POST", "/_sandbox/act", payload)
        except urllib.error.HTTPError as error:
            raise AssertionError(
                f"{method} {relative_path}: {error.code} {error.read()!r}"
            ) from None

    def save(self) -> None:
        """Write the data file now."""
        self._request("POST", "/_sandbox/save", {})


def _command() -> list[str]:
    script = shutil.which("asana-sandbox", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "asana_sandbox.cli"]


#: Ports tried before giving up: another process may take a free port before the server
#: binds it.
PORT_ATTEMPTS = 5


class PortTakenError(RuntimeError):
    """The server could not have its port: another process bound it first."""


def _wait_ready(url: str, process: Any) -> None:
    """Wait until the server we started answers its health check.

    Another server that took the port first answers too: its process id tells it apart,
    and ours then exits, unable to bind (:class:`PortTakenError`).
    """
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    others = False
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if others:
                raise PortTakenError(f"another server answers on {url}")
            raise RuntimeError(
                f"asana-sandbox exited with {process.returncode} before it was ready"
            )
        try:
            with urllib.request.urlopen(url + "/_sandbox/health", timeout=1) as response:  # noqa: S310
                if json.loads(response.read() or b"{}").get("pid") == str(process.pid):
                    return
                others = True
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise RuntimeError("asana-sandbox did not become ready in time")


@contextmanager
def running_sandbox(
    *,
    token: str = "test-token",  # noqa: S107 - a throwaway token for a local test server
    seed: str | None = "demo",
    data_file: Path | None = None,
    latency_ms: int = 0,
    rate_limit_per_minute: int | None = None,
    fault_rate: float = 0.0,
    fault_after_write_rate: float = 0.0,
    fault_seed: int | None = None,
    extra_args: Sequence[str] = (),
    launch: Callable[..., Any] | None = None,
) -> Iterator[SandboxServer]:
    """Run ``asana-sandbox serve`` on a free 127.0.0.1 port until the block ends.

    With ``data_file`` the state is loaded from (or, when the file is new, seeded into) that
    file and saved there; otherwise ``seed`` names the starting data. ``fault_rate``,
    ``fault_after_write_rate`` and ``fault_seed`` become the ``--fault-*`` options.
    ``launch(command, env=...)`` starts the process instead of :class:`subprocess.Popen`
    (``local_stack`` forks it from a process that imported the sandbox already).
    """
    options = ["--token", token]
    if data_file is not None:
        options += ["--data", str(data_file)]
        if seed:
            options += ["--seed-if-new", seed]
    elif seed:
        options += ["--seed", seed]
    if latency_ms:
        options += ["--latency-ms", str(latency_ms)]
    if rate_limit_per_minute is not None:
        options += ["--rate-limit-per-minute", str(rate_limit_per_minute)]
    if fault_rate:
        options += ["--fault-rate", str(fault_rate)]
    if fault_after_write_rate:
        options += ["--fault-after-write-rate", str(fault_after_write_rate)]
    if fault_seed is not None:
        options += ["--fault-seed", str(fault_seed)]
    options += list(extra_args)
    for attempt in range(PORT_ATTEMPTS):
        try:
            with _serving(free_port(), token, options, launch) as server:
                yield server
                return
        except PortTakenError:
            if attempt + 1 == PORT_ATTEMPTS:
                raise


@contextmanager
def _serving(
    port: int, token: str, options: list[str], launch: Callable[..., Any] | None
) -> Iterator[SandboxServer]:
    """The sandbox on ``port`` until the block ends (:class:`PortTakenError` if it is taken)."""
    args = [*_command(), "serve", "--host", "127.0.0.1", "--port", str(port), *options]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = launch(args, env=env) if launch else subprocess.Popen(args, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        yield SandboxServer(url=url, api_url=url + "/api/1.0", token=token, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def asana_sandbox() -> Iterator[SandboxServer]:
    """A fresh sandbox with the demo seed for one test."""
    with running_sandbox() as server:
        yield server
