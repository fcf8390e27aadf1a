"""CustompmsClient: the few Custompms API calls the target makes, with retries.

Bulk upsert (``POST /api/v1/<resource>/bulk``, up to 1,000 items per call) carries every
create and update; ``GET /api/v1/<resource>/{id}`` fetches a current record, and
``GET /api/v1/<resource>`` lists them all (the records a first sync may adopt). Requests that
fail transiently (connection errors, 429, 5xx) are retried with exponential backoff, waiting
at least as long as the server's ``Retry-After`` asks. The token is sent only in the
``Authorization`` header and never appears in a log line or an error message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import requests
from talk_sync.custompms_reader import live_records
from talk_sync.errors import ApiError, TokenRefusedError
from talk_sync.http_client import BearerApiClient
from talk_sync.ratelimit import parse_retry_after

logger = logging.getLogger(__name__)

#: The contract's largest bulk upsert.
MAX_BULK_ITEMS = 1000


def _retriable(status: int) -> bool:
    """429 and 5xx are worth retrying; other 4xx are refusals."""
    return status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR


class CustompmsError(ApiError):
    """A request Custompms refused (4xx), with its problem body; never carries the token."""

    def __init__(self, message: str, status: int | None = None, problem: Any = None) -> None:
        super().__init__(message, status)
        self.problem = problem if isinstance(problem, dict) else {}


class CustompmsClient(BearerApiClient):
    """A Bearer-token client for the Custompms API at ``api_url`` (``.../api/v1``)."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        timeout: float = 300,
        user_agent: str = "target-custompms",
        **options: Any,
    ) -> None:
        super().__init__(api_url, token, timeout=timeout, user_agent=user_agent, **options)

    # --- calls -------------------------------------------------------------------------------

    def bulk_upsert(self, resource: str, items: Sequence[Mapping[str, Any]]) -> list[dict]:
        """Upsert ``items`` (at most :data:`MAX_BULK_ITEMS`); the per-item results, in order."""
        if len(items) > MAX_BULK_ITEMS:
            raise ValueError(f"at most {MAX_BULK_ITEMS} items per bulk upsert, got {len(items)}")
        body = self.request("POST", f"/{resource}/bulk", json={"records": list(items)})
        return list(body["results"])

    def list(self, resource: str) -> list[dict[str, Any]]:
        """Every live record of ``resource`` (the contract's cursor pages, 1,000 at a time)."""
        return list(
            live_records(lambda path, params: self.request("GET", path, params=params), resource)
        )

    def get(self, resource: str, record_id: int | str) -> dict[str, Any] | None:
        """One record (tombstones included); ``None`` when there is none."""
        try:
            record: dict[str, Any] = self.request("GET", f"/{resource}/{record_id}")
        except CustompmsError as error:
            if error.status == HTTPStatus.NOT_FOUND:
                return None
            raise
        return record

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
                if response.status_code == HTTPStatus.UNAUTHORIZED:
                    raise TokenRefusedError("Custompms", "api_token")
                if not _retriable(response.status_code):
                    raise _refused(method, path, response)
                failure = f"HTTP {response.status_code}"
                wait = parse_retry_after(response.headers.get("Retry-After"))
            self.retry_or_raise(f"{method} {path}", failure, attempt, wait)
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
