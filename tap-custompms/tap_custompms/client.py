"""CustompmsStream: REST plumbing shared by every Custompms resource stream."""

from __future__ import annotations

import typing as t
from http import HTTPStatus
from urllib.parse import urlsplit

import backoff
from singer_sdk import RESTStream
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.pagination import JSONPathPaginator
from talk_sync.ratelimit import parse_retry_after
from talk_sync.timestamps import format_custompms_timestamp
from typing_extensions import override

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context


class CustompmsStream(RESTStream[str]):
    """One Custompms resource read through its cursor-paged, `updated_at`-ordered list."""

    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = "updated_at"
    records_jsonpath = "$.data[*]"

    @override
    @property
    def url_base(self) -> str:
        return str(self.config["api_url"]).rstrip("/")

    @override
    @property
    def authenticator(self) -> BearerTokenAuthenticator:
        return BearerTokenAuthenticator(token=self.config["api_token"])

    @override
    @property
    def is_sorted(self) -> bool:
        # The server orders every list by (updated_at, id): the bookmark may advance
        # with each record, so an interrupted run resumes where it stopped.
        return True

    @override
    @property
    def timeout(self) -> int:
        return int(self.config["request_timeout"])  # defaulted by the settings schema

    @override
    def get_new_paginator(self) -> JSONPathPaginator:
        # `next_cursor` is null on the last page, which ends the walk.
        return JSONPathPaginator("$.next_cursor")

    @override
    def get_url_params(
        self,
        context: Context | None,
        next_page_token: str | None,
    ) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {
            "limit": self.config["page_size"],
            # Tombstones carry deletes to the reverse pipeline.
            "include_deleted": "true",
        }
        # The starting bookmark stays fixed for the whole walk, so every page repeats the
        # same filter (inclusive: see post_process).
        if (since := self.get_starting_timestamp(context)) is not None:
            params["updated_since"] = format_custompms_timestamp(since)
        if next_page_token:
            params["cursor"] = next_page_token
        return params

    @override
    def post_process(
        self,
        row: dict[str, t.Any],
        context: Context | None = None,
    ) -> dict[str, t.Any] | None:
        # `updated_since` is inclusive, and `updated_at` is strictly increasing within a
        # resource: a record stamped exactly at the bookmark is the one the bookmark was
        # taken from, already emitted. Skipping it makes a run with no changes emit nothing.
        bookmark = self.get_context_state(context).get("replication_key_value")
        if bookmark is not None and row.get(self.replication_key) == bookmark:
            return None
        return row

    @override
    def validate_response(self, response: requests.Response) -> None:
        if response.status_code == HTTPStatus.UNAUTHORIZED:
            msg = (
                f"Custompms rejected the api_token (401 Unauthorized) for "
                f"{self._request_label(response)}: check the `api_token` setting."
            )
            raise FatalAPIError(msg)
        if response.status_code == HTTPStatus.FORBIDDEN:
            msg = (
                f"The api_token may not read {self.name} (403 Forbidden) for "
                f"{self._request_label(response)}: grant it read access or use "
                "another token."
            )
            raise FatalAPIError(msg)
        super().validate_response(response)

    @override
    def response_error_message(self, response: requests.Response) -> str:
        # Built from the problem+json body and the URL path only: never headers
        # (which carry the token) nor anything the request sent.
        message = f"{response.status_code} {response.reason} for {self._request_label(response)}"
        if problem := _problem_summary(response):
            message += f": {problem}"
        return message

    @override
    def backoff_wait_generator(self) -> t.Generator[float, None, None]:
        # The SDK-documented way to honour Retry-After: a runtime wait read from the
        # failed response, with exponential backoff when the header is absent.
        fallback = backoff.expo(factor=2)
        next(fallback)  # prime the generator, as backoff itself does

        def wait(exception: Exception) -> float:
            retry_after = _retry_after_seconds(exception)
            return float(next(fallback)) if retry_after is None else retry_after

        return self.backoff_runtime(value=wait)

    def _request_label(self, response: requests.Response) -> str:
        """`GET /api/v1/<resource>`: method and path, without the query string."""
        # None on a Response built by hand (the stubs say otherwise).
        request: requests.PreparedRequest | None = response.request
        method = request.method if request is not None else "GET"
        return f"{method} {urlsplit(response.url).path or self.path}"


def _retry_after_seconds(exception: Exception) -> float | None:
    """Seconds the server asked to wait (RFC 9110 delay-seconds or HTTP-date), if any."""
    if not isinstance(exception, RetriableAPIError) or exception.response is None:
        return None
    return parse_retry_after(exception.response.headers.get("Retry-After"))


def _problem_summary(response: requests.Response) -> str:
    """One line from an RFC 9457 problem body: title, detail and the fields at fault."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body[key]) for key in ("title", "detail") if body.get(key)]
    for error in body.get("errors") or []:
        if not isinstance(error, dict):
            continue
        where = [
            f"{key} {error[key]}" for key in ("field", "parameter", "header") if error.get(key)
        ]
        parts.append(": ".join([*where[:1], str(error.get("message", ""))]))
    return "; ".join(parts)
