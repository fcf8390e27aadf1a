"""CustompmsClient: the few Custompms API calls the target makes, with retries.

Bulk upsert (``POST /api/v1/<resource>/bulk``, up to 1,000 items per call) carries every
create and update; ``GET /api/v1/<resource>/{id}`` fetches a current record. Requests that
fail transiently (connection errors, 429, 5xx) are retried with exponential backoff, waiting
at least as long as the server's ``Retry-After`` asks. The token is sent only in the
``Authorization`` header and never appears in a log line or an error message.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import requests
from talk_sync.ratelimit import parse_retry_after

logger = logging.getLogger(__name__)

#: The contract's largest bulk upsert.
MAX_BULK_ITEMS = 1000


def _retriable(status: int) -> bool:
    """429 and 5xx are worth retrying; other 4xx are refusals."""
    return status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR


class CustompmsError(RuntimeError):
    """A request Custompms refused (4xx) or that kept failing; never carries the token."""

    def __init__(self, message: str, status: int | None = None, problem: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem if isinstance(problem, dict) else {}


class TransientError(CustompmsError):
    """Still failing after every retry (connection error, 429 or 5xx)."""


class CustompmsClient:
    """A Bearer-token client for the Custompms API at ``api_url`` (``.../api/v1``)."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        timeout: float = 300,
        max_retries: int = 5,
        backoff_factor: float = 1.0,
        user_agent: str = "target-custompms",
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_factor = backoff_factor
        self.session = session or requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "User-Agent": user_agent})
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"CustompmsClient({self.api_url!r})"  # no token

    def close(self) -> None:
        """Release the HTTP connections."""
        self.session.close()

    # --- calls -------------------------------------------------------------------------------

    def bulk_upsert(self, resource: str, items: Sequence[Mapping[str, Any]]) -> list[dict]:
        """Upsert ``items`` (at most :data:`MAX_BULK_ITEMS`); the per-item results, in order."""
        if len(items) > MAX_BULK_ITEMS:
            raise ValueError(f"at most {MAX_BULK_ITEMS} items per bulk upsert, got {len(items)}")
        body = self.request("POST", f"/{resource}/bulk", json={"records": list(items)})
        return list(body["results"])

    def get(self, resource: str, record_id: int | str) -> dict[str, Any] | None:
        """One record (tombstones included); ``None`` when there is none."""
        try:
            return self.request("GET", f"/{resource}/{record_id}")
        except CustompmsError as error:
            if error.status == HTTPStatus.NOT_FOUND:
                return None
            raise

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request, retrying transient failures; the decoded JSON body."""
        url = f"{self.api_url}{path}"
        for attempt in range(1, self.max_retries + 2):
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as error:
                failure, wait = f"{type(error).__name__}", None
            else:
                if response.status_code < HTTPStatus.BAD_REQUEST:
                    return response.json()
                if not _retriable(response.status_code):
                    raise _refused(method, path, response)
                failure = f"HTTP {response.status_code}"
                wait = parse_retry_after(response.headers.get("Retry-After"))
            if attempt > self.max_retries:
                raise TransientError(
                    f"{method} {path} still failing after {attempt} attempts: {failure}"
                )
            delay = max(
                wait or 0.0, self.backoff_factor * 2 ** (attempt - 1) * random.uniform(0.5, 1)
            )
            logger.info("%s %s: %s; retry %d in %.1fs", method, path, failure, attempt, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


def _refused(method: str, path: str, response: requests.Response) -> CustompmsError:
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    detail = problem.get("detail") or problem.get("title") or response.reason
    return CustompmsError(
        f"{method} {path}: {response.status_code} {detail}", response.status_code, problem
    )
