"""AsanaClient: the Asana REST calls the target makes, paced, retried, and batched.

- Every HTTP attempt goes through the token bucket the tap uses
  (:mod:`talk_sync.ratelimit`) and takes one token per action it carries, as Asana counts
  them: at most ``requests_per_minute`` actions in any minute, retries included, and a 429
  pauses every caller for ``Retry-After`` seconds before the request is retried.
- 5xx answers, timeouts and dropped connections are retried with exponential backoff for
  requests that are safe to repeat (reads, ``PUT``, and the membership calls). A create
  (``POST /teams``, ``/projects``, ``/tasks``...) is **never** resent blindly: Asana has no
  idempotency key, so a create whose answer was lost raises :class:`LostAnswerError` and the
  caller looks the record up before creating it again. Only a 429 is resent (Asana did not
  run the call); a 5xx, like a dropped connection, says nothing about whether it ran.
  Retries run out in :class:`~talk_sync.errors.TransientApiError`.
- :meth:`AsanaClient.call_many` packs up to 10 calls into one ``POST /batch`` (saving round
  trips, not quota), no more than the bucket can grant at once (2 at 150 a minute), and
  answers one :class:`Reply` per call.

The token is sent only in the ``Authorization`` header and never appears in a log line,
a ``repr`` or an error message.
"""

from __future__ import annotations

import builtins
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from typing import Any

import requests
from talk_sync import asana_api
from talk_sync.errors import ApiError, TokenRefusedError, TransientApiError
from talk_sync.http_client import BearerApiClient
from talk_sync.ratelimit import TokenBucket, rate_limited_session

logger = logging.getLogger(__name__)

#: Asana's largest batch.
MAX_BATCH_ACTIONS = 10
#: Methods Asana runs at most once whatever we send, or that are harmless to repeat.
_SAFE_METHODS = frozenset({"get", "put", "delete"})
#: Calls that only set a membership (repeating one is a no-op).
_SAFE_POSTS = re.compile(r"^/tasks/[^/]+/(addProject|removeProject|setParent)$")
_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class AsanaError(ApiError):
    """A request Asana refused, with the ``status`` it answered; never carries the token."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message, status)
        self.status: int = status


class LostAnswerError(TransientApiError):
    """A create was sent but its answer was lost: it may or may not have happened."""


@dataclass(frozen=True)
class Call:
    """One API call: ``method`` ``path`` with query ``params`` and body ``data``."""

    method: str
    path: str
    data: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    #: Whether sending it twice does no harm; by default everything but a create.
    repeatable: bool | None = None

    @property
    def actions(self) -> int:
        """What the call costs against Asana's quota: one per action of a ``/batch``."""
        if self.path == "/batch" and self.data:
            return max(1, len(self.data.get("actions") or []))
        return 1

    @property
    def safe(self) -> bool:
        """True when sending it twice does no harm (everything but a create)."""
        if self.repeatable is not None:
            return self.repeatable
        return self.method.lower() in _SAFE_METHODS or bool(_SAFE_POSTS.match(self.path))


@dataclass(frozen=True)
class Reply:
    """One call's answer: ``status`` (0 when lost), its ``data``, or an error ``message``."""

    status: int
    data: Any = None
    message: str = ""

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return HTTPStatus.OK <= self.status < HTTPStatus.MULTIPLE_CHOICES

    @property
    def lost(self) -> bool:
        """The call's outcome is unknown (a create whose answer never came)."""
        return self.status == 0

    @property
    def field(self) -> str | None:
        """The field an error message names (``"name: Missing input"`` -> ``name``)."""
        return asana_api.error_field(self.message)

    def error(self, what: str) -> ApiError:
        """The error a failed answer to ``what`` is raised as: transient when the call may
        succeed later (no answer, a 5xx), else :class:`AsanaError`."""
        error = (
            TransientApiError
            if self.lost or self.status >= HTTPStatus.INTERNAL_SERVER_ERROR
            else AsanaError
        )
        return error(f"{what}: {self.status} {self.message}", self.status)


def _retriable(status: int) -> bool:
    return status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR


def _not_run(status: int) -> bool:
    """Asana refused before running the call (rate limited): resending a create is safe.

    Not a 503: live, a 5xx may come after the write ran, like a dropped connection.
    """
    return status == HTTPStatus.TOO_MANY_REQUESTS


