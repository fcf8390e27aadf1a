"""The Singer target both sync directions share: settings, engine lifecycle, sinks.

``target-custompms`` and ``target-asana-talk`` differ only in their API client, their
:class:`~talk_sync.destination.Destination` and how a mapped record becomes an
:class:`~talk_sync.incoming.Incoming`. Everything else lives here once: the sync settings,
their checks, one :class:`~talk_sync.apply.ApplyEngine` per run, the run report, and STATE
emitted only after the engine's checkpoint (never in a dry run).

Needs ``singer-sdk``; import it as ``talk_sync.target`` (the package root does not, so the
tap's use of :mod:`talk_sync.ratelimit` does not load the SDK's target side).
"""

from __future__ import annotations

import json
import os
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import IO, Any, ClassVar

from singer_sdk import BatchSink, RecordSink, Sink, Target
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import (
    TARGET_VALIDATE_RECORDS_CONFIG,
    CapabilitiesEnum,
    PluginCapabilities,
    TargetCapabilities,
)
from typing_extensions import override

from talk_sync.adoption import check_match_keys
from talk_sync.apply import ApplyEngine
from talk_sync.destination import Destination
from talk_sync.errors import TokenRefusedError
from talk_sync.flows import FLOWS, get_flow
from talk_sync.incoming import Incoming
from talk_sync.linkstore import DEFAULT_PATH, Backoff, LinkStore, LinkStoreConfigError
from talk_sync.merge import ConflictPolicy
from talk_sync.migrations import SchemaError
from talk_sync.policies import DeletePolicy, policy_for
from talk_sync.refs import Ref, Side, parse_ref
from talk_sync.report import RunReport
from talk_sync.run_lease import RunLease, SyncLockedError

#: Environment variable naming the directory of run reports (set in meltano.yml).
REPORT_DIR_ENV = "TALK_SYNC_REPORT_DIR"
DEFAULT_REPORT_DIR = ".meltano/talk-sync/reports"

#: The mapped record's field holding the unmapped source record (``_source: record``).
SOURCE_FIELD = "_source"
#: The delete marker the stream maps set (the SDK strips ``_sdc_deleted_at`` unless
#: metadata is on).
DELETED_FIELD = "is_deleted"

#: The stream names a target applies: one per flow (the stream maps rename to them).
FLOW_NAMES = frozenset(flow.name for flow in FLOWS)
#: The stream in which a tap lists what its token could not read (``record``, ``reason``):
#: listed in the run report.
UNREADABLE_STREAM = "unreadable"
#: Keys a per-flow policy mapping accepts: flow names, flow numbers and ``default``.
_POLICY_KEYS = frozenset({"default", *FLOW_NAMES, *(str(flow.number) for flow in FLOWS)})

#: The target that writes each side: the two targets share one link store.
_TARGET_WRITING = {Side.CUSTOMPMS: "target-custompms", Side.ASANA: "target-asana-talk"}


def _system(side: Side) -> str:
    """A side as its system's name in prose: ``Asana``, ``Custompms``."""
    return str(side).capitalize()


def direction_name(source: Side) -> str:
    """The run's direction in file names, e.g. ``asana-to-custompms``."""
    return f"{source}-to-{source.other}"


#: The settings that may be a mapping per flow. ``meltano config set`` and environment
#: variables hand a mapping over as JSON text: each is read by
#: :meth:`SyncTarget.mapping_setting` and checked at start (:meth:`SyncTarget._check_config`).
#: Their schemas are type unions, not ``oneOf``/``anyOf``: the SDK cannot read an environment
#: variable for either (and appends a bare ``"null"`` to an ``anyOf``).
MAPPING_SETTINGS = ("conflict_policy", "delete_policy", "adopt_policy", "match_keys")


def _policy_setting(name: str, options: list[str], default: str, description: str) -> th.Property:
    """A setting that is one policy for every flow or a mapping per flow (plus ``default``)."""
    one = {"type": "string", "enum": options}
    schema = {"type": ["string", "object"], "additionalProperties": one}
    title = name.replace("_", " ").title()
    return th.Property(
        name, th.CustomType(schema), default=default, title=title, description=description
    )


