"""TapAsanaTalk: the Asana tap's settings and streams."""

from __future__ import annotations

from functools import cached_property
from typing import TypeVar

import requests
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from talk_sync.errors import TokenRefusedError
from talk_sync.ratelimit import rate_limited_session
from talk_sync.startup_errors import asana_endpoint, check_at_start
from talk_sync.timestamps import format_asana_timestamp, require_timestamp
from typing_extensions import override

from tap_asana_talk import streams as asana_streams
from tap_asana_talk.unreadable import UnreadableLog

_S = TypeVar("_S", bound=Stream)

DEFAULT_API_URL = "https://app.asana.com/api/1.0"

_GID = th.StringType(pattern=r"^[0-9]+$")

STREAM_TYPES: tuple[type[asana_streams.AsanaStream], ...] = (
    asana_streams.WorkspacesStream,
    asana_streams.TeamsStream,
    asana_streams.UsersStream,
    asana_streams.ProjectsStream,
    asana_streams.TasksStream,
    asana_streams.UnreadableStream,  # last: it reports what the others could not read
)


class TapAsanaTalk(Tap):
    """Singer tap for Asana: concurrent, quota-aware and incremental."""

    name = "tap-asana-talk"

    config_jsonschema = th.PropertiesList(
        th.Property(
            "access_token",
            th.StringType(min_length=1),
            required=True,
            secret=True,
            title="Access Token",
            description="Asana Personal Access Token, sent as `Authorization: Bearer`.",
        ),
        th.Property(
            "api_url",
            th.StringType(pattern=r"^https?://\S+$"),
            default=DEFAULT_API_URL,
            title="API URL",
            description="Base URL of the Asana API (point it at a sandbox for tests).",
        ),
        th.Property(
            "workspace_gids",
            th.ArrayType(_GID),
            title="Workspace GIDs",
            description="Only read these workspaces (default: every workspace the token sees).",
        ),
        th.Property(
            "project_gids",
            th.ArrayType(_GID),
            title="Project GIDs",
            description="Only read these projects and their tasks (default: every project "
            "of the workspaces in scope).",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            title="Start Date",
            description="On a first sync, only read tasks and projects modified since then "
            "(subtasks of those tasks are always read).",
        ),
        th.Property(
            "requests_per_minute",
            th.IntegerType(minimum=1),
            default=1500,
            title="Requests per Minute",
            description="Request quota of the token: 1500 on paid domains, 150 on free ones. "
            "One token bucket paces every request of the run to stay within it.",
        ),
        th.Property(
            "max_concurrency",
            th.IntegerType(minimum=1, maximum=50),
            default=10,
            title="Max Concurrency",
            description="Most requests in flight at once (Asana allows 50 concurrent reads).",
        ),
        th.Property(
            "lookback_window_seconds",
            th.IntegerType(minimum=0),
            default=60,
            title="Lookback Window (seconds)",
            description="Overlap subtracted from each project's `modified_at` bookmark when "
            "listing changed tasks, so edits racing a previous run are not missed.",
        ),
        th.Property(
            "full_scan_interval_hours",
            th.IntegerType(minimum=0),
            default=24,
            title="Full Scan Interval (hours)",
            description="How often every project is listed in full, subtasks included, "
            "besides its events. Asana's events are late and at most once, and a subtask's "
            "edit may never reach its project's events: an edit arrives at the latest this "
            "long after it was made. Costs a request per 100 tasks plus one per task with "
            "subtasks, per project and interval.",
        ),
        th.Property(
            "request_timeout",
            th.IntegerType(minimum=1),
            default=60,
            title="Request Timeout (seconds)",
            description="Timeout of one HTTP request; a timed-out request is retried.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType(minimum=0),
            default=8,
            title="Max Retries",
            description="Retries of a request after a 429, a 5xx, a timeout or a dropped "
            "connection, with exponential backoff (429s wait for `Retry-After`).",
        ),
        th.Property(
            "user_agent",
            th.StringType,
            title="User Agent",
            description="User-Agent header sent with every request.",
        ),
    ).to_dict()

    # The SDK marks sync_all() @final, but has no hook around a whole sync to catch a refusal.
    @override  # type: ignore[misc]
    def sync_all(self) -> None:
        # A wrong URL or token is one line at once, not retries and a traceback.
        check_at_start(asana_endpoint(self.config, DEFAULT_API_URL), self.name, self.logger)
        try:
            super().sync_all()
        except TokenRefusedError as error:
            # Every request would fail the same way: one line, no traceback.
            self.logger.error("%s: %s", self.name, error)
            raise SystemExit(1) from None

    @override
    def discover_streams(self) -> list[Stream]:
        return [stream_type(tap=self) for stream_type in STREAM_TYPES]

    @property
    @override
    def streams(self) -> dict[str, Stream]:
        # The SDK's (final) load_streams() sorts the streams by name: projects, tasks,
        # teams, ... workspaces, so every record would reach the target before its customer
        # or project. sync_all() takes them in this order instead, STREAM_TYPES', parents
        # first, so a target rarely holds a record back.
        rank = {stream_type: index for index, stream_type in enumerate(STREAM_TYPES)}
        loaded = super().streams
        return dict(sorted(loaded.items(), key=lambda item: rank[type(item[1])]))  # type: ignore[index]

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        # Overridden so that a malformed access_token never reaches an error message:
        # jsonschema quotes the offending value ("12345 is not of type 'string'").
        try:
            errors = super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as exc:
            raise ConfigValidationError(
                str(exc), errors=[self._redact(e) for e in exc.errors], schema=exc.schema
            ) from None
        errors = [self._redact(error) for error in errors]
        start_date = self.config.get("start_date")
        if start_date:
            try:
                require_timestamp(str(start_date))
            except ValueError:
                problem = f"start_date {start_date!r} is not an ISO 8601 date-time"
                if raise_errors:
                    raise ConfigValidationError(problem, errors=[problem]) from None
                errors.append(problem)
        return errors

    def _redact(self, message: str) -> str:
        token = self.config.get("access_token")
        return message.replace(str(token), "***") if token else message

    @cached_property
    def unreadable(self) -> UnreadableLog:
        """The objects this run skipped because the token may not read them (403/404)."""
        return UnreadableLog(self.logger)

    @cached_property
    def http_session(self) -> requests.Session:
        """The one session every stream sends through: one bucket for the whole run."""
        return rate_limited_session(
            int(self.config["requests_per_minute"]), int(self.config["max_concurrency"])
        )

    @property
    def start_date(self) -> str | None:
        """``start_date`` normalised to Asana's timestamp format, if set."""
        value = self.config.get("start_date")
        return format_asana_timestamp(require_timestamp(str(value))) if value else None

    @property
    def workspaces_stream(self) -> asana_streams.WorkspacesStream:
        """The workspaces stream, whose listing scopes the others."""
        return self._stream("workspaces", asana_streams.WorkspacesStream)

    @property
    def teams_stream(self) -> asana_streams.TeamsStream:
        """The teams stream, whose listing scopes the projects of organizations."""
        return self._stream("teams", asana_streams.TeamsStream)

    @property
    def projects_stream(self) -> asana_streams.ProjectsStream:
        """The projects stream, whose listing scopes the tasks stream."""
        return self._stream("projects", asana_streams.ProjectsStream)

    def _stream(self, name: str, kind: type[_S]) -> _S:
        stream = self.streams[name]
        if not isinstance(stream, kind):  # pragma: no cover - discover_streams builds them
            msg = f"stream {name!r} is a {type(stream).__name__}, not a {kind.__name__}"
            raise TypeError(msg)
        return stream


if __name__ == "__main__":
    TapAsanaTalk.cli()
