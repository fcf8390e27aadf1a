"""A small HTTP proxy in front of one server that can hold a chosen write in its window.

Crash and overlap tests must act *inside* a sub-second window (after the pending rows are
committed, after the destination answered, before the links are completed); a kill at a
fixed delay almost always misses it. The gate forwards every request to its upstream and
counts the writes; armed, it holds the Nth write:

- ``before``: the request is held before the upstream sees it (the pending rows are
  committed, since a target commits them before it sends a create);
- ``answered``: the upstream has run the write; its answer is held;
- ``delivered``: the answer is delivered, but only once ``before_delivery`` (e.g. a lock on
  the link store, so the links cannot be completed) has run.

Then :attr:`WriteGate.held` is set: the test kills, or runs something else, and finally
calls :meth:`WriteGate.release` (a held request then goes on to the upstream, a held
answer to the client, whether that client is still alive or not).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import requests

WINDOWS = ("before", "answered", "delivered")
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-encoding",
    "content-length",
    "host",
}


def asana_write(method: str, path: str, body: bytes) -> bool:
    """An Asana call that changes data (a /batch counts when any action writes)."""
    if method == "GET":
        return False
    if not path.split("?")[0].endswith("/batch"):
        return True
    try:
        actions = json.loads(body)["data"]["actions"]
    except (ValueError, KeyError, TypeError):
        return True
    return any(str(action.get("method", "")).lower() != "get" for action in actions)


def custompms_write(method: str, path: str, body: bytes) -> bool:
    """A Custompms call that changes data (bulk upserts included)."""
    return method != "GET"


@dataclass
class _Arming:
    nth: int
    window: str
    before_delivery: Callable[[], None] | None


class WriteGate:
    """The proxy; :attr:`url` replaces the upstream's scheme, host and port."""

    def __init__(
        self, upstream: str, is_write: Callable[[str, str, bytes], bool], name: str = "gate"
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream = f"{parts.scheme}://{parts.netloc}"
        self.path_prefix = parts.path
        self.is_write = is_write
        self.name = name
        self.writes = 0
        #: Set once the armed write is held in its window.
        self.held = threading.Event()
        #: What was held: ``(method, path)``.
        self.held_request: tuple[str, str] | None = None
        self._arming: _Arming | None = None
        self._release = threading.Event()
        self._forward_held = True
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The proxied base URL (same path as the upstream's)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path_prefix}"

    def __enter__(self) -> WriteGate:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release(forward=False)
        self._server.shutdown()
        self._server.server_close()
        self._session.close()

    def arm(self, nth: int, window: str, before_delivery: Callable[[], None] | None = None) -> None:
        """Hold the ``nth`` write from now on (1: the next one) in ``window``."""
        if window not in WINDOWS:
            raise ValueError(f"window must be one of {WINDOWS}, not {window!r}")
        with self._lock:
            self._arming = _Arming(self.writes + nth, window, before_delivery)
            self.held.clear()
            self._release.clear()

    def release(self, *, forward: bool = True) -> None:
        """Let the held request or answer go on; the gate passes everything from now on.

        ``forward=False`` drops a request held ``before`` instead: the upstream never sees
        it (as when the client died before its request left).
        """
        with self._lock:
            self._arming = None
            self._forward_held = forward
        self._release.set()

    # --- the proxy ---------------------------------------------------------------------------

    def _hold_here(self, method: str, path: str, body: bytes) -> _Arming | None:
        if not self.is_write(method, path, body):
            return None
        with self._lock:
            self.writes += 1
            arming = self._arming
            if arming is None or self.writes != arming.nth:
                return None
            self.held_request = (method, path)
            return arming

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        return self._session.request(
            method, self.upstream + path, headers=headers, data=body or None, timeout=600
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gate = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:  # quiet
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                arming = gate._hold_here(self.command, self.path, body)
                if arming is not None and arming.window == "before":
                    gate.held.set()
                    gate._release.wait()
                    if not gate._forward_held:
                        self.close_connection = True
                        return
                try:
                    answer = gate._forward(self.command, self.path, headers, body)
                except requests.RequestException:
                    self.close_connection = True  # the upstream dropped it: so do we
                    return
                if arming is not None and arming.window == "answered":
                    gate.held.set()
                    gate._release.wait()
                delivering = arming is not None and arming.window == "delivered"
                if delivering and arming.before_delivery is not None:  # type: ignore[union-attr]
                    arming.before_delivery()  # type: ignore[union-attr]
                content = answer.content
                try:
                    self.send_response(answer.status_code)
                    for key, value in answer.headers.items():
                        if key.lower() not in _HOP_BY_HOP:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                    self.wfile.flush()
                except OSError:
                    self.close_connection = True  # the client is gone (killed)
                if delivering:
                    gate.held.set()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

        return Handler
