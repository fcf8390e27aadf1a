"""The shared token bucket: pacing, sliding-window bound and global pauses."""

from __future__ import annotations

import requests
from talk_sync.ratelimit import DEFAULT_RETRY_AFTER_SECONDS, TokenBucket, retry_after_seconds


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