def sync_settings(source: Side) -> list[th.Property]:
    """The settings every sync target has, described for a run reading ``source``.

    A target lists them among its API's settings::

        config_jsonschema = th.PropertiesList(*api_settings, *sync_settings(Side.ASANA)).to_dict()
    """
    destination = source.other
    return [
        th.Property(
            "link_store_url",
            th.StringType,
            default=DEFAULT_PATH,
            title="Link Store URL",
            description=(
                f"The talk-sync link store shared with {_TARGET_WRITING[source]}: a SQLite "
                "file path or any SQLAlchemy URL (postgresql+psycopg://...)."
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
            f"What a record deleted in {_system(source)} does: unlink (drop the link, keep "
            f"the {_system(destination)} record, report it) or ignore. One policy, or a "
            f"mapping per flow. Nothing is ever deleted in {_system(destination)}.",
        ),
        th.Property(
            "adopt_existing",
            th.BooleanType,
            default=True,
            title="Adopt Existing Records",
            description=(
                f"Before creating a record in {_system(destination)}, look there for an "
                "unlinked record with the same match key and link the two instead (a first "
                "sync on existing data). Two candidates, or one that two records want, link "
                "and create nothing: the record is reported ambiguous (stuck) until a person "
                "links it (talk-sync links link) or the data changes."
            ),
        ),
        th.Property(
            "match_keys",
            th.CustomType(
                {
                    "type": ["object", "string"],
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                }
            ),
            title="Match Keys",
            description=(
                "The fields an existing record must share with a new one to be adopted, per "
                'flow, e.g. {"task_task": ["name", "due_date"]} (either side\'s field names). '
                "Default: the name, normalized (case and whitespace), within the same linked "
                "container (customer, project or parent task; customers anywhere)."
            ),
        ),
        _policy_setting(
            "adopt_policy",
            [str(p) for p in ConflictPolicy],
            str(ConflictPolicy.NEWER_WINS),
            "Whose values an adopted pair keeps where the two records differ: newer_wins (by "
            "the records' own timestamps; ties, and Asana workspaces and teams, which have "
            "none, go to Custompms), asana_wins or custompms_wins. One policy, or a mapping "
            "per flow. Each differing field is named in the run report.",
        ),
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            title="Dry Run",
            description="Report what would be linked (adopted, with both ids), created, "
            "updated, ambiguous, skipped or rejected; write nothing to either system or the "
            "link store, and emit no STATE.",
        ),
        th.Property(
            "fail_on_stuck",
            th.BooleanType,
            default=True,
            title="Fail on Stuck Records",
            description=(
                "Exit non-zero when records are stuck: they cannot be applied as things "
                "stand (a conflicting link, a deleted parent, an ambiguous match, or kept "
                "longer than stuck_after_hours). Inside the sync job the job's last step "
                "(talk-sync unlock) fails instead, so that both directions still run. The "
                "report names each record and its cause; the README says how to clear each."
            ),
        ),
        th.Property(
            "stuck_after_hours",
            th.NumberType(minimum=0),
            default=24,
            title="Stuck After (hours)",
            description="A record refused or waiting for longer than this is reported stuck.",
        ),
        th.Property(
            "reject_retry_minutes",
            th.NumberType(minimum=0),
            default=15,
            title="Retry Refused Records After (minutes)",
            description=(
                f"A record {_system(destination)} refused (a 4xx, a 403 included) is sent "
                "again with the same values only after this long, then after twice as long "
                "per further refusal, up to reject_retry_max_hours; a record whose values "
                "changed is sent at once. The report says when each is tried next. 0: every "
                "run. Transient failures (5xx, timeouts) are not refusals: they fail the run, "
                "which sends them again."
            ),
        ),
        th.Property(
            "reject_retry_max_hours",
            th.NumberType(minimum=0),
            default=24,
            title="Longest Wait Before a Refused Record Is Retried (hours)",
            description="The cap of reject_retry_minutes' doubling.",
        ),
        th.Property(
            "report_path",
            th.StringType,
            title="Report Path",
            description=(
                "Where the run report goes: a file ending in .json (overwritten each run), "
                f"or a directory that gets {direction_name(source)}-<UTC time>.json per run. "
                f"Default: ${REPORT_DIR_ENV}, else {DEFAULT_REPORT_DIR}."
            ),
        ),
    ]


