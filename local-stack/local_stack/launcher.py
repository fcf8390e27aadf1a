"""Start the two local servers from a pre-imported process instead of a fresh interpreter.

Each stack starts the Asana sandbox and the Custompms server; a fresh ``asana-sandbox`` or
``custompms`` process spends about a second of CPU importing FastAPI, uvicorn and pydantic
before it serves, and the end-to-end tests start two per test. :func:`launch` runs the same
console-script entry point (same argv, environment, working directory and output) in a
child forked from a multiprocessing fork server that imported those modules once per
process: a start then costs a few tenths of a second. Each server is still a process of
its own, with its own state, stopped and killed like before (:class:`LaunchedProcess`
answers the parts of :class:`subprocess.Popen` the starters and tests use).
"""

from __future__ import annotations

import atexit
import functools
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from multiprocessing import reduction
from pathlib import Path
from typing import IO, Any

#: What the fork server imports once: the servers' apps and everything they pull in.
PRELOAD = ("asana_sandbox.cli", "asana_sandbox.app", "custompms.cli", "custompms.app", "uvicorn")


@functools.cache
def _forkserver() -> Any:
    """The fork server's context: one per process, started by the first launch."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    # Stop and reap it at exit, as a subprocess would be: its CPU time, and the servers',
    # then count as this process's children's (time, resource.getrusage).
    stop = getattr(multiprocessing.forkserver._forkserver, "_stop", None)  # type: ignore[attr-defined]
    if stop is not None:
        atexit.register(stop)
    return context


class _Fd:
    """A file descriptor handed to the child (the fork server passes it over its socket)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return _received_fd, (reduction.DupFd(self.fd),)


def _received_fd(dup: Any) -> int:
    return int(dup.detach())


def _run(target: str, argv: list[str], env: dict[str, str], cwd: str, output: int | None) -> None:
    """The child: become ``argv`` as its console script would, then run its entry point."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    if output is not None:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
            os.dup2(output, stream.fileno())
        os.close(output)
    # As the console script's own process: lines reach a log file as they are written.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.argv = argv
    module, _, function = target.partition(":")
    main = getattr(__import__(module, fromlist=[function]), function)
    main(argv[1:])


class LaunchedProcess:
    """A server started by :func:`launch`: the Popen methods the starters use."""

    def __init__(self, process: Any, args: Sequence[str]) -> None:
        self._process = process
        self.args = list(args)
        self.pid: int = process.pid

    @property
    def returncode(self) -> int | None:
        code = self._process.exitcode
        return None if code is None else int(code)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return int(self._process.exitcode)

    def send_signal(self, sig: int) -> None:
        if self._process.exitcode is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


@functools.cache
def entry_point(command: str) -> str | None:
    """``module:function`` of the console script ``command`` (a name or a path), if any."""
    name = Path(command).name
    found = entry_points(group="console_scripts", name=name)
    return next((ep.value for ep in found), None)


def launch(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdout: IO[bytes] | None = None,
) -> LaunchedProcess | subprocess.Popen[bytes]:
    """Run ``command`` like ``subprocess.Popen(command, env=env, stdout=stdout,
    stderr=stdout)``; a console script of a preloaded server is forked, anything else is a
    plain subprocess."""
    target = entry_point(command[0])
    if target is None or not target.startswith(tuple(m.partition(".")[0] for m in PRELOAD)):
        return subprocess.Popen(command, env=env, stdout=stdout, stderr=stdout)
    output = None if stdout is None else _Fd(stdout.fileno())
    process = _forkserver().Process(
        target=_run,
        args=(target, list(command), dict(os.environ if env is None else env), os.getcwd(), output),
        daemon=True,  # never outlives the tests' process
    )
    process.start()
    return LaunchedProcess(process, command)
