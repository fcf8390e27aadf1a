"""Rate limits, concurrency limits, injected faults and the counters behind /_sandbox/stats."""

from __future__ import annotations

import math
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from asana_sandbox.errors import ApiError

RATE_LIMITED = (
    "You've made too many requests and hit a rate limit. Please retry after the given amount "
    "of time."
)
CONCURRENCY_LIMITED = (
    "You have too many concurrent requests in flight. Please wait for some to finish and retry."
)
WINDOW_SECONDS = 60.0


@dataclass
class Quota:
    """A sliding one-minute request quota per token; rejected calls count, as at Asana."""

    per_minute: int | None
    calls: dict[str, deque[float]] = field(default_factory=dict)

    def charge(self, token: str, cost: int = 1) -> None:
        """Count ``cost`` calls for a token; raise 429 with Retry-After when over quota."""
        if self.per_minute is None:
            return
        now = time.monotonic()
        window = self.calls.setdefault(token, deque())
        while window and now - window[0] >= WINDOW_SECONDS:
            window.popleft()
        over = len(window) + cost > self.per_minute
        window.extend([now] * cost)
        if over:
            # The wait until enough old calls leave the window for one more to fit.
            blocking = min(len(window) - self.per_minute + cost - 1, len(window) - 1)
            oldest_blocking = window[blocking]
            wait = max(1, math.ceil(WINDOW_SECONDS - (now - oldest_blocking)))
            raise ApiError(429, RATE_LIMITED, headers={"Retry-After": str(wait)})


@dataclass
class Concurrency:
    """Concurrent read and write limits per token (Asana: 50 reads, 15 writes)."""

    max_reads: int = 50
    max_writes: int = 15
    in_flight: Counter[tuple[str, str]] = field(default_factory=Counter)

    def acquire(self, token: str, reads: int, writes: int) -> None:
        """Take slots or raise 429 (nothing taken) when a limit would be exceeded."""
        if (
            self.in_flight[(token, "read")] + reads > self.max_reads
            or self.in_flight[(token, "write")] + writes > self.max_writes
        ):
            raise ApiError(429, CONCURRENCY_LIMITED, headers={"Retry-After": "1"})
        self.in_flight[(token, "read")] += reads
        self.in_flight[(token, "write")] += writes

    def release(self, token: str, reads: int, writes: int) -> None:
        """Give slots back."""
        self.in_flight[(token, "read")] -= reads
        self.in_flight[(token, "write")] -= writes


FAULT_KINDS = ("500", "503", "slow", "drop")
AFTER_WRITE_FAULT_KINDS = ("500", "503", "drop")


@dataclass
class Faults:
    """Injects failures on a fraction of API calls: 500, 503, slow responses, dropped links.

    ``after_write_rate`` is separate: a write that was applied answers 500, 503 or a dropped
    connection anyway, as a live server may after committing. It draws from its own generator
    so switching it on does not change which calls ``rate`` hits.
    """

    rate: float = 0.0
    slow_seconds: float = 3.0
    rng: random.Random = field(default_factory=random.Random)
    after_write_rate: float = 0.0
    after_write_rng: random.Random = field(default_factory=random.Random)

    def draw(self) -> str | None:
        """The fault to inject into this call, if any."""
        if self.rate <= 0 or self.rng.random() >= self.rate:
            return None
        return self.rng.choice(FAULT_KINDS)

    def draw_after_write(self) -> str | None:
        """The fault to answer an applied write with, if any."""
        if self.after_write_rate <= 0 or self.after_write_rng.random() >= self.after_write_rate:
            return None
        return self.after_write_rng.choice(AFTER_WRITE_FAULT_KINDS)


@dataclass
class Stats:
    """What the sandbox served since start or the last reset."""

    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    concurrency_limited: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    after_write_faults: Counter[str] = field(default_factory=Counter)
    writes: int = 0
    batch_actions: int = 0
    #: What the calls cost against the quota (a batch: its actions), refused ones included.
    quota_charged: int = 0
    #: Batches with two writes to one record (live, they would run at once in any order).
    batch_same_record_writes: int = 0
    unknown_opt_fields: Counter[str] = field(default_factory=Counter)
    events_dropped: int = 0
    offsets_expired: int = 0
    large_domain_timeouts: int = 0
    started: float = field(default_factory=time.time)

    def count_request(self, method: str, route: str) -> None:
        """Count one API call (a batch action counts as its own call)."""
        self.requests[f"{method.upper()} {route}"] += 1

    def count_status(self, status: int) -> None:
        """Count an answered status."""
        self.statuses[str(status)] += 1

    def snapshot(self) -> dict[str, Any]:
        """The JSON /_sandbox/stats returns."""
        return {
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "requests_total": sum(self.requests.values()),
            "requests": dict(sorted(self.requests.items())),
            "statuses": dict(sorted(self.statuses.items())),
            "rate_limited": self.rate_limited,
            "concurrency_limited": self.concurrency_limited,
            "faults": {kind: self.faults.get(kind, 0) for kind in FAULT_KINDS},
            "faults_total": sum(self.faults.values()),
            "after_write_faults": {
                kind: self.after_write_faults.get(kind, 0) for kind in AFTER_WRITE_FAULT_KINDS
            },
            "after_write_faults_total": sum(self.after_write_faults.values()),
            "writes": self.writes,
            "batch_actions": self.batch_actions,
            "quota_charged": self.quota_charged,
            "batch_same_record_writes": self.batch_same_record_writes,
            "unknown_opt_fields": dict(sorted(self.unknown_opt_fields.items())),
            "events_dropped": self.events_dropped,
            "offsets_expired": self.offsets_expired,
            "large_domain_timeouts": self.large_domain_timeouts,
        }
