"""Reading every Custompms record: ``talk-sync links rebuild``, and target-custompms's
adoption candidates (:func:`live_records`).

Its own module so that the ``talk-sync`` command, run twice by every sync job (``lock``,
``unlock``), does not import ``requests`` for a subcommand it rarely runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

from talk_sync.errors import ApiError, TokenRefusedError
from talk_sync.http_client import BearerApiClient
from talk_sync.ratelimit import retry_after_seconds

#: Retries of a Custompms call that failed transiently (connection, 429, 5xx).
RETRIES = 2
#: Records read per page (the contract's maximum).
PAGE_SIZE = 1000


def live_records(
    get_page: Callable[[str, Mapping[str, Any]], Mapping[str, Any]], resource: str
) -> Iterator[dict[str, Any]]:
    """Every live record of a Custompms ``resource``, following the contract's cursor;
    ``get_page(path, params)`` answers one ``GET`` (with the caller's retries)."""
    params: dict[str, Any] = {"limit": PAGE_SIZE}
    while True:
        page = get_page(f"/{resource}", params)
        yield from page.get("data") or []
        cursor = page.get("next_cursor")
        if not cursor:
            return
        params = {"limit": PAGE_SIZE, "cursor": cursor}


class CustompmsReadError(ApiError):
    """Custompms answered something other than a page of records."""


class CustompmsReader(BearerApiClient):
    """Reads every live record of a Custompms resource, page by page (the contract's cursor)."""

    def __init__(self, api_url: str, token: str, **options: Any) -> None:
        options.setdefault("timeout", 30.0)
        options.setdefault("user_agent", "talk-sync-links")
        options.setdefault("max_retries", RETRIES)
        options.setdefault("backoff_factor", 0.5)
        super().__init__(api_url, token, **options)

    def records(self, resource: str) -> Iterator[dict[str, Any]]:
        """Every record of ``resource`` (tombstones left out)."""
        return live_records(self._get, resource)

    def _get(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        url = f"{self.api_url}{path}"
        label = f"GET {url}"
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.session.get(url, params=params, timeout=self.timeout)
            except requests.Timeout:
                self.retry_or_raise(label, "timed out", attempt)
                continue
            except requests.ConnectionError:
                self.retry_or_raise(label, "cannot connect", attempt)
                continue
            status = response.status_code
            if status == 401:
                raise TokenRefusedError("Custompms", "custompms_api_token")
            if status == 429 or status >= 500:
                wait = retry_after_seconds(response) if status == 429 else None
                self.retry_or_raise(label, f"HTTP {status}", attempt, wait)
                continue
            if status != 200:
                raise CustompmsReadError(
                    f"Custompms answered {status} to {label}: {_problem(response)}"
                )
            try:
                page = response.json()
                if not isinstance(page, dict) or not isinstance(page.get("data"), list):
                    raise ValueError
            except ValueError:
                raise CustompmsReadError(
                    f"Custompms answered {label} with no page of records"
                ) from None
            return page


def _problem(response: requests.Response) -> str:
    try:
        problem = response.json()
        return str(problem.get("detail") or problem.get("title") or "")[:200]
    except (ValueError, AttributeError):
        return response.text[:200].replace("\n", " ")
