"""The Asana client: pacing and Retry-After, retries of what is safe, lost creates, /batch."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from talk_sync.errors import TransientApiError
from talk_sync.ratelimit import RateLimitedAdapter, TokenBucket
from talk_sync.testing.scripted_http import ScriptedSession, json_response
from target_asana_talk.client import AsanaClient, AsanaError, Call, LostAnswerError

TOKEN = "s3cret-asana-token"


def client(session: ScriptedSession, sleeps: list[float] | None = None) -> AsanaClient:
    return AsanaClient(
        "http://asana.test/api/1.0/",
        TOKEN,
        session=session,
        sleep=(sleeps if sleeps is not None else []).append,
        max_retries=2,
    )


def test_the_token_is_a_bearer_header_and_never_in_repr_or_errors() -> None:
    session = ScriptedSession(json_response(400, {"errors": [{"message": "name: Missing input"}]}))
    asana = client(session)
    with pytest.raises(AsanaError) as refused:
        asana.request(Call("put", "/tasks/1", {"name": ""}))
    assert session.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in repr(asana)
    assert TOKEN not in str(refused.value)
    assert str(refused.value) == "400 name: Missing input"


class ScriptedTransport(HTTPAdapter):
    """The network below the rate-limited adapter: scripted answers."""

    answers: list[requests.Response]

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        answer = self.answers.pop(0)
        answer.request = request
        return answer


class PacedScriptedAdapter(RateLimitedAdapter, ScriptedTransport):
    """The shared bucket's adapter over the scripted network."""

    def __init__(self, bucket: TokenBucket, answers: list[requests.Response]) -> None:
        super().__init__(bucket, 1)
        self.answers = answers


def test_a_429_pauses_the_shared_bucket_for_retry_after_then_the_call_is_retried() -> None:
    now, waits = [0.0], []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(1500, clock=lambda: now[0], sleep=sleep)
    session = requests.Session()
    answers = [
        json_response(429, headers={"Retry-After": "30"}),
        json_response(200, {"data": {"gid": "1"}}),
    ]
    session.mount("http://", PacedScriptedAdapter(bucket, answers))
    asana = AsanaClient("http://asana.test/api/1.0", TOKEN, session=session, sleep=sleep)
    assert asana.get("/tasks/1") == {"gid": "1"}
    assert now[0] >= 30  # the retry went out only after Retry-After
    assert bucket.granted == 2


def test_safe_calls_are_retried_on_5xx_and_dropped_connections() -> None:
    sleeps: list[float] = []
    session = ScriptedSession(
        json_response(500, {"errors": [{"message": "Server Error", "phrase": "6 sad squid"}]}),
        requests.exceptions.ChunkedEncodingError("dropped"),
        json_response(200, {"data": {"gid": "7", "name": "ok"}}),
    )
    assert client(session, sleeps).request(Call("put", "/tasks/7", {"name": "ok"})) == {
        "gid": "7",
        "name": "ok",
    }
    assert len(session.calls) == 3
    assert len(sleeps) == 2


def test_a_create_whose_answer_is_lost_is_never_resent() -> None:
    session = ScriptedSession(requests.ConnectionError("reset"), json_response(201, {"data": {}}))
    with pytest.raises(LostAnswerError):
        client(session).request(Call("post", "/tasks", {"name": "New"}))
    assert len(session.calls) == 1
    session = ScriptedSession(json_response(500, {"errors": [{"message": "boom"}]}))
    with pytest.raises(LostAnswerError):
        client(session).request(Call("post", "/tasks", {"name": "New"}))


def test_a_create_rate_limited_before_it_ran_is_resent() -> None:
    session = ScriptedSession(json_response(429), json_response(201, {"data": {"gid": "9"}}))
    assert client(session).request(Call("post", "/tasks", {"name": "New"})) == {"gid": "9"}
    assert len(session.calls) == 2


def test_a_create_answered_503_may_have_run_and_is_never_resent_blindly() -> None:
    # Live, a 5xx can come after the write ran: the caller looks the record up first.
    session = ScriptedSession(json_response(503), json_response(201, {"data": {"gid": "9"}}))
    with pytest.raises(LostAnswerError, match="POST /tasks: 503"):
        client(session).request(Call("post", "/tasks", {"name": "New"}))
    assert len(session.calls) == 1


def test_transient_failures_that_outlast_the_retries_raise() -> None:
    session = ScriptedSession(*[json_response(502) for _ in range(3)])
    with pytest.raises(TransientApiError, match="still failing after 3 attempts"):
        client(session).request(Call("get", "/tasks/1"))