class AsanaClient(BearerApiClient):
    """A Personal Access Token client for the Asana API at ``api_url`` (``.../api/1.0``)."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        requests_per_minute: int = 1500,
        timeout: float = 60,
        user_agent: str = "target-asana-talk",
        session: requests.Session | None = None,
        **options: Any,
    ) -> None:
        # One request in flight at a time: writes are few and ordered; /batch gives breadth.
        session = session or rate_limited_session(requests_per_minute, 1)
        super().__init__(
            api_url, token, timeout=timeout, user_agent=user_agent, session=session, **options
        )
        #: HTTP requests sent, retries included (each /batch counts once here).
        self.requests_sent = 0
        #: Actions sent, retries included: what Asana counts against the quota.
        self.actions_sent = 0
        # A batch larger than the bucket's burst could never be granted (see TokenBucket).
        bucket = getattr(self.session.get_adapter(self.api_url), "bucket", None)
        burst = bucket.burst if isinstance(bucket, TokenBucket) else MAX_BATCH_ACTIONS
        #: Most calls packed into one /batch.
        self.batch_actions = min(MAX_BATCH_ACTIONS, burst)

    # --- one request -----------------------------------------------------------------------

    def request(self, call: Call) -> Any:
        """Send ``call``, retrying what is safe to retry; the ``data`` of the answer.

        Raises :class:`AsanaError` for a refusal (4xx), :class:`TransientApiError` when
        retries run out, and :class:`LostAnswerError` when a create's answer was lost.
        """
        return (self.send(call) or {}).get("data")

    def send(self, call: Call) -> dict[str, Any] | None:
        """Like :meth:`request`, answering the whole body (``data``, ``next_page``)."""
        url = f"{self.api_url}{call.path}"
        body = None if call.data is None else {"data": call.data}
        for attempt in range(1, self.max_retries + 2):
            self.requests_sent += 1
            self.actions_sent += call.actions
            try:
                response = self.session.request(
                    call.method.upper(), url, params=call.params, json=body, timeout=self.timeout
                )
            except _TRANSPORT_ERRORS as error:
                failure = type(error).__name__
                if not call.safe:
                    raise LostAnswerError(
                        f"{call.method.upper()} {call.path}: {failure}; the answer was lost"
                    ) from None
            else:
                status = response.status_code
                if status < HTTPStatus.BAD_REQUEST:
                    return response.json() if response.content else None
                if status == HTTPStatus.UNAUTHORIZED:
                    raise TokenRefusedError("Asana", "access_token")
                message = asana_api.first_error_message(_json(response), response.reason or "")
                if not _retriable(status):
                    raise AsanaError(f"{status} {message}", status)
                if not call.safe and not _not_run(status):
                    raise LostAnswerError(f"{call.method.upper()} {call.path}: {status} {message}")
                failure = f"HTTP {status}"
            # A 429 has already paused the shared bucket for Retry-After; this adds backoff.
            self.retry_or_raise(f"{call.method.upper()} {call.path}", failure, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, path: str, **params: Any) -> Any:
        """``GET path`` with query ``params``; the answer's ``data``."""
        return self.request(Call("get", path, params=params))

    def list(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every record of a paginated list (``limit=100``, following ``next_page``)."""
        records: list[dict[str, Any]] = []
        for page in asana_api.pages(partial(self._page, path), params):
            records.extend(page.get("data") or [])
        return records

    def _page(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.send(Call("get", path, params=params)) or {}

    # --- several calls -------------------------------------------------------------------

    # ``builtins.list``: inside this class, ``list`` is the method above.
    def call_many(self, calls: Sequence[Call]) -> builtins.list[Reply]:
        """Answer each call; up to :attr:`batch_actions` travel in one ``POST /batch``.

        Never raises for one call: a refusal is a :class:`Reply` with its status and message;
        a create whose answer was lost is a :class:`Reply` with status 0 (look the record up
        before resending it).
        Raises :class:`TransientApiError` when Asana keeps failing, and :class:`AsanaError` for
        401/403 (every call would fail the same way).
        """
        replies: builtins.list[Reply] = []
        for start in range(0, len(calls), self.batch_actions):
            chunk = list(calls[start : start + self.batch_actions])
            replies.extend(self._one(chunk[0]) if len(chunk) == 1 else self._batch(chunk))
        return replies

    def _one(self, call: Call) -> builtins.list[Reply]:
        try:
            return [Reply(HTTPStatus.OK, self.request(call))]
        except LostAnswerError as error:
            return [Reply(0, message=str(error))]
        except AsanaError as error:
            if error.status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN) and call.safe:
                raise
            return [Reply(error.status, message=str(error).partition(" ")[2])]

    def _batch(self, calls: builtins.list[Call]) -> builtins.list[Reply]:
        """One /batch round trip, then single retries of actions that failed transiently."""
        actions = [_action(call) for call in calls]
        batch = Call("post", "/batch", {"actions": actions}, repeatable=all(c.safe for c in calls))
        try:
            answers = self.request(batch)
        except LostAnswerError:  # only a batch holding creates: they may exist now
            answers = None
        replies: builtins.list[Reply] = []
        for index, call in enumerate(calls):
            if answers is None:  # the whole batch's answer was lost: the creates may exist
                replies.append(Reply(0, message="POST /batch: the answer was lost"))
                continue
            answer = answers[index]
            status, body = int(answer.get("status_code") or 0), answer.get("body") or {}
            if status < HTTPStatus.BAD_REQUEST:
                replies.append(Reply(status, body.get("data") if isinstance(body, dict) else None))
            elif _retriable(status) and (call.safe or _not_run(status)):
                replies.extend(self._one(call))
            elif _retriable(status):
                message = asana_api.first_error_message(body, "")
                replies.append(Reply(0, message=f"{status} {message}"))
            else:
                message = asana_api.first_error_message(body, str(status))
                replies.append(Reply(status, message=message))
        return replies


def _action(call: Call) -> dict[str, Any]:
    """A /batch action for ``call``: ``opt_fields`` and ``limit`` become ``options``; other
    query parameters of a GET its ``data`` (Asana's convention)."""
    params = dict(call.params)
    options: dict[str, Any] = {}
    if "opt_fields" in params:
        options["fields"] = str(params.pop("opt_fields")).split(",")
    if "limit" in params:
        options["limit"] = params.pop("limit")
    action: dict[str, Any] = {"relative_path": call.path, "method": call.method.lower()}
    data = params if call.method.lower() == "get" else call.data
    if data:
        action["data"] = data
    if options:
        action["options"] = options
    return action


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
