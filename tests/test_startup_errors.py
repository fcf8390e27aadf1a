"""A wrong URL or token stops each of the four plugins at start, in one line (issue #15, 5).

Each plugin runs its command line in a process of its own, as Meltano runs it, against a
local server or port set up to fail one way: 401, 403, a name that does not resolve, a
closed port, TLS to a plain-HTTP server, a server that never answers. stderr must hold
exactly one error line, naming the setting to check and the URL's host, and no traceback;
the exit code is 1; the token never appears. The traceback is there at DEBUG.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from talk_sync.testing.failing_servers import answering, closed_port, silent

TOKEN = "s3cret-token-never-printed"

#: Each plugin: its URL's path, its token setting, and the input a target is given.
PLUGINS = {
    "tap-asana-talk": ("/api/1.0", "access_token"),
    "tap-custompms": ("/api/v1", "api_token"),
    "target-custompms": ("/api/v1", "api_token"),
    "target-asana-talk": ("/api/1.0", "access_token"),
}


@contextmanager
def a_closed_port() -> Iterator[str]:
    yield f"http://127.0.0.1:{closed_port()}"


@contextmanager
def an_unknown_host() -> Iterator[str]:
    yield "http://talk-sync-startup-test.invalid"  # .invalid never resolves (RFC 2606)


@contextmanager
def tls_to_plain_http() -> Iterator[str]:
    with answering(200, {"data": []}) as url:
        yield url.replace("http://", "https://")


#: Each failure: the server, what the line says, and the setting it names (None: the token's).
FAILURES: dict[str, tuple[Callable[[], AbstractContextManager[str]], str, str | None]] = {
    "401": (lambda: answering(401), "(401)", None),
    "403": (lambda: answering(403), "(403)", None),
    "dns": (an_unknown_host, "cannot resolve talk-sync-startup-test.invalid", "api_url"),
    "refused": (a_closed_port, "(connection refused)", "api_url"),
    "tls": (tls_to_plain_http, "TLS handshake", "api_url"),
    "timeout": (silent, "did not answer within 1 s", "request_timeout"),
}


#: Each plugin's class, whose ``cli`` is its console script's entry point.
ENTRY_POINTS = {
    "tap-asana-talk": "tap_asana_talk.tap:TapAsanaTalk",
    "tap-custompms": "tap_custompms.tap:TapCustompms",
    "target-custompms": "target_custompms.target:TargetCustompms",
    "target-asana-talk": "target_asana_talk.target:TargetAsanaTalk",
}


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_plugin(plugin: str, base_url: str, tmp_path: Path, **env: str) -> Result:
    """Run ``plugin --config ...`` against ``base_url`` with a 1 s ``request_timeout``."""
    return start_plugin(plugin, base_url, tmp_path, **env).result()


def start_plugin(plugin: str, base_url: str, tmp_path: Path, **env: str) -> Child:
    path, token_setting = PLUGINS[plugin]
    config: dict[str, Any] = {"api_url": base_url + path, token_setting: TOKEN}
    config["request_timeout"] = 1
    if plugin.startswith("target-"):
        config["link_store_url"] = str(tmp_path / "links.db")
        config["report_path"] = str(tmp_path / "report.json")
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    schema = {"type": "SCHEMA", "stream": "tasks", "schema": {"properties": {}}}
    record = {"type": "RECORD", "stream": "tasks", "record": {"gid": "1", "id": 1}}
    lines = "".join(json.dumps(message) + "\n" for message in (schema, record))
    clean = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    clean = {k: v for k, v in clean.items() if not k.endswith("LOGLEVEL")}
    stdin = lines if plugin.startswith("target-") else ""
    return Child.fork(plugin, ["--config", str(config_file)], stdin, {**clean, **env}, tmp_path)


@dataclass
class Child:
    """A plugin's CLI running in a child process of its own, as its console script would.

    *Why fork, not exec:* the child inherits the plugins already imported here instead of
    spending two seconds importing them again (28 runs); it still has its own stdin, stdout,
    stderr, environment, logging set-up and exit code.
    """

    pid: int
    out: Path
    err: Path

    @classmethod
    def fork(
        cls, plugin: str, args: list[str], stdin: str, env: dict[str, str], folder: Path
    ) -> Child:
        module, _, name = ENTRY_POINTS[plugin].partition(":")
        plugin_class = getattr(importlib.import_module(module), name)
        given, out, err = folder / "stdin", folder / "stdout", folder / "stderr"
        given.write_text(stdin)
        pid = os.fork()
        if pid:
            return cls(pid, out, err)
        code = 1  # the child, from here on: it never returns
        try:
            for fd, path, mode in ((0, given, os.O_RDONLY), (1, out, 0), (2, err, 0)):
                flags = mode or os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                os.dup2(os.open(path, flags, 0o600), fd)
            sys.stdin = open(0, closefd=False)  # noqa: SIM115
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            os.environ.clear()
            os.environ.update(env)
            root = logging.getLogger()
            for handler in root.handlers[:]:  # pytest's: the plugin sets up its own
                root.removeHandler(handler)
            plugin_class.cli.main(args=args, prog_name=plugin)
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def result(self, timeout: float = 60) -> Result:
        returncode = wait(self.pid, timeout)
        return Result(returncode, self.out.read_text(), self.err.read_text())


def wait(pid: int, timeout: float) -> int:
    """The child's exit code; killed (and failed) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"still running after {timeout} s")


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "ERROR" in line or "CRITICAL" in line]