def test_call_many_packs_ten_actions_per_batch_and_answers_each() -> None:
    calls = [Call("get", f"/tasks/{n}", params={"opt_fields": "name"}) for n in range(12)]
    first = [{"status_code": 200, "body": {"data": {"gid": str(n)}}} for n in range(9)]
    first.append({"status_code": 404, "body": {"errors": [{"message": "task: Unknown object"}]}})
    session = ScriptedSession(
        json_response(200, {"data": first}),
        json_response(200, {"data": [{"status_code": 200, "body": {"data": {"gid": "10"}}}] * 2}),
    )
    replies = client(session).call_many(calls)
    assert [r.status for r in replies] == [200] * 9 + [404, 200, 200]
    assert (replies[9].message, replies[9].field) == ("task: Unknown object", "task")
    actions = session.calls[0][2]["json"]["data"]["actions"]
    assert len(actions) == 10
    assert actions[0] == {
        "relative_path": "/tasks/0",
        "method": "get",
        "options": {"fields": ["name"]},
    }


def test_a_batch_of_creates_whose_answer_is_lost_answers_each_as_lost() -> None:
    session = ScriptedSession(requests.Timeout("slow"))
    replies = client(session).call_many(
        [Call("post", "/tasks", {"name": "a"}), Call("post", "/tasks", {"name": "b"})]
    )
    assert [r.lost for r in replies] == [True, True]
    assert len(session.calls) == 1


class AnsweringTransport(HTTPAdapter):
    """The network below the rate-limited adapter: a 200 for every call and batch action,
    after the scripted ``refusals`` (429s); notes when each request went out and its size."""

    clock: list[float]
    refusals: int
    sent: list[tuple[float, int]]

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        body = json.loads(request.body or b"{}")
        actions = (body.get("data") or {}).get("actions")
        self.sent.append((self.clock[0], len(actions) if actions else 1))
        if self.refusals:
            self.refusals -= 1
            answer = json_response(429, headers={"Retry-After": "1"})
        elif actions:
            answer = json_response(
                200, {"data": [{"status_code": 200, "body": {"data": {}}} for _ in actions]}
            )
        else:
            answer = json_response(200, {"data": {}})
        answer.request = request
        return answer


class PacedAnsweringAdapter(RateLimitedAdapter, AnsweringTransport):
    """The shared bucket's adapter over the answering network."""

    def __init__(self, bucket: TokenBucket, clock: list[float], refusals: int = 0) -> None:
        super().__init__(bucket, 1)
        self.clock, self.refusals, self.sent = clock, refusals, []


def paced_client(per_minute: int, refusals: int = 0) -> tuple[AsanaClient, PacedAnsweringAdapter]:
    """A client over the real bucket and adapter, on a clock that moves only when it sleeps."""
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    bucket = TokenBucket(per_minute, clock=lambda: clock[0], sleep=sleep)
    adapter = PacedAnsweringAdapter(bucket, clock, refusals)
    session = requests.Session()
    session.mount("http://", adapter)
    return AsanaClient("http://asana.test/api/1.0", TOKEN, session=session, sleep=sleep), adapter


def test_at_150_a_minute_no_minute_carries_more_than_150_batch_actions() -> None:
    # Asana counts every action of a /batch against the quota, not the HTTP request.
    asana, network = paced_client(150)
    calls = [Call("get", f"/tasks/{n}", params={"opt_fields": "name"}) for n in range(400)]
    assert all(reply.ok for reply in asana.call_many(calls))
    busiest = 0
    for at, _size in network.sent:
        busiest = max(busiest, sum(size for t, size in network.sent if at <= t < at + 60))
    assert busiest <= 150
    assert sum(size for _at, size in network.sent) == asana.actions_sent == 400
    minutes = network.sent[-1][0] / 60
    assert 400 / (minutes + 1 / 60) >= 0.9 * 150  # and the quota is used, not wasted


def test_a_batch_sent_again_after_a_429_counts_its_actions_again() -> None:
    asana, network = paced_client(1500, refusals=1)
    calls = [Call("get", f"/tasks/{n}") for n in range(10)]
    assert all(reply.ok for reply in asana.call_many(calls))
    assert [size for _at, size in network.sent] == [10, 10]
    assert network.bucket.granted == 20
    assert (asana.actions_sent, asana.requests_sent) == (20, 2)
