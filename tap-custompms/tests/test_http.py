"""HTTP behaviour against a scripted stub: requests sent, retries, backoff and error messages."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
import typing as t
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest
from singer_sdk.exceptions import FatalAPIError
from tap_custompms.testing import STUB_TOKEN, Reply, StubApi, customer, run_tap

if t.TYPE_CHECKING:
    from custompms.testing import CustompmsServer

LAST_PAGE_EMPTY = {"data": [], "next_cursor": None}


def stub_config(stub: StubApi, **overrides: t.Any) -> dict[str, t.Any]:
    return {"api_url": stub.api_url, "api_token": STUB_TOKEN, **overrides}


def problem(status: int, title: str, **extra: t.Any) -> dict[str, t.Any]:
    return {"type": "about:blank", "title": title, "status": status, **extra}


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record backoff waits instead of sleeping through them."""
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    return waits


def test_walks_cursor_pages_with_filters_and_headers(stub_api: StubApi) -> None:
    stub_api.script(
        "customers",
        Reply(body={"data": [customer(1, "2026-02-01T00:00:00.000001Z")], "next_cursor": "c-2"}),
        Reply(body={"data": [customer(2, "2026-02-01T00:00:00.000002Z")], "next_cursor": None}),
    )

    run = run_tap(
        stub_config(
            stub_api, page_size=1, start_date="2026-01-31T12:00:00+02:00", user_agent="sync/1.0"
        )
    )

    assert [r["id"] for r in run.records("customers")] == [1, 2]
    first, second = stub_api.requests_for("customers")
    assert first.query == {
        "limit": "1",
        "include_deleted": "true",
        "updated_since": "2026-01-31T10:00:00.000000Z",
    }
    assert second.query == {**first.query, "cursor": "c-2"}
    assert first.headers["Authorization"] == f"Bearer {STUB_TOKEN}"
    assert first.headers["User-Agent"] == "sync/1.0"
    assert run.state["bookmarks"]["customers"] == {
        "replication_key": "updated_at",
        "replication_key_value": "2026-02-01T00:00:00.000002Z",
    }


@pytest.mark.parametrize(
    ("retry_after", "least", "most"),
    [
        pytest.param(lambda: "7", 7, 8, id="delay-seconds"),
        # An HTTP date has whole-second precision and the clock moves on meanwhile. It is
        # made when the test runs, not when it is collected (minutes earlier in a full run).
        pytest.param(
            lambda: format_datetime(
                datetime.now(timezone.utc) + timedelta(seconds=120), usegmt=True
            ),
            100,
            121,
            id="http-date",
        ),
    ],
)
def test_retry_after_is_honoured_on_429(
    stub_api: StubApi,
    sleeps: list[float],
    retry_after: t.Callable[[], str],
    least: float,
    most: float,
) -> None:
    stub_api.script(
        "customers",
        Reply(429, problem(429, "Too Many Requests"), headers={"Retry-After": retry_after()}),
        Reply(body={"data": [customer(1, "2026-02-01T00:00:00.000001Z")], "next_cursor": None}),
    )

    run = run_tap(stub_config(stub_api))

    assert [r["id"] for r in run.records("customers")] == [1]
    assert len(stub_api.requests_for("customers")) == 2
    # The wait is at least what the server asked for (the SDK adds under a second of jitter).
    assert len(sleeps) == 1
    assert least <= sleeps[0] < most


def test_server_errors_back_off_exponentially_then_succeed(
    stub_api: StubApi, sleeps: list[float]
) -> None:
    stub_api.script(
        "customers",
        Reply(503, problem(503, "Unavailable")),
        Reply(500, problem(500, "Internal Server Error")),
        Reply(body={"data": [customer(1, "2026-02-01T00:00:00.000001Z")], "next_cursor": None}),
    )

    run = run_tap(stub_config(stub_api))

    assert [r["id"] for r in run.records("customers")] == [1]
    assert len(sleeps) == 2
    assert sleeps[0] < sleeps[1]  # no Retry-After: exponential waits


def test_timed_out_request_is_retried(stub_api: StubApi, sleeps: list[float]) -> None:
    never = threading.Event()
    stub_api.script(
        "customers",
        Reply(body=LAST_PAGE_EMPTY, wait_for=never),
        Reply(body={"data": [customer(1, "2026-02-01T00:00:00.000001Z")], "next_cursor": None}),
    )
    try:
        run = run_tap(stub_config(stub_api, request_timeout=1))
    finally:
        never.set()

    assert [r["id"] for r in run.records("customers")] == [1]
    assert len(sleeps) == 1


def test_forbidden_is_a_clear_fatal_error(stub_api: StubApi) -> None:
    stub_api.script("customers", Reply(403, problem(403, "Forbidden")))

    with pytest.raises(FatalAPIError, match=r"may not read customers \(403 Forbidden\)") as err:
        run_tap(stub_config(stub_api))

    assert STUB_TOKEN not in str(err.value)


def test_other_client_errors_name_what_the_server_blamed(stub_api: StubApi) -> None:
    stub_api.script(
        "customers",
        Reply(
            422,
            problem(
                422,
                "Invalid request",
                errors=[
                    {
                        "field": None,
                        "header": None,
                        "parameter": "updated_since",
                        "message": "not an RFC 3339 timestamp",
                    }
                ],
            ),
        ),
    )

    with pytest.raises(FatalAPIError) as err:
        run_tap(stub_config(stub_api))

    message = str(err.value)
    assert "422" in message
    assert "GET /api/v1/customers" in message
    assert "parameter updated_since: not an RFC 3339 timestamp" in message
    assert STUB_TOKEN not in message


def test_rejected_token_fails_the_cli_clearly_without_leaking_it(
    stub_api: StubApi, tmp_path: Path
) -> None:
    stub_api.script(
        "customers",
        Reply(401, problem(401, "Unauthorized", detail="Missing or invalid bearer token.")),
    )
    config = tmp_path / "config.json"
    config.write_text(f'{{"api_url": "{stub_api.api_url}", "api_token": "{STUB_TOKEN}"}}')
    tap = Path(sys.executable).with_name("tap-custompms")

    result = subprocess.run(
        [str(tap), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    assert "rejected the api_token (401 Unauthorized)" in result.stderr
    assert "check the `api_token` setting" in result.stderr
    assert STUB_TOKEN not in result.stdout + result.stderr


def test_wrong_token_against_the_reference_server(
    custompms_server: CustompmsServer, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-the-right-token-7c1d"

    # Checked at start: one line naming the setting, before any stream is read.
    with pytest.raises(SystemExit) as stopped:
        run_tap({"api_url": custompms_server.api_url, "api_token": wrong})

    assert stopped.value.code == 1
    (error,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "refused the api token (401)" in error
    assert "check the api_token setting" in error
    assert wrong not in caplog.text