def seconds_between_first_and_error_line(stderr: str) -> float:
    """How long the plugin ran, from its first log line to its error line (imports excluded)."""
    stamps = [
        datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
        for line in stderr.splitlines()
        if line[:4].isdigit()
    ]
    return (stamps[-1] - stamps[0]).total_seconds()


@dataclass
class Run:
    base_url: str
    result: Result


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Run]:
    """Every plugin against every failure, the plugins running side by side."""
    with ExitStack() as servers:
        started = {}
        for failure, (server, _, _) in FAILURES.items():
            base_url = servers.enter_context(server())
            for plugin in PLUGINS:
                folder = tmp_path_factory.mktemp(f"{plugin}-{failure}")
                started[plugin, failure] = (base_url, start_plugin(plugin, base_url, folder))
        return {key: Run(url, child.result()) for key, (url, child) in started.items()}


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("plugin", PLUGINS)
def test_a_start_up_failure_is_one_line_naming_the_setting_and_host(
    runs: dict[tuple[str, str], Run], plugin: str, failure: str
) -> None:
    _, says, setting = FAILURES[failure]
    run = runs[plugin, failure]
    result, host = run.result, run.base_url.split("://", 1)[1]
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert TOKEN not in result.stderr + result.stdout
    (line,) = error_lines(result.stderr)
    assert plugin in line
    assert says in line
    assert f"check the {setting or PLUGINS[plugin][1]}" in line or f"and {setting}" in line, line
    assert host.split(":")[0] in line
    # No half-minute of retries at start (the timeout case waits its 1 s once).
    took = seconds_between_first_and_error_line(result.stderr)
    assert took < 5, f"{plugin} took {took:.1f} s to give up"


@pytest.mark.parametrize("plugin", ["target-custompms", "target-asana-talk"])
def test_a_target_stops_before_it_reads_or_opens_anything(plugin: str, tmp_path: Path) -> None:
    with answering(401) as base_url:
        result = run_plugin(plugin, base_url, tmp_path)
    assert result.returncode == 1
    assert not (tmp_path / "links.db").exists()  # no link store opened, no lease taken
    assert "Reader" not in result.stderr  # the SDK's "completed processing N lines" line


@pytest.mark.parametrize("plugin", PLUGINS)
def test_the_traceback_is_kept_at_debug(plugin: str, tmp_path: Path) -> None:
    result = run_plugin(plugin, f"http://127.0.0.1:{closed_port()}", tmp_path, LOGLEVEL="debug")
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "ConnectionRefusedError" in result.stderr
    assert len(error_lines(result.stderr)) == 1
    assert TOKEN not in result.stderr
