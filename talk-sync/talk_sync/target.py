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
import logging
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from datetime import timedelta
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
from singer_sdk.mapper import RemoveRecordTransform
from singer_sdk.sinks.core import BaseJSONSchemaValidator
from typing_extensions import override

from talk_sync.adoption import check_match_keys
from talk_sync.apply import ApplyEngine
from talk_sync.builtin_maps import board_settings, map_config, stream_mapper
from talk_sync.destination import Destination
from talk_sync.errors import TalkSyncError, TokenRefusedError
from talk_sync.flows import FLOWS, get_flow
from talk_sync.incoming import Incoming
from talk_sync.linkstore import DEFAULT_PATH, Backoff, LinkStore, LinkStoreConfigError
from talk_sync.merge import ConflictPolicy
from talk_sync.migrations import SchemaError
from talk_sync.policies import DeletePolicy, policy_for
from talk_sync.record_validation import record_validator
from talk_sync.refs import Ref, Side, parse_ref
from talk_sync.report import RunReport, one_line
from talk_sync.report_files import DEFAULT_REPORT_DIR, REPORT_DIR_ENV, report_dir, report_file_name
from talk_sync.run_lease import RunLease, SyncLockedError
from talk_sync.startup_errors import Endpoint, check_at_start

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
#: The one stream ``meltano config test`` sends a loader: a run given only it is that test,
#: which the start-up check has answered, not a mis-wired pipeline.
MELTANO_TEST_STREAM = "meltano_test_stream"
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
            "fail_on_rejects",
            th.BooleanType,
            default=False,
            title="Fail on Refused Records",
            description=(
                f"Exit non-zero when records {_system(destination)} refused are left "
                "unwritten: refused in this run, or refused earlier and not sent again yet "
                "(deferred). The run first writes everything else, emits its STATE (Meltano "
                "keeps it: nothing is read again) and writes its report, marked failed. "
                "Inside the sync job the job's last step (talk-sync unlock) fails instead, so "
                "that both directions still run. Off: refused records are WARNING lines and "
                "the run exits 0."
            ),
        ),
        th.Property(
            "stuck_after_hours",
            th.IntegerType(minimum=0),
            default=24,
            title="Stuck After (hours)",
            description="A record refused or waiting for longer than this is reported stuck.",
        ),
        th.Property(
            "reject_retry_minutes",
            th.IntegerType(minimum=0),
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
            th.IntegerType(minimum=0),
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
        *board_settings(),
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
    #: The package whose ``stream_maps.yml`` holds the target's built-in maps
    #: (:mod:`talk_sync.builtin_maps`), used when the config sets no ``stream_maps``;
    #: ``None``: none (records arrive mapped).
    builtin_maps_package: ClassVar[str | None] = None
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
        #: The flows' sinks, by flow number: a batch drains the earlier flows' first.
        self.flow_sinks: dict[int, FlowSink] = {}
        #: Whether this run's report is written (a failure after it must not write another).
        self._report_written = False
        if kwargs.get("validate_config", True) and self.config:
            self._check_config()

    # --- hooks -------------------------------------------------------------------------------

    @abstractmethod
    def make_destination(self, store: LinkStore) -> Destination:
        """The destination the run writes through (its API client opened from the config)."""

    def endpoint(self) -> Endpoint | None:
        """Where the start-up check sends its one authenticated GET; ``None``: no API."""
        return None

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

    # --- mapping -----------------------------------------------------------------------------

    @override
    def setup_mapper(self) -> None:
        # The SDK's mapper, on the built-in maps (compiled) unless the config brings its own.
        self.mapper = stream_mapper(self.config, self.builtin_maps_package, self.logger)

    @property
    def map_config(self) -> dict[str, Any]:
        """The ``stream_map_config`` the maps read (the board settings filled in)."""
        return map_config(self.config)

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
        # A failed run still writes its report: the checks that stop a run log one line and
        # exit 1, so the last ERROR line logged is the reason, whichever check logged it.
        errors = _LastError()
        self.logger.addHandler(errors)
        try:
            try:
                # A wrong URL or token is one line before anything is read, dry runs included.
                if (endpoint := self.endpoint()) is not None:
                    check_at_start(endpoint, self.name, self.logger)
                _ = self.engine
                super().listen(file_input)
            except TokenRefusedError as error:
                # Every further call would fail the same way: one line, and no record is
                # rejected for it (a reject would be re-sent every run).
                self.logger.error("%s: %s", self.name, error)
                raise SystemExit(1) from None
        except SystemExit as stop:
            if stop.code not in (0, None):
                self._report_failure(errors.last or f"exit status {stop.code}")
            raise
        except BaseException as error:  # any exception, and Ctrl-C
            self._report_failure(_describe(error))
            raise
        finally:
            self.logger.removeHandler(errors)

    @override
    def process_endofpipe(self) -> None:
        engine = self.engine
        try:
            self._require_a_flow_stream()
            # Drains every sink and emits STATE (see _write_state_message), then reports.
            super().process_endofpipe()
            report = engine.finish()
            self.finish_report(report)
            path = self._report_path()
            # Judged before the report is written, so that it says why the run fails.
            failures = [self._judge_stuck(report, path), self._judge_rejects(report, path)]
            if any(failures):
                report.fail("; ".join(reason for reason in failures if reason))
            self._write_report(report, path)
        finally:
            self.close_destination()
            self.run_lease.stop()
            engine.store.close()
        if report.failure:
            raise SystemExit(1)

    def _require_a_flow_stream(self) -> None:
        """Exit 1 with one line when no stream received maps to a flow: a mis-wired pipeline.

        A stream whose SCHEMA arrived maps to a flow even with no record (an idle run).
        Meltano's ``config test`` stream alone is no pipeline either: it passes.
        """
        maps = self.mapper.stream_maps
        if any(
            stream_map.stream_alias in FLOW_NAMES
            and not isinstance(stream_map, RemoveRecordTransform)
            for stream_maps in maps.values()
            for stream_map in stream_maps
        ) or set(maps) == {MELTANO_TEST_STREAM}:
            return
        self.logger.error(
            "%s: no stream it received maps to a flow: got %s; expects %s (or the mapped "
            "flow streams %s)",
            self.name,
            ", ".join(sorted(maps)) or "no stream",
            ", ".join(self.expected_streams()) or "none: check the stream_maps setting",
            ", ".join(sorted(FLOW_NAMES)),
        )
        raise SystemExit(1)

    def expected_streams(self) -> list[str]:
        """The source streams the maps turn into flows, e.g. ``tasks``."""
        sources: list[str] = []
        for name, stream_map in self.mapper.stream_maps_dict.items():
            if not isinstance(stream_map, dict):
                continue
            alias = stream_map.get("__alias__", name)
            source = stream_map.get("__source__", name)
            if alias in FLOW_NAMES and source not in sources and source not in FLOW_NAMES:
                sources.append(source)
        return sources

    def _write_report(self, report: RunReport, path: Path) -> None:
        """Log the report as a table and write it as JSON to ``path``.

        A run that failed before it recorded anything logs no table of zeros: its error was
        one line, and stays so.
        """
        if not (report.failure and report.empty):
            report.log(self.logger)
        written = report.write_json(path)
        self._report_written = True
        summary = f" ({self.sent_summary()})" if "engine" in self.__dict__ else ""
        status = " (run failed)" if report.failure else ""
        self.logger.info("Run report written to %s%s%s", written, status, summary)

    def _report_failure(self, reason: str) -> None:
        """Write the report of a run that fails, with what it had recorded until then.

        Never raises: the run's own error is what the caller re-raises.
        """
        if self._report_written:
            return
        try:
            engine: ApplyEngine | None = self.__dict__.get("engine")
            if engine is None:  # it failed to start: a report with nothing done
                report = RunReport(self.source, dry_run=bool(self.config.get("dry_run")))
            else:
                report = engine.report
                self.finish_report(report)
            report.fail(reason)
            self._write_report(report, self._report_path())
        except Exception as error:
            self.logger.warning("The failed run's report could not be written: %s", error)

    def _judge_stuck(self, report: RunReport, path: Path) -> str | None:
        """Why the run must exit non-zero for its stuck records (``fail_on_stuck``), if so."""
        stuck = len(report.stuck_records)
        if not stuck or report.dry_run:
            return None
        self.logger.error(
            "%d records are stuck: they cannot be applied as things stand (causes in %s; "
            "how to clear each: the README's 'Stuck records')",
            stuck,
            path,
        )
        if not self.config.get("fail_on_stuck", True):
            return None
        if self.run_lease.note(direction_name(self.source), stuck=stuck):
            self.logger.error("The sync job fails at its last step (talk-sync unlock)")
            return None
        return f"{stuck} records are stuck (fail_on_stuck)"

    def _judge_rejects(self, report: RunReport, path: Path) -> str | None:
        """Why the run must exit non-zero for its refused records (``fail_on_rejects``)."""
        refused = report.left_refused
        if not refused or report.dry_run or not self.config.get("fail_on_rejects", False):
            return None
        self.logger.error(
            "%d records %s refused are not written (listed in %s; fail_on_rejects is on)",
            refused,
            _system(self.source.other),
            path,
        )
        if self.run_lease.note(direction_name(self.source), rejects=refused):
            self.logger.error("The sync job fails at its last step (talk-sync unlock)")
            return None
        return f"{refused} records refused by {_system(self.source.other)} (fail_on_rejects)"

    def _report_path(self) -> Path:
        """``report_path`` as a file (``.json``) or a directory of timestamped reports."""
        target = report_dir(self.config.get("report_path"))
        if target.suffix == ".json":
            return target
        return target / report_file_name(direction_name(self.source))

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


class _LastError(logging.Handler):
    """Keeps the last ERROR line a target logs: the reason of a run that exits 1."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last: str | None = None

    @override
    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()


def _describe(error: BaseException) -> str:
    """An exception as one line: its class (unless it is one of ours) and first line."""
    text = one_line(str(error)) if str(error).strip() else ""
    if isinstance(error, TalkSyncError) and text:
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


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
        self.target.flow_sinks[self.flow.number] = self  # a new SCHEMA's sink replaces it

    @override
    @property
    def max_size(self) -> int:
        return int(self.config["batch_size"])

    @override
    def get_validator(self) -> BaseJSONSchemaValidator | None:
        # Compiled once per stream (the SDK's walks the schema per record); an invalid
        # record's error names it by its source ref.
        return record_validator(self, [self.source_ref_field])

    @override
    def process_batch(self, context: dict) -> None:
        # Parents first: the earlier flows' records still in their batches (a customer or a
        # project, whose batch is not full yet) are applied before this batch needs them,
        # so its records do not wait in memory for the end of the run.
        for number, sink in sorted(self.target.flow_sinks.items()):
            if number < self.flow.number and sink.current_size:
                self.target.drain_one(sink)
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
    def get_validator(self) -> BaseJSONSchemaValidator | None:
        return record_validator(self, self.key_properties)

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
    def get_validator(self) -> BaseJSONSchemaValidator | None:
        return record_validator(self, self.key_properties)

    @override
    def process_record(self, record: dict, context: dict) -> None:
        self.target.engine.report.unreadable_object(
            str(record.get("record") or "unknown"), str(record.get("reason") or "")
        )
