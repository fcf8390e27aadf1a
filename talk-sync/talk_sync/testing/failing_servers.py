"""Local servers that fail the way a misconfigured API does, for the start-up checks' tests.

- :func:`answering`: an HTTP server on 127.0.0.1 answering every GET with one status (401,
  403...) and a JSON body, and every other method with 503 (a write that fails).
- :func:`silent`: a socket that accepts connections and never answers (a timeout).
- :func:`closed_port`: a port on 127.0.0.1 that nothing listens on (connection refused).

Each yields its base URL (or port) and stops with the ``with`` block; nothing reaches the
network.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from typing import Any


@contextmanager
def answering(status: int, body: Any = None) -> Iterator[str]:
    """An HTTP server answering GETs with ``status`` and ``body``; ``http://127.0.0.1:<port>``."""
    payload = json.dumps(body if body is not None else {"errors": [{"message": "no"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, code: int) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._answer(status)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._answer(503)

        def log_message(self, format: str, *args: Any) -> None:
            return

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as url:
        yield url


@contextmanager
def serving(server: HTTPServer, scheme: str = "http") -> Iterator[str]:
    """Serve ``server`` (bound to 127.0.0.1) from a thread; its URL, then shut it down."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent() -> Iterator[str]:
    """A listening socket that accepts and never answers; ``http://127.0.0.1:<port>``."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # the kernel accepts; nobody ever reads or writes
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
