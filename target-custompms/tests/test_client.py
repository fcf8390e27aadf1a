"""The Custompms client: retries with backoff honouring Retry-After, refusals, no token leaks."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from talk_sync.errors import TransientApiError
from talk_sync.ratelimit import MAX_RETRY_AFTER_SECONDS
from talk_sync.testing.scripted_http import ScriptedSession, json_response
from target_custompms.client import CustompmsClient, CustompmsError

TOKEN = "s3cret-token-value"


def client(session: ScriptedSession, sleeps: list[float], **options: Any) -> CustompmsClient:
    return CustompmsClient(
        "http://pms.test/api/v1/", TOKEN, session=session, sleep=sleeps.append, **options
    )


def test_429_waits_at_least_retry_after_then_succeeds() -> None:
    sleeps: list[float] = []
    session = ScriptedSession(
        json_response(429, headers={"Retry-After": "7"}),
        json_response(200, {"results": [{"status": "created"}]}),
    )
    results = client(session, sleeps).bulk_upsert("tasks", [{"name": "a"}])
    assert results == [{"status": "created"}]
    assert len(sleeps) == 1
    assert sleeps[0] >= 7
    method, url, kwargs = session.calls[0]
    assert (method, url, kwargs["json"]) == (
        "POST",
        "http://pms.test/api/v1/tasks/bulk",
        {"records": [{"name": "a"}]},
    )
    assert session.headers["Authorization"] == f"Bearer {TOKEN}"


def test_retry_after_is_capped() -> None:
    sleeps: list[float] = []
    slow = json_response(503, headers={"Retry-After": "86400"})
    client(ScriptedSession(slow, json_response(200, {"id": 1})), sleeps).get("tasks", 1)
    assert sleeps == [MAX_RETRY_AFTER_SECONDS]


def test_connection_errors_and_5xx_back_off_exponentially_then_give_up() -> None:
    sleeps: list[float] = []
    session = ScriptedSession(
        requests.ConnectionError(f"cannot reach http://x?token={TOKEN}"),
        json_response(500),
        json_response(502),
    )
    retries_out = "still failing after 3 attempts: HTTP 502"
    with pytest.raises(TransientApiError, match=retries_out) as error:
        client(session, sleeps, max_retries=2, backoff_factor=1.0).get("tasks", 1)
    assert TOKEN not in str(error.value)
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1 < sleeps[1] <= 2


def test_4xx_is_a_refusal_without_retry_naming_the_problem() -> None:
    sleeps: list[float] = []
    problem = {"status": 422, "detail": "The request is not valid.", "errors": [{"field": "x"}]}
    with pytest.raises(CustompmsError) as error:
        client(ScriptedSession(json_response(422, problem)), sleeps).bulk_upsert("tasks", [{}])
    assert (error.value.status, error.value.problem) == (422, problem)
    assert "422 The request is not valid." in str(error.value)
    assert sleeps == []


def test_get_of_a_missing_record_is_none() -> None:
    assert client(ScriptedSession(json_response(404, {"status": 404})), []).get("tasks", 9) is None


def test_bulk_upsert_refuses_more_than_the_contract_allows() -> None:
    with pytest.raises(ValueError, match="at most 1000"):
        client(ScriptedSession(), []).bulk_upsert("tasks", [{}] * 1001)


def test_repr_has_no_token() -> None:
    assert TOKEN not in repr(client(ScriptedSession(), []))
