"""REST client base for Asana streams: auth, paging, errors, retries and pacing."""

from __future__ import annotations

import random
from collections.abc import Generator, Iterator, Sequence
from functools import cached_property, partial
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, urlparse

import requests
from singer_sdk import RESTStream
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.pagination import BaseAPIPaginator, JSONPathPaginator
from talk_sync import asana_api
from talk_sync.errors import TokenRefusedError
from typing_extensions import override

from tap_asana_talk.schemas import OWN_FIELDS

if TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk.helpers.types import Context

    from tap_asana_talk.tap import TapAsanaTalk

#: Longest wait between two attempts at one request, in seconds.
MAX_BACKOFF_SECONDS = 30.0


class ResourceUnavailableError(FatalAPIError):
    """403 or 404: the token cannot see this resource."""

    def __init__(self, message: str, status: int) -> None:
        """Keep the status so callers can tell "gone" (404) from "forbidden"."""
        super().__init__(message)
        self.status = status


class OffsetExpiredError(FatalAPIError):
    """400 for a request that carried a pagination ``offset``: Asana's offsets "expire after
    some time, as data may have changed", and the listing must start again."""


#: Listings restarted after an expired offset before the run gives up on one.
MAX_LISTING_RESTARTS = 5


class SyncTokenExpiredError(FatalAPIError):
    """412 from ``/events``: the sync token is missing or too old; ``sync`` is a fresh one."""

    def __init__(self, message: str, sync: str | None) -> None:
        """Keep the fresh sync token Asana hands back with the 412."""
        super().__init__(message)
        self.sync = sync


class AsanaStream(RESTStream):
    """Base stream: Bearer auth, ``next_page.offset`` paging, shared rate-limited session.

    Besides the SDK's own ``request_records`` loop, :meth:`get_json` and
    :meth:`paginate` fetch arbitrary paths through the same decorated request (auth,
    ``validate_response``, backoff), so worker threads reuse one retry policy.
    """

    records_jsonpath = "$.data[*]"
    next_page_token_jsonpath = asana_api.NEXT_PAGE_OFFSET_JSONPATH
    extra_retry_statuses: Sequence[int] = (HTTPStatus.TOO_MANY_REQUESTS,)
    primary_keys: ClassVar[list[str]] = ["gid"]

    _tap: TapAsanaTalk

    @override
    @property
    def url_base(self) -> str:
        return str(self.config["api_url"]).rstrip("/")

    @override
    @property
    def authenticator(self) -> BearerTokenAuthenticator:
        return BearerTokenAuthenticator(token=self.config["access_token"])

    @override
    @property
    def requests_session(self) -> requests.Session:
        # One session for the whole tap: its adapter holds the single token bucket.
        return self._tap.http_session

    @override
    @property
    def http_headers(self) -> dict[str, str]:
        return {"Accept": "application/json", "User-Agent": self.user_agent}

    @override
    @property
    def timeout(self) -> int:
        return int(self.config.get("request_timeout", 60))

    @cached_property
    def opt_fields(self) -> str:
        """Exactly the fields this stream's schema emits."""
        return asana_api.opt_fields(self.schema, own_fields=OWN_FIELDS)

    @override
    def get_new_paginator(self) -> BaseAPIPaginator:
        return JSONPathPaginator(self.next_page_token_jsonpath)

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: Any | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": asana_api.PAGE_SIZE, "opt_fields": self.opt_fields}
        if next_page_token:
            params["offset"] = next_page_token
        return params

    # Errors and retries

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status in self.extra_retry_statuses or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(self.response_error_message(response), response)
        if status == HTTPStatus.PRECONDITION_FAILED:
            sync = _json_or_empty(response).get("sync")
            raise SyncTokenExpiredError(self.response_error_message(response), sync)
        if status == HTTPStatus.UNAUTHORIZED:
            raise TokenRefusedError("Asana", "access_token")
        if status in {HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND}:
            raise ResourceUnavailableError(self.response_error_message(response), status)
        if status == HTTPStatus.BAD_REQUEST and "offset" in _query(response):
            # The live wording of an expired offset is not documented: any 400 on a request
            # that carries one (the only offsets sent are those Asana handed out) restarts.
            raise OffsetExpiredError(self.response_error_message(response))
        if status >= HTTPStatus.BAD_REQUEST:
            raise FatalAPIError(self.response_error_message(response))

    @override
    def response_error_message(self, response: requests.Response) -> str:
        # Path and Asana's own message only: no query string, headers or credentials.
        path = urlparse(response.url).path
        message = f"{response.status_code} {response.reason} for {path}"
        detail = asana_api.error_text(_json_or_empty(response))
        return f"{message}: {detail}" if detail else message

    @override
    def backoff_wait_generator(self) -> Generator[float, Any, None]:
        return _waits()

    @override
    def backoff_max_tries(self) -> int:
        return int(self.config.get("max_retries", 8)) + 1

    @override
    def backoff_jitter(self, value: float) -> float:
        # Jitter is already applied by the wait generator.
        return value

    @override
    def backoff_handler(self, details: Details) -> None:
        exc = details.get("exception")
        reason = str(exc) if isinstance(exc, RetriableAPIError) else type(exc).__name__
        self.logger.warning(
            "Retrying %s in %.1f s (attempt %d): %s",
            self.name,
            details.get("wait") or 0.0,
            details.get("tries", 0),
            reason,
        )

    def skip_unreadable(
        self, resource_type: str, gid: str, error: ResourceUnavailableError
    ) -> None:
        """Skip an object the token may not read (403/404): warned about and reported."""
        self._tap.unreadable.note(resource_type, gid, str(error), error.status)

    # Requests outside the stream's own path (used from worker threads)

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET one response body, with the stream's auth, error mapping and retries."""
        request = self.build_prepared_request(
            method="GET",
            url=f"{self.url_base}{path}",
            params=params or {},
            headers=self.http_headers,
        )
        response = self.request_decorator(self._request)(request, None)
        return _json_or_empty(response)

    def paginate(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict]:
        """Yield every record of a list endpoint once, following ``next_page.offset``.

        An expired offset starts the listing again from its first page; records already
        yielded are not yielded twice, and none is skipped.
        """
        seen: set[str] = set()
        for restart in range(MAX_LISTING_RESTARTS + 1):
            try:
                for page in asana_api.pages(partial(self.get_json, path), params or {}):
                    for record in page.get("data") or []:
                        gid = str(record.get("gid"))
                        if gid not in seen:
                            seen.add(gid)
                            yield record
                return
            except OffsetExpiredError as exc:
                if restart == MAX_LISTING_RESTARTS:
                    raise
                self.logger.info("Listing %s again from its first page: %s", path, exc)


def _waits() -> Generator[float, Any, None]:
    """Backoff waits: immediate after a 429 (the bucket holds everyone), else exponential.

    ``backoff`` sends each exception into the generator, so a 429 can skip the wait:
    :class:`~talk_sync.ratelimit.RateLimitedAdapter` has already paused all
    requests for ``Retry-After``.
    """
    exc = yield 0.0
    attempt = 0
    while True:
        response = getattr(exc, "response", None)
        if response is not None and response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
            wait = 0.0
        else:
            wait = min(MAX_BACKOFF_SECONDS, 0.5 * 2**attempt) * random.uniform(0.5, 1.0)
            attempt += 1
        exc = yield wait


def _query(response: requests.Response) -> dict[str, list[str]]:
    return parse_qs(urlparse(response.url).query)


def _json_or_empty(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
