"""TapCustompms: the tap class, its settings and their validation."""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from talk_sync.startup_errors import check_at_start, custompms_endpoint
from talk_sync.timestamps import require_timestamp
from typing_extensions import override

from tap_custompms import streams

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 500
DEFAULT_REQUEST_TIMEOUT = 300


class TapCustompms(Tap):
    """Singer tap reading customers, projects and tasks from a Custompms API."""

    name = "tap-custompms"

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_url",
            th.URIType,
            required=True,
            title="API URL",
            description=(
                "Base URL of the Custompms API, including the version path, "
                "e.g. `https://pms.example.com/api/v1`. Must be http:// or https://."
            ),
            examples=["https://pms.example.com/api/v1", "http://127.0.0.1:8000/api/v1"],
        ),
        th.Property(
            "api_token",
            th.StringType(min_length=1),
            required=True,
            secret=True,
            title="API Token",
            description="Bearer token sent as `Authorization: Bearer <token>` on every call.",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            title="Start Date",
            description=(
                "RFC 3339 timestamp (UTC when it has no offset); the first run (no state "
                "yet) reads only records updated at or after it. Omit it to read everything."
            ),
            examples=["2024-01-01T00:00:00Z"],
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1, maximum=MAX_PAGE_SIZE),
            default=DEFAULT_PAGE_SIZE,
            title="Page Size",
            description=f"Records requested per page (`limit`), 1 to {MAX_PAGE_SIZE}.",
        ),
        th.Property(
            "request_timeout",
            th.IntegerType(minimum=1),
            default=DEFAULT_REQUEST_TIMEOUT,
            title="Request Timeout",
            description=(
                "Seconds to wait for one HTTP response; a timed-out request is retried "
                "with backoff like a 5xx."
            ),
        ),
        th.Property(
            "user_agent",
            th.StringType,
            title="User Agent",
            description="User-Agent header value; defaults to the SDK's `singer-sdk/<version>`.",
        ),
    ).to_dict()

    @override
    def __init__(self, *args: t.Any, validate_config: bool = True, **kwargs: t.Any) -> None:
        super().__init__(*args, validate_config=validate_config, **kwargs)
        # JSON Schema validation does not check `format`, nor that a URL has a host:
        # check what it cannot, so a bad value fails now, naming the setting.
        errors = _semantic_config_errors(self.config)
        if errors and validate_config:
            raise ConfigValidationError(
                "Config validation failed",
                errors=errors,
                schema=self.config_jsonschema,
            )

    # The SDK marks sync_all() @final, but has no hook that runs before the first request.
    @override  # type: ignore[misc]
    def sync_all(self) -> None:
        # A wrong URL or token is one line at once, not retries and a traceback.
        check_at_start(custompms_endpoint(self.config), self.name, self.logger)
        super().sync_all()

    @override
    def discover_streams(self) -> list[streams.CustompmsStream]:
        return [
            streams.CustomersStream(self),
            streams.ProjectsStream(self),
            streams.TasksStream(self),
        ]


def _semantic_config_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """Return one message per invalid setting the JSON Schema cannot catch."""
    errors: list[str] = []
    api_url = config.get("api_url")
    if isinstance(api_url, str):
        parts = urlsplit(api_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            errors.append(
                f"api_url must be an http:// or https:// URL with a host, got {api_url!r}"
            )
    start_date = config.get("start_date")
    if isinstance(start_date, str):
        try:
            require_timestamp(start_date)
        except ValueError:
            errors.append(f"start_date must be an RFC 3339 timestamp, got {start_date!r}")
    return errors


if __name__ == "__main__":
    TapCustompms.cli()