#: SDK target settings a sync target does not offer (see SyncTarget.append_builtin_config),
#: and the value each must keep; the SDK would still act on some of them if given.
_UNSUPPORTED_SDK_SETTINGS: dict[str, tuple[object, str]] = {
    "flattening_enabled": (False, "the targets read nested records"),
    "add_record_metadata": (False, "records are merged field by field, without _sdc_ fields"),
    "load_method": ("append-only", "every write is a merge"),
    "batch_size_rows": (None, "use batch_size"),
}


def _unsupported_sdk_settings(config: Mapping[str, Any]) -> list[str]:
    """An error per SDK setting a sync target does not support, when it is given."""
    return [
        f"{name}: not supported ({why})"
        for name, (neutral, why) in _UNSUPPORTED_SDK_SETTINGS.items()
        if config.get(name) not in (None, neutral)
    ]


class SyncTarget(Target):
    """A target applying mapped ``source`` records to the other side through talk-sync.

    Subclasses set :attr:`source`, ``config_jsonschema`` (with :func:`sync_settings`) and
    ``default_sink_class`` (a :class:`FlowSink`), and implement :meth:`make_destination`
    and :meth:`sent_summary`; the other hooks are optional.
    """

    #: The side the run reads from (the tap's system); the target writes the other one.
    source: ClassVar[Side]
    #: The run's destination, made by :meth:`make_destination` when the engine opens.
    destination: Destination
    #: The run's lease in the link store (its claims; the sync lock it works under).
    run_lease: RunLease

    #: Not schema-flattening: the sinks read the mapped record's nested ``_source`` (and
    #: Asana's nested references), which flattening would take apart.
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.STRUCTURED_LOGGING,
        TargetCapabilities.VALIDATE_RECORDS,
    ]

    @classmethod
    @override
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        # The SDK's Target adds add_record_metadata, load_method and batch_size_rows to every
        # target: a sync target honours none of them (its batches are `batch_size`, a write
        # is always a merge), so --about, the Hub and `meltano config` must not offer them.
        # The plugin-level settings (stream maps) stay, and validate_records works as is.
        super(Target, cls).append_builtin_config(config_jsonschema)
        for name, schema in TARGET_VALIDATE_RECORDS_CONFIG["properties"].items():
            config_jsonschema["properties"].setdefault(name, schema)

    @override
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Flows depend on each other (customers before projects before tasks): drain one
        # sink at a time, in the order the streams arrived, on one link-store connection.
        self.max_parallelism = 1
        if kwargs.get("validate_config", True) and self.config:
            self._check_config()

    # --- hooks -------------------------------------------------------------------------------

    @abstractmethod
    def make_destination(self, store: LinkStore) -> Destination:
        """The destination the run writes through (its API client opened from the config)."""

    def check_destination_config(self) -> list[str]:
        """Errors in the destination's own settings that jsonschema cannot express."""
        return []

    def finish_report(self, report: RunReport) -> None:
        """Add what only the destination knows to the finished report (default: nothing)."""

    @abstractmethod
    def sent_summary(self) -> str:
        """What the run sent to the destination, for the report's log line."""

    def close_destination(self) -> None:
        """Release the destination's connections at the end of the run."""

    # --- config ------------------------------------------------------------------------------

    def mapping_setting(self, name: str) -> Any:
        """The setting ``name``, a mapping given as JSON text read as the mapping.

        ``meltano config set`` and environment variables give a per-flow policy or the match
        keys as text; meltano.yml's YAML and a config file give the mapping itself.
        """
        value = self.config.get(name)
        if isinstance(value, str) and value.lstrip().startswith("{"):
            try:
                return json.loads(value)
            except json.JSONDecodeError as error:
                raise ConfigValidationError(
                    "Config validation failed", errors=[f"{name}: not valid JSON ({error})"]
                ) from None
        return value

    def _check_config(self) -> None:
        """Errors jsonschema cannot express, each naming the setting (never its secret)."""
        errors = list(self.check_destination_config())
        errors += _unsupported_sdk_settings(self.config)
        values = {}
        for name in MAPPING_SETTINGS:
            try:
                values[name] = self.mapping_setting(name)
            except ConfigValidationError as error:
                errors += error.errors or []
        if isinstance(values.get("match_keys"), str):
            errors.append("match_keys: expected a mapping per flow, or that mapping as JSON")
        else:
            errors += check_match_keys(values.get("match_keys"))
        for setting, default in (
            ("conflict_policy", ConflictPolicy.NEWER_WINS),
            ("adopt_policy", ConflictPolicy.NEWER_WINS),
            ("delete_policy", DeletePolicy.UNLINK),
        ):
            value = values.get(setting)
            unknown = set(value if isinstance(value, dict) else {}) - _POLICY_KEYS
            if unknown:
                errors.append(f"{setting}: unknown flow(s) {sorted(unknown)}")
            try:
                for flow in FLOWS:
                    policy_for(value, flow, default)
            except ValueError as error:
                errors.append(f"{setting}: {error}")
        if errors:
            raise ConfigValidationError("Config validation failed", errors=errors)

    # --- sinks -------------------------------------------------------------------------------

    @override
    def get_sink_class(self, stream_name: str) -> type[Sink]:
        if stream_name in FLOW_NAMES:
            return super().get_sink_class(stream_name)
        if stream_name == UNREADABLE_STREAM:
            return UnreadableSink
        return SkippedStreamSink

    # --- the run -----------------------------------------------------------------------------

    @cached_property
    def engine(self) -> ApplyEngine:
        """The run's talk-sync engine, opened on first use; replays records kept last run.

        Takes the run's lease first: a run that may not write (another sync holds the lock)
        exits here with one line, before it has written anything.
        """
        try:
            store = LinkStore(self.config["link_store_url"])
        except (LinkStoreConfigError, SchemaError) as error:
            self.logger.error("%s: %s", self.name, error)  # one line, no traceback
            raise SystemExit(1) from None
        self.run_lease = RunLease(store, kind=self.name)
        if not self.config["dry_run"]:
            try:
                self.run_lease.start()
            except SyncLockedError as error:
                self.logger.error("%s: %s", self.name, error)
                store.close()
                raise SystemExit(1) from None
        self.destination = self.make_destination(store)
        hours = self.config.get("stuck_after_hours")
        engine = ApplyEngine(
            store,
            self.destination,
            conflict_policy=self.mapping_setting("conflict_policy"),
            delete_policy=self.mapping_setting("delete_policy"),
            dry_run=self.config["dry_run"],
            claim=self.run_lease.claim,
            stuck_after=None if hours is None else timedelta(hours=float(hours)),
            retry_backoff=Backoff(
                first=timedelta(minutes=float(self.config["reject_retry_minutes"])),
                cap=timedelta(hours=float(self.config["reject_retry_max_hours"])),
            ),
            adopt_existing=self.config.get("adopt_existing", True),
            adopt_policy=self.mapping_setting("adopt_policy"),
            match_keys=self.mapping_setting("match_keys"),
        )
        kept = engine.start()
        if kept:
            self.logger.info("%d records kept by earlier runs will be retried", kept)
        if engine.deferred:
            self.logger.info(
                "%d refused records are not sent again before their back-off ends, unless "
                "their values change (listed in the run report)",
                len(engine.deferred),
            )
        return engine

    # The SDK marks listen() @final, but has no hook that runs before the first line is read.
    @override  # type: ignore[misc]
    def listen(self, file_input: IO[str] | None = None) -> None:
        # Open the engine (the run's lease) before the first record: the sync lock is then
        # renewed while the tap reads, and a run that may not write exits at once.
        try:
            _ = self.engine
            super().listen(file_input)
        except TokenRefusedError as error:
            # Every further call would fail the same way: one line, and no record is rejected
            # for it (a reject would be re-sent every run).
            self.logger.error("%s: %s", self.name, error)
            raise SystemExit(1) from None

    @override
    def process_endofpipe(self) -> None:
        # Drains every sink and emits STATE (see _write_state_message), then reports.
        super().process_endofpipe()
        engine = self.engine
        try:
            report = engine.finish()
            self.finish_report(report)
            report.log(self.logger)
            path = report.write_json(self._report_path())
            self.logger.info("Run report written to %s (%s)", path, self.sent_summary())
            failing = self._judge_stuck(report, path)
        finally:
            self.close_destination()
            self.run_lease.stop()
            engine.store.close()
        if failing:
            raise SystemExit(1)

    def _judge_stuck(self, report: RunReport, path: Path) -> bool:
        """Whether the run must exit non-zero for its stuck records (``fail_on_stuck``)."""
        stuck = len(report.stuck_records)
        if not stuck or report.dry_run:
            return False
        self.logger.error(
            "%d records are stuck: they cannot be applied as things stand (causes in %s; "
            "how to clear each: the README's 'Stuck records')",
            stuck,
            path,
        )
        if not self.config.get("fail_on_stuck", True):
            return False
        if self.run_lease.note_stuck(direction_name(self.source), stuck):
            self.logger.error("The sync job fails at its last step (talk-sync unlock)")
            return False
        return True

    def _report_path(self) -> Path:
        """``report_path`` as a file (``.json``) or a directory of timestamped reports."""
        setting = self.config.get("report_path") or os.environ.get(REPORT_DIR_ENV)
        target = Path(setting or DEFAULT_REPORT_DIR)
        if target.suffix == ".json":
            return target
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        return target / f"{direction_name(self.source)}-{stamp}.json"

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


