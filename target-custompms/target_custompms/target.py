"""TargetCustompms: applies mapped Asana records to Custompms through talk-sync."""

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
    delete_policy_for,
    policy_for,
)
from talk_sync.linkstore import DEFAULT_PATH
from typing_extensions import override

from target_custompms.client import MAX_BULK_ITEMS, CustompmsClient
from target_custompms.destination import CustompmsDestination
from target_custompms.sinks import FlowSink, SkippedStreamSink

#: Environment variable naming the directory of run reports (set in meltano.yml).
REPORT_DIR_ENV = "TALK_SYNC_REPORT_DIR"
DEFAULT_REPORT_DIR = ".meltano/talk-sync/reports"

_FLOW_NAMES = [flow.name for flow in FLOWS]


def _policy_setting(name: str, options: list[str], default: str, description: str) -> th.Property:
    """A setting that is one policy for every flow or a mapping per flow (plus ``default``)."""
    one = {"type": "string", "enum": options}
    per_flow = {"type": "object", "additionalProperties": one}
    return th.Property(
        name,
        # oneOf, not anyOf: the SDK appends a bare "null" to an anyOf, which is no schema.
        th.CustomType({"oneOf": [one, per_flow]}),
        default=default,
        description=description,
    )


class TargetCustompms(Target):
    """Writes Asana records, mapped by stream maps, to Custompms (flows 1-5)."""

    name = "target-custompms"

    config_jsonschema: ClassVar[dict] = th.PropertiesList(
        th.Property(
            "api_url",
            th.URIType,
            required=True,
            title="API URL",
            description="Custompms API base URL, e.g. https://pms.example.com/api/v1",
        ),
        th.Property(
            "api_token",
            th.StringType,
            required=True,
            secret=True,
            title="API Token",
            description="Custompms Bearer token (never logged).",
        ),
        th.Property(
            "link_store_url",
            th.StringType,
            default=DEFAULT_PATH,
            title="Link Store URL",
            description=(
                "The talk-sync link store shared with target-asana-talk: a SQLite file path "
                "or any SQLAlchemy URL (postgresql+psycopg://...)."
            ),
        ),
        _policy_setting(
            "conflict_policy",
            [str(p) for p in ConflictPolicy],
            str(ConflictPolicy.NEWER_WINS),
            "Who wins a field edited on both sides: newer_wins (by each system's own "
            "timestamps; ties go to Custompms), asana_wins or custompms_wins. One policy, or "
            'a mapping per flow, e.g. {"default": "newer_wins", "task_task": "asana_wins"}.',
        ),
        _policy_setting(
            "delete_policy",
            [str(p) for p in DeletePolicy],
            str(DeletePolicy.UNLINK),
            "What a record deleted in Asana does: unlink (drop the link, keep the Custompms "
            "record, report it) or ignore. One policy, or a mapping per flow. Nothing is "
            "ever deleted in Custompms.",
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
            "report_path",
            th.StringType,
            title="Report Path",
            description=(
                "Where the run report goes: a file ending in .json (overwritten each run), "
                "or a directory that gets asana-to-custompms-<UTC time>.json per run. "
                f"Default: ${REPORT_DIR_ENV}, else {DEFAULT_REPORT_DIR}."
            ),
        ),
        th.Property(
            "batch_size",
            th.IntegerType(minimum=1, maximum=MAX_BULK_ITEMS),
            default=500,
            title="Batch Size",
            description=f"Records per bulk upsert (1-{MAX_BULK_ITEMS}).",
        ),
        th.Property(
            "request_timeout",
            th.IntegerType(minimum=1),
            default=300,
            title="Request Timeout",
            description="Seconds to wait for one Custompms response.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType(minimum=0),
            default=5,
            title="Max Retries",
            description="Retries of a request failing transiently (429, 5xx, connection), "
            "honouring Retry-After.",
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
        url = urlsplit(str(self.config.get("api_url", "")))
        if url.scheme not in ("http", "https") or not url.netloc:
            errors.append("api_url: expected an http(s) URL such as https://host/api/v1")
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
        client = CustompmsClient(
            self.config["api_url"],
            self.config["api_token"],
            timeout=self.config["request_timeout"],
            max_retries=self.config["max_retries"],
            user_agent=f"{self.name}/{self.plugin_version}",
        )
        self.destination = CustompmsDestination(client, batch_size=self.config["batch_size"])
        engine = ApplyEngine(
            LinkStore(self.config["link_store_url"]),
            self.destination,
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
        report.log(self.logger)
        path = report.write_json(self._report_path())
        sent = self.destination.items_sent
        self.logger.info("Run report written to %s (%d items sent to Custompms)", path, sent)
        engine.store.close()
        self.destination.client.close()

    def _report_path(self) -> Path:
        """``report_path`` as a file (``.json``) or a directory of timestamped reports."""
        setting = self.config.get("report_path") or os.environ.get(REPORT_DIR_ENV)
        target = Path(setting or DEFAULT_REPORT_DIR)
        if target.suffix == ".json":
            return target
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        return target / f"asana-to-custompms-{stamp}.json"

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
    TargetCustompms.cli()
