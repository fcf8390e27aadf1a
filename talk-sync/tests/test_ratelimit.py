"""The shared token bucket: pacing, sliding-window bound and global pauses."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from requests.adapters import HTTPAdapter
from talk_sync import ratelimit
from talk_sync.ratelimit import (
    DEFAULT_RETRY_AFTER_SECONDS,
    RateLimitedAdapter,
    TokenBucket,
    rate_limited_session,
    retry_after_seconds,
)
from talk_sync.testing.failing_servers import answering


class FakeClock:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def grant_times(bucket: TokenBucket, clock: FakeClock, count: int) -> list[float]:
    times = []
    for _ in range(count):
        bucket.acquire()
        times.append(clock.now)
    return times


def test_no_sliding_minute_exceeds_the_quota() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1500, clock=clock, sleep=clock.sleep)
    times = grant_times(bucket, clock, 4000)
    start = 0
    for end, at in enumerate(times):
        while at - times[start] >= 60:
            start += 1
        assert end - start + 1 <= 1500


def test_sustained_rate_is_close_to_the_quota() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1500, clock=clock, sleep=clock.sleep)
    times = grant_times(bucket, clock, 3000)
    per_minute = (len(times) - 1) / (times[-1] - times[0]) * 60
    assert 0.95 * 1500 <= per_minute <= 1500


def test_a_pause_holds_every_caller_until_it_ends() -> None:
    clock = FakeClock()
    bucket = TokenBucket(150, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    bucket.pause(30)
    bucket.acquire()
    assert clock.now >= 30


def test_retry_after_header_forms() -> None:
    def response(value: str | None) -> requests.Response:
        resp = requests.Response()
        resp.status_code = 429
        if value is not None:
            resp.headers["Retry-After"] = value
        return resp

    assert retry_after_seconds(response("7")) == 7
    assert retry_after_seconds(response(None)) == DEFAULT_RETRY_AFTER_SECONDS
    assert retry_after_seconds(response("Wed, 21 Oct 2015 07:28:00 GMT")) == 0
    assert retry_after_seconds(response("soon")) == DEFAULT_RETRY_AFTER_SECONDS


def grant_counts(
    bucket: TokenBucket, clock: FakeClock, costs: list[int]
) -> list[tuple[float, int]]:
    grants = []
    for cost in costs:
        bucket.acquire(cost)
        grants.append((clock.now, cost))
    return grants


def busiest_minute(grants: list[tuple[float, int]]) -> int:
    """The most tokens granted in any sliding 60 s window."""
    busiest, start, inside = 0, 0, 0
    for at, cost in grants:
        inside += cost
        while at - grants[start][0] >= 60:
            inside -= grants[start][1]
            start += 1
        busiest = max(busiest, inside)
    return busiest


def test_acquire_takes_one_token_per_action_and_no_minute_exceeds_the_quota() -> None:
    # 150/min (a free domain): a /batch of its largest size costs as many tokens as actions.
    clock = FakeClock()
    bucket = TokenBucket(150, clock=clock, sleep=clock.sleep)
    assert bucket.burst == 2  # one second's worth, whole
    grants = grant_counts(bucket, clock, [bucket.burst, 1] * 200)
    assert bucket.granted == 600
    assert busiest_minute(grants) <= 150
    first, last = grants[0][0], grants[-1][0]
    assert 0.95 * 150 <= (600 - grants[0][1]) / (last - first) * 60 <= 150


def test_a_cost_above_the_burst_is_refused_rather_than_overrunning_the_quota() -> None:
    bucket = TokenBucket(150)
    with pytest.raises(ValueError, match="at most 2"):
        bucket.acquire(3)
    with pytest.raises(ValueError, match="at least 1"):
        bucket.acquire(0)


def prepared(method: str, url: str, body: object = None) -> requests.PreparedRequest:
    return requests.Request(method, url, json=body).prepare()


@pytest.mark.parametrize(
    ("method", "url", "body", "cost"),
    [
        ("GET", "https://app.asana.com/api/1.0/tasks/1", None, 1),
        ("PUT", "https://app.asana.com/api/1.0/tasks/1", {"data": {"name": "x"}}, 1),
        (
            "POST",
            "https://app.asana.com/api/1.0/batch",
            {"data": {"actions": [{"relative_path": "/tasks/1", "method": "get"}] * 7}},
            7,
        ),
        ("POST", "https://app.asana.com/api/1.0/batch?opt_pretty", {"data": {"actions": []}}, 1),
        ("POST", "https://app.asana.com/api/1.0/tasks", {"data": {"name": "batch"}}, 1),
    ],
)
def test_every_action_of_a_batch_is_counted_at_the_transport(
    method: str, url: str, body: object, cost: int
) -> None:
    assert ratelimit.asana_request_cost(prepared(method, url, body)) == cost


def test_the_adapter_takes_a_batch_s_actions_from_the_bucket_on_every_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answer = requests.Response()
    answer.status_code = 200
    monkeypatch.setattr(HTTPAdapter, "send", lambda self, request, **kwargs: answer)
    clock = FakeClock()
    adapter = RateLimitedAdapter(TokenBucket(1500, clock=clock, sleep=clock.sleep), 1)
    batch = {"data": {"actions": [{"relative_path": "/users/me", "method": "get"}] * 10}}
    for _attempt in range(2):  # a retry is sent again, and counted again
        adapter.send(prepared("POST", "https://app.asana.com/api/1.0/batch", batch))
    adapter.send(prepared("GET", "https://app.asana.com/api/1.0/users/me"))
    assert adapter.bucket.granted == 21


def test_a_connection_is_back_in_the_pool_before_its_slot_is_freed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Many threads through a session of two slots open at most two connections: none is
    dropped with urllib3's "Connection pool is full" warning (a tap's logs showed it)."""
    session = rate_limited_session(per_minute=1_000_000, max_concurrency=2)
    with answering(200, {"data": ["x" * 2000]}) as url, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _n: session.get(url, timeout=10).json(), range(64)))
    assert len(answers) == 64
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]