class FlowSink(BatchSink):
    """Applies a batch of one flow's mapped records through the run's talk-sync engine.

    ``process_batch`` returns only after the writes and the link-store commit: the SDK
    writes STATE after draining, so STATE never runs ahead of durable writes. Subclasses
    say how a mapped record becomes an :class:`Incoming` (:meth:`incoming`).
    """

    #: The mapped record's field holding the source ref, e.g. ``asana-task:77``.
    source_ref_field: ClassVar[str]
    #: A stream-map expression for :attr:`source_ref_field`, shown when it is missing.
    source_ref_example: ClassVar[str]

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.target: SyncTarget = target  # type: ignore[assignment]
        self.flow = get_flow(stream_name)

    @override
    @property
    def max_size(self) -> int:
        return int(self.config["batch_size"])

    @override
    def process_batch(self, context: dict) -> None:
        items = [self.incoming(record) for record in context["records"]]
        engine = self.target.engine
        self.target.run_lease.check()  # a run presumed dead must not write any more
        engine.apply([item for item in items if item is not None])

    @abstractmethod
    def incoming(self, record: Mapping[str, Any]) -> Incoming | None:
        """The engine's input for one mapped record; ``None`` when another sink applies it."""

    def source_ref(self, record: Mapping[str, Any]) -> Ref:
        """The record's source ref; a map that does not set it is a configuration error."""
        source = record.get(self.source_ref_field)
        if not source:
            raise ValueError(
                f"stream {self.stream_name!r}: mapped record has no {self.source_ref_field!r}; "
                f'the stream map must set it to the source ref, e.g. "{self.source_ref_example}"'
            )
        return parse_ref(source)


class SkippedStreamSink(RecordSink):
    """A stream that is not a flow (e.g. ``users``): its records are read and dropped."""

    @override
    def setup(self) -> None:
        # An info line, not a warning: taps send such streams by design (no error wording).
        self.logger.info(
            "Stream %s is not one of the flows (%s): its records are skipped",
            self.stream_name,
            ", ".join(flow.name for flow in FLOWS),
        )

    @override
    def process_record(self, record: dict, context: dict) -> None:
        return


class UnreadableSink(RecordSink):
    """The tap's ``unreadable`` stream: each object it could not read goes in the report."""

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.target: SyncTarget = target  # type: ignore[assignment]

    @override
    def process_record(self, record: dict, context: dict) -> None:
        self.target.engine.report.unreadable_object(
            str(record.get("record") or "unknown"), str(record.get("reason") or "")
        )
