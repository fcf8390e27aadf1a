"""HTTP behaviour against a scripted stub: Retry-After pauses the shared bucket."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from talk_sync.ratelimit import RateLimitedAdapter, TokenBucket
from tap_asana_talk.tap import TapAsanaTalk


class Script:
    """Answers queued per path; an empty last page once a queue runs out."""

    def __init__(self) -> None:
        self.replies: dict[str, list[tuple[int, dict, dict]]] = {}
        self.seen: list[str] = []


@pytest.fixture
def stub() -> Iterator[tuple[Script, str]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            script.seen.append(path)
            queue = script.replies.get(path) or [(200, {"data": [], "next_page": None}, {})]
            status, body, headers = queue.pop(0) if len(queue) > 1 else queue[0]
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield script, f"http://{host}:{port}/api/1.0"
    server.shutdown()
    server.server_close()


def test_retry_after_pauses_the_shared_bucket_then_retries(stub: tuple[Script, str]) -> None:
    script, api_url = stub
    workspace = {"gid": "1", "name": "Acme", "is_organization": True, "email_domains": []}
    script.replies["/api/1.0/workspaces"] = [
        (429, {"errors": [{"message": "rate limited"}]}, {"Retry-After": "1"}),
        (200, {"data": [workspace], "next_page": None}, {}),
    ]
    tap = TapAsanaTalk(config={"access_token": "t", "api_url": api_url}, parse_env_config=False)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    tap.http_session.mount("http://", RateLimitedAdapter(TokenBucket(1500, sleep=sleep), 2))

    records = list(tap.workspaces_stream.get_records(None))

    assert records == [workspace]
    assert script.seen == ["/api/1.0/workspaces", "/api/1.0/workspaces"]
    assert sum(waits) >= 0.9  # the second attempt waited out Retry-After
