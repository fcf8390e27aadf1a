"""A real headless Chromium for tests, driven over the DevTools protocol on a pipe.

No browser download and no new dependency: the distribution's ``chromium`` package
(``apt-get install chromium``) started with ``--remote-debugging-pipe``, which speaks the
DevTools protocol as NUL-separated JSON on file descriptors 3 (commands) and 4 (answers
and events). A test loads a page and gets back what a person would notice: the console
errors and uncaught exceptions, every request the page made, and the values of DOM
expressions evaluated once the page has loaded::

    with HeadlessChromium() as browser:
        page = browser.load(path.as_uri(), {"tables": "document.querySelectorAll('table').length"})
    assert page.errors == [] and page.values["tables"] == 3
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

#: Where Debian's ``chromium`` package puts the browser.
CHROMIUM = "/usr/bin/chromium"
#: Flags for a quiet, offline, throwaway browser (no sandbox: tests may run as root).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-pipe",
)
#: Requests to these schemes stay on this machine (the page itself, inline data).
LOCAL_SCHEMES = ("file:", "data:", "about:")


def chromium_path() -> str | None:
    """The browser, if installed: ``/usr/bin/chromium``, else ``chromium`` on the path."""
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


class BrowserError(RuntimeError):
    """The browser died, timed out or answered a command with an error."""


@dataclass
class PageLoad:
    """What loading one page showed."""

    url: str
    #: Console errors and assertions, uncaught exceptions, and the browser's own error log
    #: entries (a resource that failed to load, a blocked request...), one line each.
    errors: list[str] = field(default_factory=list)
    #: Every URL the page requested that is not local (``file:``, ``data:``, ``about:``).
    remote_requests: list[str] = field(default_factory=list)
    #: Each expression's value once the page's ``load`` event fired.
    values: dict[str, Any] = field(default_factory=dict)


class HeadlessChromium:
    """One headless browser (a context manager) that loads pages one after the other."""

    def __init__(self, executable: str | None = None, *, timeout: float = 20.0) -> None:
        found = executable or chromium_path()
        if not found:
            raise BrowserError("chromium is not installed (apt-get install chromium)")
        self.executable = found
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._to_browser = self._from_browser = -1

    def __enter__(self) -> HeadlessChromium:
        commands_read, commands_write = os.pipe()
        answers_read, answers_write = os.pipe()

        def wire_pipes() -> None:  # in the child: the browser expects fds 3 and 4
            ours = os.dup(commands_read), os.dup(answers_write)
            os.dup2(ours[0], 3)
            os.dup2(ours[1], 4)

        self._process = subprocess.Popen(
            [self.executable, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            preexec_fn=wire_pipes,
            close_fds=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands_read)
        os.close(answers_write)
        self._to_browser, self._from_browser = commands_write, answers_read
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._process is not None and self._process.poll() is None:
                with contextlib.suppress(BrowserError, OSError):
                    self._call("Browser.close")
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
        finally:
            for descriptor in (self._to_browser, self._from_browser):
                if descriptor >= 0:
                    os.close(descriptor)
            self._profile.cleanup()

    def load(self, url: str, expressions: Mapping[str, str] | None = None) -> PageLoad:
        """Open ``url`` in a new tab, wait for its ``load`` event, evaluate ``expressions``."""
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})
        session = attached["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self._call(f"{domain}.enable", session=session)
        self._events.clear()
        self._call("Page.navigate", {"url": url}, session=session)
        self._wait_for("Page.loadEventFired", session)
        page = PageLoad(url)
        for name, expression in (expressions or {}).items():
            answer = self._call(
                "Runtime.evaluate",
                {"expression": expression, "returnByValue": True},
                session=session,
            )
            if "exceptionDetails" in answer:
                raise BrowserError(f"{name}: {answer['exceptionDetails'].get('text')}")
            page.values[name] = answer["result"].get("value")
        self._collect(page, session)
        self._call("Target.closeTarget", {"targetId": target})
        return page

    # --- the protocol ----------------------------------------------------------------------

    def _collect(self, page: PageLoad, session: str) -> None:
        for event in self._events:
            if event.get("sessionId") != session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                text = " ".join(
                    str(arg.get("value", arg.get("description"))) for arg in params["args"]
                )
                page.errors.append(f"console.{params['type']}: {text}")
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                thrown = details.get("exception", {}).get("description") or details.get("text")
                page.errors.append(f"uncaught: {thrown}")
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                entry = params["entry"]
                page.errors.append(
                    f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}"
                )
            elif method == "Network.requestWillBeSent":
                requested = str(params["request"]["url"])
                if not requested.startswith(LOCAL_SCHEMES):
                    page.remote_requests.append(requested)

    def _wait_for(self, method: str, session: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not any(
            e.get("method") == method and e.get("sessionId") == session for e in self._events
        ):
            self._events.append(self._receive(deadline))

    def _call(
        self, method: str, params: Mapping[str, Any] | None = None, *, session: str | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._receive(deadline)
            if answer.get("id") != self._next_id:
                self._events.append(answer)
                continue
            if "error" in answer:
                raise BrowserError(f"{method}: {answer['error']}")
            result: dict[str, Any] = answer.get("result", {})
            return result

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(left, 0))
            if not ready:
                raise BrowserError(f"no answer from chromium within {self.timeout:.0f}s")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise BrowserError("chromium exited")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed
