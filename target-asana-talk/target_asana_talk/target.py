"""TargetAsanaTalk: applies mapped Custompms records to Asana through talk-sync."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from singer_sdk import Sink, Target
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from talk_sync import (
    FLOWS,
    ApplyEngine,
    ConflictPolicy,
    DeletePolicy,
    LinkStore,
    Outcome,
    delete_policy_for,
    policy_for,
)
from talk_sync.linkstore import DEFAULT_PATH
from typing_extensions import override

from target_asana_talk.client import AsanaClient
from target_asana_talk.destination import AsanaDestination
from target_asana_talk.sinks import FlowSink, SkippedStreamSink

#: Environment variable naming the directory of run reports (set in meltano.yml).
REPORT_DIR_ENV = "TALK_SYNC_REPORT_DIR"
DEFAULT_REPORT_DIR = ".meltano/talk-sync/reports"
DEFAULT_API_URL = "https://app.asana.com/api/1.0"

_FLOW_NAMES = [flow.name for flow in FLOWS]


def _policy_setting(name: str, options: list[str], default: str, description: str) -> th.Property:
    """A setting that is one policy for every flow or a mapping per flow (plus ``default``)."""
    one = {"type": "string", "enum": options}
    per_flow = {"type": "object", "additionalProperties": one}
    # oneOf, not anyOf: the SDK appends a bare "null" to an anyOf, which is no schema.
    return th.Property(
        name, th.CustomType({"oneOf": [one, per_flow]}), default=default, description=description
    )


class TargetAsanaTalk(Target):
    """Writes Custompms records, mapped by stream maps, to Asana (flows 1-5)."""

    name = "target-asana-talk"

    config_jsonschema: ClassVar[dict] = th.PropertiesList(
        th.Property(
            "access_token",
            th.StringType,
            required=True,
            secret=True,
            title="Access Token",
            description="Asana Personal Access Token, sent as a Bearer token (never logged).",
        ),
        th.Property(
            "api_url",
            th.URIType,
            default=DEFAULT_API_URL,
            title="API URL",
            description=f"Asana API base URL (default {DEFAULT_API_URL}; the sandbox's for tests).",
        ),
        th.Property(
            "link_store_url",
            th.StringType,
            default=DEFAULT_PATH,
            title="Link Store URL",
            description=(
                "The talk-sync link store shared with target-custompms: a SQLite file path "
                "or any SQLAlchemy URL (postgresql+psycopg://...)."
            ),
        ),
        th.Property(
            "workspace_gid",
            th.StringType,
            title="Workspace GID",
            description=(
                "The Asana organization that gets a team for each new top-level Custompms "
                "customer (one whose parent is not linked to a workspace), and projects of "
                "customers linked to no team. Required only for such creates; they are "
                "rejected per record, naming this setting, without it."
            ),
        ),
        _policy_setting(
            "conflict_policy",
            [str(p) for p in ConflictPolicy],
            str(ConflictPolicy.NEWER_WINS),
            "Who wins a field edited on both sides: newer_wins (by each system's own "
            "timestamps; ties, and Asana workspaces and teams, which have none, go to "
            "Custompms), asana_wins or custompms_wins. One policy, or a mapping per flow, "
            'e.g. {"default": "newer_wins", "task_task": "asana_wins"}.',
        ),
        _policy_setting(
            "delete_policy",
            [str(p) for p in DeletePolicy],
            str(DeletePolicy.UNLINK),
            "What a record deleted (tombstoned) in Custompms does: unlink (drop the link, "
            "keep the Asana record, report it) or ignore. One policy, or a mapping per flow. "
            "Nothing is ever deleted in Asana.",
        ),
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            title="Dry Run",
            description="Report what would be created and updated; write nothing, change no "
            "link and emit no STATE.",
        ),
        th.Property(
            "requests_per_minute",
            th.IntegerType(minimum=1),
            default=1500,
            title="Requests per Minute",
            description="The token's Asana quota (150 on free domains, 1,500 on paid ones); "
            "requests are paced by the token bucket the tap uses, and a 429 pauses them all "
            "for Retry-After. Lower it when the tap and the target share a token at once.",
        ),
        th.Property(
            "report_path",
            th.StringType,
            title="Report Path",
            description=(
                "Where the run report goes: a file ending in .json (overwritten each run), "
                "or a directory that gets custompms-to-asana-<UTC time>.json per run. "
                f"Default: ${REPORT_DIR_ENV}, else {DEFAULT_REPORT_DIR}."
            ),
        ),
        th.Property(
            "batch_size",
            th.IntegerType(minimum=1),
            default=100,
            title="Batch Size",
            description="Records applied per engine batch (Asana calls go 10 to a /batch).",
        ),
        th.Property(
            "request_timeout",
            th.IntegerType(minimum=1),
            default=60,
            title="Request Timeout",
            description="Seconds to wait for one Asana response.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType(minimum=0),
            default=5,
            title="Max Retries",
            description="Retries of a request failing transiently (429, 5xx, timeouts, dropped "
            "connections); a create whose answer was lost is looked up instead of resent.",
        ),
    ).to_dict()

    @override
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Flows depend on each other (customers before projects before tasks): drain one
        # sink at a time, in the order the streams arrived, on one link-store connection.
        self.max_parallelism = 1
        if kwargs.get("validate_config", True) and self.config:
            self._check_config()

    def _check_config(self) -> None:
        """Errors jsonschema cannot express, each naming the setting (never its secret)."""
        errors = []
        url = urlsplit(str(self.config.get("api_url") or DEFAULT_API_URL))
        if url.scheme not in ("http", "https") or not url.netloc:
            errors.append(f"api_url: expected an http(s) URL such as {DEFAULT_API_URL}")
        if not str(self.config.get("access_token") or "").strip():
            errors.append("access_token: an Asana Personal Access Token is required")
        gid = self.config.get("workspace_gid")
        if gid and not str(gid).isdigit():
            errors.append("workspace_gid: expected an Asana gid (digits only)")
        for setting, reader in (
            ("conflict_policy", policy_for),
            ("delete_policy", delete_policy_for),
        ):
            value = self.config.get(setting)
            flows = value if isinstance(value, dict) else {}
            unknown = set(flows) - {"default", *_FLOW_NAMES, *(str(f.number) for f in FLOWS)}
            if unknown:
                errors.append(f"{setting}: unknown flow(s) {sorted(unknown)}")
            try:
                for flow in FLOWS:
                    reader(value, flow)
            except ValueError as error:
                errors.append(f"{setting}: {error}")
        if errors:
            raise ConfigValidationError("Config validation failed", errors=errors)

    # --- sinks -------------------------------------------------------------------------------

    @override
    def get_sink_class(self, stream_name: str) -> type[Sink]:
        return FlowSink if stream_name in _FLOW_NAMES else SkippedStreamSink

    # --- the run -----------------------------------------------------------------------------

    @cached_property
    def engine(self) -> ApplyEngine:
        """The run's talk-sync engine, opened on first use; replays records kept last run."""
        client = AsanaClient(
            self.config.get("api_url") or DEFAULT_API_URL,
            self.config["access_token"],
            requests_per_minute=self.config["requests_per_minute"],
            timeout=self.config["request_timeout"],
            max_retries=self.config["max_retries"],
            user_agent=f"{self.name}/{self.plugin_version}",
        )
        store = LinkStore(self.config["link_store_url"])
        engine = ApplyEngine(
            store,
            # An unset ${VAR} in meltano.yml arrives as "": no workspace configured.
            AsanaDestination(
                client, store=store, workspace_gid=self.config.get("workspace_gid") or None
            ),
            conflict_policy=self.config["conflict_policy"],
            delete_policy=self.config["delete_policy"],
            dry_run=self.config["dry_run"],
        )
        kept = engine.start()
        if kept:
            self.logger.info("%d records kept by earlier runs will be retried", kept)
        return engine

    @override
    def process_endofpipe(self) -> None:
        # Drains every sink and emits STATE (see _write_state_message), then reports.
        super().process_endofpipe()
        engine = self.engine
        report = engine.finish()
        destination: AsanaDestination = engine.destination  # type: ignore[assignment]
        for limit in destination.limitations:
            # What Asana cannot do is reported per record and field, never crashed on.
            report.count(
                limit.flow,
                Outcome.SKIPPED,
                record=limit.source,
                fields=[limit.field],
                detail=limit.reason,
            )
        report.log(self.logger)
        path = report.write_json(self._report_path())
        self.logger.info(
            "Run report written to %s (%d write calls sent to Asana, %d HTTP requests)",
            path,
            destination.writes_sent,
            destination.client.requests_sent,
        )
        destination.client.close()
        engine.store.close()

    def _report_path(self) -> Path:
        """``report_path`` as a file (``.json``) or a directory of timestamped reports."""
        setting = self.config.get("report_path") or os.environ.get(REPORT_DIR_ENV)
        target = Path(setting or DEFAULT_REPORT_DIR)
        if target.suffix == ".json":
            return target
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        return target / f"custompms-to-asana-{stamp}.json"

    @override
    def _write_state_message(self, state: dict) -> None:
        # The SDK calls this after draining every sink, whose batches are written and
        # committed. Records still waiting for a reference are retried now (their parents
        # may have arrived since) and the rest kept in the link store, so that STATE never
        # runs ahead of a record that is neither written nor kept.
        self.engine.checkpoint()
        # A dry run must not move the tap's bookmarks: the real run needs the same records.
        if self.config.get("dry_run"):
            return
        super()._write_state_message(state)


if __name__ == "__main__":
    TargetAsanaTalk.cli()
