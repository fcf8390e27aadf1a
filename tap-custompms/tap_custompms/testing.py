"""Test kit for tap-custompms: a scripted local HTTP stub and an in-process tap runner.

For the tap's tests and the monorepo's; the standard library and the tap only.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import typing as t
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tap_custompms.tap import TapCustompms

STUB_TOKEN = "stub-secret-token-4f9a"  # noqa: S105 (the stub's own, not a secret)


@dataclass
class Reply:
    """One scripted HTTP answer."""

    status: int = 200
    body: t.Any = None
    headers: dict[str, str] = field(default_factory=dict)
    wait_for: threading.Event | None = None  # block the answer until this is set


@dataclass
class SeenRequest:
    """What the stub received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


class StubApi:
    """A tiny Custompms look-alike on 127.0.0.1 that answers from a per-path script.

    Paths without a script (or whose script ran out) answer an empty last page. The tap's
    start-up check (``GET /customers?limit=1``, without ``include_deleted``) is answered an
    empty page and kept apart in :attr:`checks`: scripts and :attr:`requests` are the run's.
    """

    def __init__(self) -> None:
        self.scripts: dict[str, list[Reply]] = {}
        self.requests: list[SeenRequest] = []
        self.checks: list[SeenRequest] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/api/v1"

    def script(self, resource: str, *replies: Reply) -> None:
        """Queue answers for GET /api/v1/<resource>."""
        self.scripts.setdefault(f"/api/v1/{resource}", []).extend(replies)

    def requests_for(self, resource: str) -> list[SeenRequest]:
        return [r for r in self.requests if r.path == f"/api/v1/{resource}"]

    def _next_reply(self, path: str) -> Reply:
        queue = self.scripts.get(path)
        return queue.pop(0) if queue else Reply(body={"data": [], "next_cursor": None})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                seen = SeenRequest(
                    path=url.path,
                    query={k: v[-1] for k, v in parse_qs(url.query).items()},
                    headers=dict(self.headers),
                )
                if "include_deleted" not in seen.query:  # the start-up check
                    stub.checks.append(seen)
                    reply = Reply(body={"data": [], "next_cursor": None})
                else:
                    stub.requests.append(seen)
                    reply = stub._next_reply(url.path)
                if reply.wait_for is not None:
                    reply.wait_for.wait(timeout=30)
                payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                content_type = "application/json"
                if reply.status >= 400:
                    content_type = "application/problem+json"
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: t.Any) -> None:
                """Keep test output quiet."""

        return Handler

    def __enter__(self) -> StubApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def customer(record_id: int, updated_at: str, **fields: t.Any) -> dict[str, t.Any]:
    """A contract-shaped customer record."""
    return {
        "id": record_id,
        "external_id": None,
        "created_at": "2026-01-01T00:00:00.000000Z",
        "updated_at": updated_at,
        "version": 1,
        "deleted_at": None,
        "name": f"Customer {record_id}",
        "description": None,
        "parent_id": None,
        "email_domains": [],
        "url": None,
        **fields,
    }


@dataclass
class TapRun:
    """Messages one in-process tap run wrote, by type."""

    messages: list[dict[str, t.Any]]

    def records(self, stream: str) -> list[dict[str, t.Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    @property
    def state(self) -> dict[str, t.Any]:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else {}


def run_tap(config: dict[str, t.Any], state: dict[str, t.Any] | None = None) -> TapRun:
    """Sync every stream in-process and return the Singer messages written to stdout."""
    tap = TapCustompms(config=config, state=state, parse_env_config=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tap.sync_all()
    return TapRun([json.loads(line) for line in out.getvalue().splitlines() if line])
