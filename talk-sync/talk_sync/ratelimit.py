"""One token bucket per access token, shared by every thread of a plugin's session.

Asana's quota is per token (150 or 1,500 requests a minute), a rejected request still
counts against it, and every action of a ``POST /batch`` counts as a request of its own.
So pacing lives at the transport: every HTTP attempt, retries included, passes through
:class:`RateLimitedAdapter` on one ``requests.Session`` and takes one token per action it
carries (:func:`asana_request_cost`). The tap (tap-asana-talk) and the target
(target-asana-talk) both pace their sessions with it, and both honour ``Retry-After``
globally: a 429 pauses every caller, not only the one refused.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timezone
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from typing_extensions import override

#: Rounding slack: without it float refills can leave 0.999... tokens forever.
_EPSILON = 1e-9

#: Pause applied when a 429 carries no usable ``Retry-After`` header.
DEFAULT_RETRY_AFTER_SECONDS = 10.0


class TokenBucket:
    """A thread-safe token bucket that never exceeds ``per_minute`` in any 60 s window.

    The burst capacity is one second's worth of requests. Any sliding minute then sees
    at most ``capacity`` plus 60 s of refill, so refilling at
    ``(per_minute - 2 * capacity) / 60`` per second stays under the quota with one
    second's worth of margin for requests that reach the server out of order. This
    matters because Asana evaluates the quota more often than once a minute, and a
    rejected request still counts.

    A request may take several tokens (the actions of a ``/batch``), at most :attr:`burst`:
    the tokens never go below zero, so the bound above holds whatever the costs. A caller
    that packs work sizes its packs to :attr:`burst` (2 at 150 a minute, 25 at 1,500).
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Create a bucket for ``per_minute`` requests, initially empty of debt."""
        if per_minute < 1:
            msg = "per_minute must be at least 1"
            raise ValueError(msg)
        self.capacity = max(1.0, per_minute / 60)
        self.rate = max(per_minute - 2 * self.capacity, 1.0) / 60
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._updated = clock()
        self._paused_until = 0.0
        #: The most tokens one :meth:`acquire` may take: the capacity, whole.
        self.burst = int(self.capacity + _EPSILON)
        #: Tokens granted so far (requests, each batch action counted).
        self.granted = 0

    def acquire(self, count: int = 1) -> None:
        """Block until ``count`` tokens may be spent (honouring any global pause).

        ``count`` is what the request costs against the quota: 1, or the number of actions
        of a ``/batch``. More than :attr:`burst` is refused: waiting for tokens the bucket
        can never hold would hang, and going into debt would break the per-minute bound.
        """
        if not 1 <= count <= self.burst:
            msg = f"a request costs at least 1 token and at most {self.burst}, not {count}"
            raise ValueError(msg)
        while True:
            with self._lock:
                now = self._clock()
                self._refill(now)
                if now < self._paused_until:
                    wait = self._paused_until - now
                elif self._tokens >= count - _EPSILON:
                    self._tokens = max(0.0, self._tokens - count)
                    self.granted += count
                    return
                else:
                    wait = (count - self._tokens) / self.rate
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (a 429 stops all workers, not just one)."""
        with self._lock:
            now = self._clock()
            self._paused_until = max(self._paused_until, now + seconds)
            self._tokens = 0.0
            self._updated = self._paused_until

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now


#: The longest wait a ``Retry-After`` may impose: a misconfigured server must not hang a
#: pipeline for hours.
MAX_RETRY_AFTER_SECONDS = 900.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (RFC 9110 delay-seconds or HTTP date).

    ``None`` when the header is absent or unreadable; capped at ``MAX_RETRY_AFTER_SECONDS``.
    """
    value = (value or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def retry_after_seconds(response: requests.Response) -> float:
    """Seconds to wait after ``response`` (a 429): its ``Retry-After``, else a default."""
    seconds = parse_retry_after(response.headers.get("Retry-After"))
    return DEFAULT_RETRY_AFTER_SECONDS if seconds is None else seconds


def asana_request_cost(request: requests.PreparedRequest) -> int:
    """What ``request`` costs against Asana's quota: one per action of a ``POST /batch``
    (Asana counts each), otherwise one."""
    if (request.method or "").upper() != "POST" or not urlsplit(request.url or "").path.endswith(
        "/batch"
    ):
        return 1
    try:
        actions = json.loads(request.body or b"")["data"]["actions"]
    except (ValueError, TypeError, KeyError):
        return 1  # Asana refuses it (400), which still costs a request
    return max(1, len(actions)) if isinstance(actions, list) else 1


class RateLimitedAdapter(HTTPAdapter):
    """Transport adapter: bounded in-flight requests, paced by a shared bucket.

    Each attempt takes what it costs (``cost``: one per ``/batch`` action by default) from
    the bucket. A 429 pauses the bucket for ``Retry-After`` seconds, so every worker waits,
    not only the one that was rejected; the stream's backoff then simply retries.
    """

    def __init__(
        self,
        bucket: TokenBucket,
        max_concurrency: int,
        cost: Callable[[requests.PreparedRequest], int] = asana_request_cost,
    ) -> None:
        """Wrap ``bucket`` and allow at most ``max_concurrency`` requests in flight."""
        super().__init__(pool_connections=4, pool_maxsize=max_concurrency, max_retries=0)
        self.bucket = bucket
        self.cost = cost
        self._slots = threading.BoundedSemaphore(max_concurrency)

    @override
    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        with self._slots:
            self.bucket.acquire(self.cost(request))
            response = super().send(
                request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
            )
            if not stream:
                # Read the body now: its connection goes back to the pool before the slot is
                # freed, so no more connections are open than slots (else urllib3 drops the
                # extra ones with a "Connection pool is full" warning, and reconnects).
                _ = response.content
        if response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
            self.bucket.pause(retry_after_seconds(response))
        return response


def rate_limited_session(per_minute: int, max_concurrency: int) -> requests.Session:
    """A session whose every request goes through one shared bucket."""
    session = requests.Session()
    adapter = RateLimitedAdapter(TokenBucket(per_minute), max_concurrency)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
